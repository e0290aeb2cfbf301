package main

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/internal/servecmd"
)

// leanServe is the service built without FFmpeg (cmd/roomcast-serve).
const leanServe = "roomcast-serve"

// newServeCmd is the job service. When roomcast-serve lies beside this
// executable (make build puts it there), serve becomes it (exec, same
// process): the long-running service then holds none of FFmpeg's libraries,
// about 70 MiB, and only each job's process, this binary, loads them.
// Without it, the service runs here.
func newServeCmd() *cobra.Command {
	exe, _ := os.Executable()
	cmd := servecmd.New(exe)
	inProcess := cmd.RunE
	cmd.RunE = func(c *cobra.Command, args []string) error {
		lean := filepath.Join(filepath.Dir(exe), leanServe)
		if fi, err := os.Stat(lean); exe != "" && err == nil && fi.Mode()&0o111 != 0 {
			// The flags after "serve", as given.
			rest := os.Args[1:]
			if i := slices.Index(rest, "serve"); i >= 0 {
				rest = rest[i+1:]
			}
			argv := append([]string{lean, "--job-binary", exe}, rest...)
			return syscall.Exec(lean, argv, os.Environ())
		}
		return inProcess(c, args)
	}
	return cmd
}
