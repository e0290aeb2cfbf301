package main

import (
	"context"
	"fmt"
	"net"
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
	var level, format, roomsDir string
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
			stopHTTP := func() {}
			err = runner.Serve(context.Background(), os.Stdin, os.Stdout, func(spec runner.Spec) (runner.Job, error) {
				// Its lines go to serve's own log as they are: the job
				// id on each tells the jobs apart.
				log := base.With("job", spec.Config.ID)
				opts := worker.Options{
					Out:     spec.Out,
					Part:    spec.Part,
					Open:    roomOpener(roomOptions{root: roomsDir}),
					Sinks:   sinkFactory(config.Worker{}, log),
					Logger:  base, // the job adds its id itself
					OnEvent: spec.OnEvent,
				}
				if spec.HTTPSocket != "" {
					ln, err := listenPrivate(spec.HTTPSocket)
					if err != nil {
						return nil, &worker.Error{Code: worker.CodeHLS, Message: "hls: " + err.Error()}
					}
					opts.HTTPMux, stopHTTP = serveOn(ln, log)
					opts.HTTPBase = spec.HTTPBase
				}
				return worker.New(spec.Config, opts)
			})
			stopHTTP()
			return err
		},
	}
	cmd.Flags().StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&format, "log-format", "json", "json or text")
	cmd.Flags().StringVar(&roomsDir, "rooms-dir", "", "file rooms' media must lie in this folder (serve's --rooms-dir)")
	return cmd
}

// listenPrivate listens on a Unix socket only this user may connect to.
func listenPrivate(path string) (net.Listener, error) {
	_ = os.Remove(path) // left by a process that died
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("making %s private: %w", path, err)
	}
	return ln, nil
}
