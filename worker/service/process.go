package service

import (
	"context"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
	"github.com/roomcast/roomcast/worker/runner"
)

// ProcessRunner runs each job in a child process (worker/runner).
type ProcessRunner struct {
	// Options for every child; OnEvent is set per job.
	Options runner.Options
}

// Start implements Runner.
func (r ProcessRunner) Start(ctx context.Context, cfg config.Job, out string, part int, onEvent func(string, jobstate.State)) (Run, error) {
	opts := r.Options
	opts.OnEvent, opts.Part = onEvent, part
	p, err := runner.Start(ctx, cfg, out, opts)
	if err != nil {
		return nil, err
	}
	return processRun{p}, nil
}

type processRun struct{ *runner.Process }

func (p processRun) Final() (jobstate.State, time.Duration) {
	r := p.Result()
	return r.State, r.CPU
}
