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
	"sync"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/fleet"
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
	generated := cfg.ID == ""
	if generated {
		cfg.ID = newID()
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return jobstate.State{}, false, err
	}
	if _, err := s.checkRoom(cfg); err != nil {
		return jobstate.State{}, false, err
	}
	if key != "" {
		existing, err := s.opts.Store.Idempotent(ctx, key, cfg.ID)
		if err != nil {
			return jobstate.State{}, false, fmt.Errorf("service: idempotency key: %w", err)
		}
		if existing != cfg.ID {
			st, err := s.Job(ctx, existing)
			var p *api.Problem
			if !generated || !errors.As(err, &p) || p.Code != api.CodeNotFound {
				return st, true, err
			}
			// The key's first start was refused (no capacity, a busy
			// room) before its job existed: this is its retry.
			cfg.ID = existing
		}
	}
	if s.opts.Fleet != nil {
		st, err := s.place(ctx, cfg)
		return st, false, err
	}
	st, err := s.startHere(ctx, cfg)
	return st, false, err
}

// startHere starts a validated job on this node: admission, the lease (in
// a fleet), the room claim, the record, then its process.
func (s *Service) startHere(ctx context.Context, cfg config.Job) (jobstate.State, error) {
	runURL, cost, release, err := s.reserve(cfg)
	if err != nil {
		return jobstate.State{}, err
	}
	now := s.opts.Now().UTC()
	j := &job{id: cfg.ID, cfg: cfg, cost: cost, events: make(chan jobEvent, 64), done: make(chan struct{}), startedAt: now, part: 1}
	node := ""
	if f := s.opts.Fleet; f != nil {
		// The lease comes first: a claimed room without a lease is what
		// the other nodes take for an orphan.
		if err := f.Acquire(ctx, cfg.ID, func() { s.leaseLost(j) }); err != nil {
			release()
			if errors.Is(err, fleet.ErrHeld) {
				return jobstate.State{}, &api.Problem{Code: api.CodeAlreadyExists, Message: "a job with id " + cfg.ID + " exists"}
			}
			return jobstate.State{}, fmt.Errorf("service: taking the job's lease: %w", err)
		}
		node = f.Name()
		j.parts = []jobstate.Part{{Part: 1, Node: node, Cause: jobstate.PartStart, StartedAt: now, Files: partFiles(cfg, 1)}}
		release = s.leased(release, cfg.ID)
	}

	if err := s.opts.Store.ClaimRoom(ctx, cfg.MeetingURL, cfg.ID); err != nil {
		release()
		var busy *store.RoomBusyError
		if errors.As(err, &busy) {
			return jobstate.State{}, &api.Problem{Code: api.CodeConflictRunning,
				Message: fmt.Sprintf("job %s already runs for this room: stop it first; to have streaming and recording both, start them together in one job", busy.JobID)}
		}
		return jobstate.State{}, fmt.Errorf("service: claiming the room: %w", err)
	}
	st := j.decorate(jobstate.State{ID: cfg.ID, State: jobstate.Starting, Room: jobstate.RedactRoom(cfg.MeetingURL), StartedAt: &now})
	cfgJSON, _ := json.Marshal(cfg)
	stJSON, _ := json.Marshal(st)
	if _, err := s.opts.Store.CreateJob(ctx, store.Job{ID: cfg.ID, Config: cfgJSON, State: stJSON, Node: node, CreatedAt: now}); err != nil {
		_ = s.opts.Store.ReleaseRoom(context.WithoutCancel(ctx), cfg.MeetingURL, cfg.ID)
		release()
		if errors.Is(err, store.ErrExists) {
			return jobstate.State{}, &api.Problem{Code: api.CodeAlreadyExists, Message: "a job with id " + cfg.ID + " exists"}
		}
		return jobstate.State{}, fmt.Errorf("service: storing the job: %w", err)
	}
	return s.launch(ctx, j, runURL, st, release)
}

