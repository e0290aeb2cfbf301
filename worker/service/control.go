package service

// Controlling a running job.

import (
	"context"
	"errors"

	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
)

// StopJob implements api.Service.
func (s *Service) StopJob(ctx context.Context, id string, wait bool) (worker.State, error) {
	j := s.local(id)
	if j == nil {
		st, err := s.Job(ctx, id)
		if err != nil {
			return st, err
		}
		if !terminal(st.State) {
			return st, &api.Problem{Code: api.CodeNotRunning, Message: "job " + id + " is not run by this node"}
		}
		return st, nil
	}
	if !wait {
		go func() {
			if err := j.run.Stop(context.Background()); err != nil {
				s.log.Debug("stop", "job", id, "err", err)
			}
		}()
		st := j.run.State()
		if !terminal(st.State) {
			st.State = worker.Stopping
		}
		return normalized(st), nil
	}
	if err := j.run.Stop(ctx); err != nil {
		var we *worker.Error
		if !errors.As(err, &we) || we.Code != worker.CodeNotFound {
			return worker.State{}, err
		}
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return worker.State{}, ctx.Err()
	}
	return s.Job(ctx, id)
}

// PatchJob implements api.Service.
func (s *Service) PatchJob(ctx context.Context, id string, p api.Patch) (worker.State, error) {
	j := s.local(id)
	if j == nil {
		if _, err := s.Job(ctx, id); err != nil {
			return worker.State{}, err
		}
		return worker.State{}, &api.Problem{Code: api.CodeNotRunning, Message: "job " + id + " is not running"}
	}
	if p.Layout != nil {
		if err := j.run.SetLayout(ctx, string(*p.Layout)); err != nil {
			return worker.State{}, err
		}
	}
	for _, u := range p.RemoveRTMPURLs {
		if err := j.run.RemoveRTMP(ctx, u); err != nil {
			return worker.State{}, err
		}
	}
	for _, u := range p.AddRTMPURLs {
		if err := j.run.AddRTMP(ctx, u); err != nil {
			return worker.State{}, err
		}
	}
	return s.Job(ctx, id)
}
