package service

// Controlling a running job.

import (
	"context"
	"errors"

	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// StopJob implements api.Service.
func (s *Service) StopJob(ctx context.Context, id string, wait bool) (jobstate.State, error) {
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
			st.State = jobstate.Stopping
		}
		return normalized(st), nil
	}
	if err := j.run.Stop(ctx); err != nil {
		var we *jobstate.Error
		if !errors.As(err, &we) || we.Code != jobstate.CodeNotFound {
			return jobstate.State{}, err
		}
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		return jobstate.State{}, ctx.Err()
	}
	return s.Job(ctx, id)
}

// PatchJob implements api.Service.
func (s *Service) PatchJob(ctx context.Context, id string, p api.Patch) (jobstate.State, error) {
	j := s.local(id)
	if j == nil {
		if _, err := s.Job(ctx, id); err != nil {
			return jobstate.State{}, err
		}
		return jobstate.State{}, &api.Problem{Code: api.CodeNotRunning, Message: "job " + id + " is not running"}
	}
	if p.Layout != nil {
		if err := j.run.SetLayout(ctx, string(*p.Layout)); err != nil {
			return jobstate.State{}, err
		}
	}
	for _, u := range p.RemoveRTMPURLs {
		if err := j.run.RemoveRTMP(ctx, u); err != nil {
			return jobstate.State{}, err
		}
	}
	for _, u := range p.AddRTMPURLs {
		if err := j.run.AddRTMP(ctx, u); err != nil {
			return jobstate.State{}, err
		}
	}
	return s.Job(ctx, id)
}
