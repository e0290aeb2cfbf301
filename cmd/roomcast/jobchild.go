package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/runner"
)

// newJobChildCmd is the child process of `serve`: one job, controlled over
// stdin and stdout (worker/runner). It is hidden: nobody runs it by hand.
func newJobChildCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "job-child",
		Short:  "Run one job for serve (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The service stops its jobs itself; a signal meant for the
			// service's terminal must not cut a recording short. Nor may a
			// dead service: writing the next event to its closed pipe
			// would otherwise kill this process (SIGPIPE on stdout) in
			// the middle of finalizing the outputs.
			signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			return runner.Serve(context.Background(), os.Stdin, os.Stdout, func(cfg config.Job, out string, onEvent func(string, worker.State)) (runner.Job, error) {
				return worker.New(cfg, worker.Options{
					Out:     out,
					Open:    roomOpener(""),
					Sinks:   sinkFactory(config.Worker{}, log),
					Logger:  log,
					OnEvent: onEvent,
				})
			})
		},
	}
}
