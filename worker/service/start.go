package service

// Starting a job: the room policy, admission, the room claim and the record.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/jobstate"
	"github.com/roomcast/roomcast/worker/store"
)

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "job_" + hex.EncodeToString(b[:])
}

// checkRoom applies the service's room policy: file: rooms only under
// RoomsDir, with symlinks resolved. It returns the meetingUrl the job's
// process is given: a file: room's path made absolute, since the process
// does not run in the rooms folder.
func (s *Service) checkRoom(cfg config.Job) (string, error) {
	kind, rest, err := config.ParseMeetingURL(cfg.MeetingURL)
	if err != nil {
		return "", &config.Error{Problems: []string{"meetingUrl: " + err.Error()}}
	}
	if kind != config.RoomFile {
		return cfg.MeetingURL, nil
	}
	refuse := func(why string) (string, error) {
		return "", &config.Error{Problems: []string{"meetingUrl: " + why}}
	}
	if s.opts.RoomsDir == "" {
		return refuse("file: rooms are not allowed through the API (serve --rooms-dir DIR allows those under DIR)")
	}
	dir, err := filepath.EvalSymlinks(s.opts.RoomsDir)
	if err != nil {
		return refuse("the rooms folder is unavailable")
	}
	p := rest
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return refuse(fmt.Sprintf("no room file %q under the rooms folder", rest))
	}
	if rel, err := filepath.Rel(dir, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return refuse(fmt.Sprintf("%q is outside the rooms folder", rest))
	}
	return "file:" + real, nil
}

// StartJob implements api.Service.
func (s *Service) StartJob(ctx context.Context, cfg config.Job, key string) (jobstate.State, bool, error) {
	if cfg.ID == "" {
		cfg.ID = newID()
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return jobstate.State{}, false, err
	}
	runURL, err := s.checkRoom(cfg)
	if err != nil {
		return jobstate.State{}, false, err
	}
	if key != "" {
		existing, err := s.opts.Store.Idempotent(ctx, key, cfg.ID)
		if err != nil {
			return jobstate.State{}, false, fmt.Errorf("service: idempotency key: %w", err)
		}
		if existing != cfg.ID {
			st, err := s.Job(ctx, existing)
			return st, true, err
		}
	}

	cost := CostOf(cfg)
	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		return jobstate.State{}, false, &api.Problem{Code: api.CodeShuttingDown, Message: "the service is shutting down; try another node", RetryAfter: 5 * time.Second}
	case s.used+cost > s.opts.Capacity:
		used := s.used
		s.mu.Unlock()
		s.counters.refused.Add(1)
		return jobstate.State{}, false, &api.Problem{Code: api.CodeNoCapacity, RetryAfter: 30 * time.Second,
			Message: fmt.Sprintf("no capacity: the job needs %.2f cores and %.2f of %.2f are in use", cost, used, s.opts.Capacity)}
	}
	s.used += cost
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		s.used -= cost
		s.mu.Unlock()
	}

	if err := s.opts.Store.ClaimRoom(ctx, cfg.MeetingURL, cfg.ID); err != nil {
		release()
		var busy *store.RoomBusyError
		if errors.As(err, &busy) {
			return jobstate.State{}, false, &api.Problem{Code: api.CodeConflictRunning,
				Message: fmt.Sprintf("job %s already runs for this room: stop it first; to have streaming and recording both, start them together in one job", busy.JobID)}
		}
		return jobstate.State{}, false, fmt.Errorf("service: claiming the room: %w", err)
	}
	now := s.opts.Now().UTC()
	st := normalized(jobstate.State{ID: cfg.ID, State: jobstate.Starting, Room: jobstate.RedactRoom(cfg.MeetingURL), StartedAt: &now})
	cfgJSON, _ := json.Marshal(cfg)
	stJSON, _ := json.Marshal(st)
	if _, err := s.opts.Store.CreateJob(ctx, store.Job{ID: cfg.ID, Config: cfgJSON, State: stJSON, CreatedAt: now}); err != nil {
		release()
		_ = s.opts.Store.ReleaseRoom(context.WithoutCancel(ctx), cfg.MeetingURL, cfg.ID)
		if errors.Is(err, store.ErrExists) {
			return jobstate.State{}, false, &api.Problem{Code: api.CodeAlreadyExists, Message: "a job with id " + cfg.ID + " exists"}
		}
		return jobstate.State{}, false, fmt.Errorf("service: storing the job: %w", err)
	}

	j := &job{id: cfg.ID, cfg: cfg, cost: cost, events: make(chan jobEvent, 64), done: make(chan struct{})}
	s.wg.Add(1)
	go s.publisher(j)
	out := filepath.Join(s.opts.Data, "jobs", cfg.ID)
	runCfg := cfg
	runCfg.MeetingURL = runURL
	run, err := s.opts.Runner.Start(context.WithoutCancel(ctx), runCfg, out, func(name string, st jobstate.State) {
		j.events <- jobEvent{name, st}
	})
	if err != nil {
		// The job refused to start, or its process died: its state says
		// why, and its room is free again.
		final := failed(st, "could not start: "+err.Error(), s.opts.Now())
		var we *jobstate.Error
		if errors.As(err, &we) {
			final.Error = &jobstate.Error{Code: we.Code, Message: we.Message}
		}
		j.events <- jobEvent{"jobStateUpdated", final}
		close(j.events)
		<-j.done
		release()
		_ = s.opts.Store.ReleaseRoom(context.WithoutCancel(ctx), cfg.MeetingURL, cfg.ID)
		return jobstate.State{}, false, err
	}
	j.run = run
	if sock := run.HTTPSocket(); sock != "" {
		j.hls = hlsProxy(sock)
	}
	s.mu.Lock()
	s.runs[cfg.ID] = j
	s.mu.Unlock()
	s.wg.Add(1)
	go s.watch(j, release)
	return normalized(run.State()), false, nil
}

// watch waits for a job's end and frees what it held.
func (s *Service) watch(j *job, release func()) {
	defer s.wg.Done()
	<-j.run.Done()
	final, cpu := j.run.Final()
	s.counters.endedCPU.Add(int64(cpu))
	j.events <- jobEvent{"jobStateUpdated", final}
	close(j.events)
	<-j.done
	if err := s.opts.Store.ReleaseRoom(context.Background(), j.cfg.MeetingURL, j.id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("freeing the room", "job", j.id, "err", err)
	}
	s.mu.Lock()
	delete(s.runs, j.id)
	s.mu.Unlock()
	release()
	s.log.Info("job ended", "job", j.id, "state", final.State, "reason", final.Reason, "cpuSeconds", cpu.Seconds())
}
