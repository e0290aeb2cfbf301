package service

// Reading jobs and rooms.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/jobstate"
	"github.com/roomcast/roomcast/worker/store"
)

func (s *Service) local(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

func notFound(id string) error {
	return &api.Problem{Code: api.CodeNotFound, Message: "no job " + id}
}

// Job implements api.Service. A job another node runs is asked of that
// node, for its live figures; if it does not answer, the record says what
// is known.
func (s *Service) Job(ctx context.Context, id string) (jobstate.State, error) {
	if node, ok := s.remoteOwner(ctx, id); ok {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := s.callState(cctx, node, opJob, call{ID: id})
		cancel()
		if err == nil {
			return st, nil
		}
		s.log.Debug("the job's node did not answer; reading its record", "job", id, "node", node, "err", err)
	}
	return s.jobHere(ctx, id)
}

// jobHere is a job's state as this node knows it: live if it runs here,
// else its record.
func (s *Service) jobHere(ctx context.Context, id string) (jobstate.State, error) {
	if j := s.local(id); j != nil {
		if st, err := j.run.Poll(ctx); err == nil {
			return j.decorate(st), nil
		}
	}
	rec, _, err := s.opts.Store.Job(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidID) {
		return jobstate.State{}, notFound(id)
	}
	if err != nil {
		return jobstate.State{}, err
	}
	var st jobstate.State
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return jobstate.State{}, fmt.Errorf("service: job %s: %w", id, err)
	}
	return normalized(st), nil
}

// Jobs implements api.Service. The cursor is the id of the last job of the
// previous page.
func (s *Service) Jobs(ctx context.Context, f api.ListFilter) (api.JobPage, error) {
	recs, err := s.opts.Store.Jobs(ctx)
	if err != nil {
		return api.JobPage{}, err
	}
	page := api.JobPage{Jobs: []jobstate.State{}}
	started := f.Cursor == ""
	for _, rec := range recs {
		if !started {
			started = rec.ID == f.Cursor
			continue
		}
		var st jobstate.State
		var cfg config.Job
		if json.Unmarshal(rec.State, &st) != nil || json.Unmarshal(rec.Config, &cfg) != nil {
			continue
		}
		if (f.State != "" && st.State != f.State) || (f.MeetingURL != "" && cfg.MeetingURL != f.MeetingURL) {
			continue
		}
		if len(page.Jobs) == f.Limit {
			last := page.Jobs[len(page.Jobs)-1].ID
			page.NextCursor = &last
			break
		}
		page.Jobs = append(page.Jobs, normalized(st))
	}
	return page, nil
}

// Events implements api.Service.
func (s *Service) Events(ctx context.Context, id string, after uint64) (<-chan api.Event, error) {
	if _, err := s.Job(ctx, id); err != nil {
		return nil, err
	}
	in, err := s.opts.Store.Events(ctx, id, after)
	if err != nil {
		return nil, err
	}
	out := make(chan api.Event)
	go func() {
		defer close(out)
		for ev := range in {
			select {
			case out <- api.Event{Seq: ev.Seq, Type: ev.Type, Time: ev.Time, Data: ev.Data}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// JobFiles implements api.Service.
func (s *Service) JobFiles(ctx context.Context, id string) (*os.Root, error) {
	if _, err := s.Job(ctx, id); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(filepath.Join(s.opts.Data, "jobs", id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &api.Problem{Code: api.CodeNotFound, Message: "job " + id + " has written no files"}
	}
	return root, err
}

// RoomState implements api.Service.
func (s *Service) RoomState(ctx context.Context, meetingURL string) (api.RoomState, error) {
	page, err := s.Jobs(ctx, api.ListFilter{MeetingURL: meetingURL, Limit: 1 << 30})
	if err != nil {
		return api.RoomState{}, err
	}
	rs := api.RoomState{MeetingURL: jobstate.RedactRoom(meetingURL), Jobs: []string{}}
	for _, st := range page.Jobs {
		if terminal(st.State) {
			continue
		}
		rs.Jobs = append(rs.Jobs, st.ID)
		merge(&rs.RTMPStreaming, st.RTMPStreaming.Running, st.RTMPStreaming.Error)
		merge(&rs.Recording, st.Recording.Running, st.Recording.Error)
		merge(&rs.HLSStreaming, st.HLSStreaming.Running, st.HLSStreaming.Error)
		merge(&rs.HLSRecording, st.HLSRecording.Running, st.HLSRecording.Error)
	}
	return rs, nil
}

func merge(r *api.Running, running bool, e *jobstate.Error) {
	r.Running = r.Running || running
	if r.Error == nil {
		r.Error = e
	}
}

// StopRoom implements api.Service.
func (s *Service) StopRoom(ctx context.Context, meetingURL string) (api.JobPage, error) {
	page, err := s.Jobs(ctx, api.ListFilter{MeetingURL: meetingURL, Limit: 1 << 30})
	if err != nil {
		return api.JobPage{}, err
	}
	out := api.JobPage{Jobs: []jobstate.State{}}
	for _, st := range page.Jobs {
		if terminal(st.State) {
			continue
		}
		st, err := s.StopJob(ctx, st.ID, false)
		if err != nil {
			return out, err
		}
		out.Jobs = append(out.Jobs, st)
	}
	if len(out.Jobs) == 0 {
		return out, &api.Problem{Code: api.CodeNotFound, Message: "nothing runs for this room"}
	}
	return out, nil
}

// Ready implements api.Service.
func (s *Service) Ready(ctx context.Context) error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		return errors.New("shutting down")
	}
	if _, err := s.opts.Store.Jobs(ctx); err != nil {
		return fmt.Errorf("the store does not answer: %w", err)
	}
	return nil
}