// reserve checks the job's room against this node's policy and reserves
// its cost here: it returns the meetingUrl to run, the cost, and release,
// which gives the cost back.
func (s *Service) reserve(cfg config.Job) (runURL string, cost Cost, release func(), err error) {
	if runURL, err = s.checkRoom(cfg); err != nil {
		return "", 0, nil, err
	}
	cost = CostOf(cfg)
	if release, err = s.admit(cost); err != nil {
		return "", 0, nil, err
	}
	return runURL, cost, release, nil
}

// leased makes release give the job's lease up too.
func (s *Service) leased(release func(), id string) func() {
	return func() {
		release()
		if err := s.opts.Fleet.Release(context.Background(), id); err != nil {
			s.log.Warn("releasing a lease", "job", id, "err", err)
		}
	}
}

// admit reserves cost on this node, or says why not; release gives it back.
func (s *Service) admit(cost Cost) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, &api.Problem{Code: api.CodeShuttingDown, Message: "the service is shutting down; try another node", RetryAfter: 5 * time.Second}
	case s.draining:
		return nil, &api.Problem{Code: api.CodeShuttingDown, Message: "this node is draining: it takes no new jobs", RetryAfter: 5 * time.Second}
	case s.used+cost > s.opts.Capacity:
		s.counters.refused.Add(1)
		return nil, &api.Problem{Code: api.CodeNoCapacity, RetryAfter: 30 * time.Second,
			Message: fmt.Sprintf("no capacity: the job needs %.2f cores and %.2f of %.2f are in use", cost, s.used, s.opts.Capacity)}
	}
	s.used += cost
	s.poke()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.used -= cost
			s.mu.Unlock()
			s.poke()
		})
	}, nil
}

// poke tells the fleet this node's load changed.
func (s *Service) poke() {
	if s.opts.Fleet != nil {
		s.opts.Fleet.Poke()
	}
}

// launch runs the job's process, once its record says what it runs. st is
// the state the record has; release frees what admission (and the lease)
// held, when the job ends.
func (s *Service) launch(ctx context.Context, j *job, runURL string, st jobstate.State, release func()) (jobstate.State, error) {
	cfg := j.cfg
	s.wg.Add(1)
	go s.publisher(j)
	out := filepath.Join(s.opts.Data, "jobs", cfg.ID)
	runCfg := cfg
	runCfg.MeetingURL = runURL
	run, err := s.opts.Runner.Start(context.WithoutCancel(ctx), runCfg, out, j.part, func(name string, st jobstate.State) {
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
		j.endPart(s.opts.Now())
		j.events <- jobEvent{"jobStateUpdated", final}
		close(j.events)
		<-j.done
		_ = s.opts.Store.ReleaseRoom(context.WithoutCancel(ctx), cfg.MeetingURL, cfg.ID)
		release()
		return jobstate.State{}, err
	}
	j.run = run
	if sock := run.HTTPSocket(); sock != "" {
		j.hls = hlsProxy(sock)
	}
	s.mu.Lock()
	s.runs[cfg.ID] = j
	s.mu.Unlock()
	s.poke()
	s.wg.Add(1)
	go s.watch(j, release)
	return j.decorate(run.State()), nil
}

// watch waits for a job's end and frees what it held. A run whose job
// moved to another node (lost, or handed over) ends its part only: the job
// goes on there, keeping its room.
func (s *Service) watch(j *job, release func()) {
	defer s.wg.Done()
	<-j.run.Done()
	final, cpu := j.run.Final()
	s.counters.endedCPU.Add(int64(cpu))
	j.endPart(s.opts.Now())
	moved := j.lost.Load() || j.handover.Load()
	if !moved {
		j.events <- jobEvent{"jobStateUpdated", final}
	}
	close(j.events)
	<-j.done
	if j.handover.Load() && !j.lost.Load() {
		s.handOver(j)
	}
	if !moved {
		if err := s.opts.Store.ReleaseRoom(context.Background(), j.cfg.MeetingURL, j.id); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("freeing the room", "job", j.id, "err", err)
		}
	}
	s.mu.Lock()
	delete(s.runs, j.id)
	s.mu.Unlock()
	release() // and pokes the fleet
	s.log.Info("job ended here", "job", j.id, "part", j.part, "state", final.State, "reason", final.Reason,
		"cpuSeconds", cpu.Seconds(), "lost", j.lost.Load(), "handedOver", j.handover.Load())
}
