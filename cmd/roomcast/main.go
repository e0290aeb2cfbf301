// Command roomcast records and live-streams video rooms: it joins a room as a
// hidden peer, composites every peer into one layout, encodes once and fans
// the result out to an archival MP4, RTMP ingests and HLS.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/asticode/go-astiav"
	"github.com/spf13/cobra"
)

// exitError carries a process exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode is the status the process exits with.
func (e *exitError) ExitCode() int { return e.code }

// usage marks a bad setting: exit status 2.
func usage(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the job failed
	exitUsage  = 2 // bad flags or config
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "roomcast",
		Short:         "Record and live-stream video rooms, composited natively",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRecordCmd())
	for _, c := range extraCommands() {
		root.AddCommand(c)
	}
	return root
}

func main() {
	// FFmpeg logs through a process-wide callback; keep it to real errors so
	// that it does not fight the progress line.
	astiav.SetLogLevel(astiav.LogLevelError)
	err := newRootCmd().Execute()
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "roomcast:", err)
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode())
	}
	os.Exit(exitUsage)
}
