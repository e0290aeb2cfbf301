package service

// Controlling a running job.

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/fleet"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// StopJob implements api.Service.
func (s *Service) StopJob(ctx context.Context, id string, wait bool) (jobstate.State, error) {
	if node, ok := s.remoteOwner(ctx, id); ok {
		st, err := s.callState(ctx, node, opStop, call{ID: id, Wait: wait})
		return st, s.unreachable(err, node)
	}
	return s.stopHere(ctx, id, wait)
}

// stopHere stops a job this node runs.
func (s *Service) stopHere(ctx context.Context, id string, wait bool) (jobstate.State, error) {
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
		return j.decorate(st), nil
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
	if node, ok := s.remoteOwner(ctx, id); ok {
		st, err := s.callState(ctx, node, opPatch, call{ID: id, Patch: &p})
		return st, s.unreachable(err, node)
	}
	return s.patchHere(ctx, id, p)
}

// patchHere changes a job this node runs.
func (s *Service) patchHere(ctx context.Context, id string, p api.Patch) (jobstate.State, error) {
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
	return s.jobHere(ctx, id)
}

// remoteOwner is the node that runs job id, when that is another node of
// the fleet.
func (s *Service) remoteOwner(ctx context.Context, id string) (string, bool) {
	if s.opts.Fleet == nil || s.local(id) != nil {
		return "", false
	}
	rec, _, err := s.opts.Store.Job(ctx, id)
	if err != nil || rec.Node == "" || rec.Node == s.opts.Fleet.Name() {
		return "", false
	}
	var st jobstate.State
	if json.Unmarshal(rec.State, &st) != nil || terminal(st.State) {
		return "", false
	}
	return rec.Node, true
}

// unreachable turns "the owner does not answer" into what a client can act
// on: the job is being moved, try again shortly.
func (s *Service) unreachable(err error, node string) error {
	if errors.Is(err, fleet.ErrNodeDown) || errors.Is(err, context.DeadlineExceeded) {
		return &api.Problem{Code: api.CodeNodeUnavailable, RetryAfter: 5 * time.Second,
			Message: "the job's node " + node + " does not answer; if it is gone the job continues on another node within seconds: try again"}
	}
	return err
}
