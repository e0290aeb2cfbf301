// Command roomcast-serve is `roomcast serve` built without FFmpeg: the job
// service, whose jobs each run in a process of the roomcast binary beside
// it. `roomcast serve` execs it when it is there; see internal/servecmd.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/roomcast/roomcast/internal/cli"
	"github.com/roomcast/roomcast/internal/servecmd"
)

func main() {
	job := "roomcast"
	if exe, err := os.Executable(); err == nil {
		job = filepath.Join(filepath.Dir(exe), "roomcast")
	}
	cmd := servecmd.New(job)
	cmd.Use = "roomcast-serve"
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil {
		os.Exit(cli.ExitOK)
	}
	fmt.Fprintln(os.Stderr, "roomcast-serve:", err)
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	os.Exit(cli.ExitUsage)
}
