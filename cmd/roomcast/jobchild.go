package main

import (
	"context"
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
	var level, format string
	cmd := &cobra.Command{
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
			base, err := newLogger(cmd.ErrOrStderr(), level, format, false)
			if err != nil {
				return usage("%v", err)
			}
			return runner.Serve(context.Background(), os.Stdin, os.Stdout, func(cfg config.Job, out string, onEvent func(string, worker.State)) (runner.Job, error) {
				// Its lines go to serve's own log as they are: the job
				// id on each tells the jobs apart.
				log := base.With("job", cfg.ID)
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
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&format, "log-format", "json", "json or text")
	return cmd
}
