package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/store"
)

// Options configure a Service.
type Options struct {
	Store  Store
	Runner Runner
	// Data is the service's folder; each job writes under Data/jobs/<id>.
	Data string
	// RoomsDir is where file: rooms given through the API must lie;
	// empty refuses every file: room. demo: is always allowed.
	RoomsDir string
	// Capacity is the CPU, in cores, that admission hands out; 0 means
	// Capacity(0), from the machine's cores.
	Capacity Cost
	// Webhooks are the URLs every event is posted to, from the service's
	// own configuration only.
	Webhooks []string
	// Deliver sends one webhook attempt; nil disables webhooks.
	Deliver func(ctx context.Context, id, url string, body []byte) error
	Logger  *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Service runs jobs. Its methods are safe from any goroutine.
type Service struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	runs     map[string]*job // jobs this process runs
	used     Cost
	closing  bool
	consumer context.CancelFunc
	wg       sync.WaitGroup // job watchers and the webhook consumer
}

// job is a job this process runs.
type job struct {
	id   string
	cfg  config.Job
	cost Cost
	run  Run
	// events feeds the job's one publisher goroutine, which keeps the
	// record, the log and the outbox in the order the job said them.
	events chan jobEvent
	done   chan struct{} // the publisher has written the final state
}

type jobEvent struct {
	name  string
	state worker.State
}

// recoveredReason is the reason of a job found running when the service
// started: its process died with the service that ran it.
const recoveredReason = "worker restarted"

var _ api.Service = (*Service)(nil)

// New returns a running Service. Jobs the store says are still running
// were left by a service that died: they are marked failed, with the reason
// "worker restarted", and their rooms are freed.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Store == nil || opts.Runner == nil || opts.Data == "" {
		return nil, errors.New("service: Store, Runner and Data are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Capacity <= 0 {
		opts.Capacity = Capacity(0)
	}
	if err := os.MkdirAll(filepath.Join(opts.Data, "jobs"), 0o755); err != nil {
		return nil, fmt.Errorf("service: data folder: %w", err)
	}
	s := &Service{opts: opts, log: opts.Logger, runs: map[string]*job{}}
	if err := s.recover(ctx); err != nil {
		return nil, err
	}
	if opts.Deliver != nil && len(opts.Webhooks) > 0 {
		cctx, cancel := context.WithCancel(context.Background())
		s.consumer = cancel
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := opts.Store.ConsumeDeliveries(cctx, s.deliver); err != nil && cctx.Err() == nil {
				s.log.Error("webhook deliveries stopped", "err", err)
			}
		}()
	}
	return s, nil
}

func (s *Service) recover(ctx context.Context) error {
	recs, err := s.opts.Store.Jobs(ctx)
	if err != nil {
		return fmt.Errorf("service: reading jobs: %w", err)
	}
	for _, rec := range recs {
		var st worker.State
		if err := json.Unmarshal(rec.State, &st); err != nil {
			s.log.Warn("unreadable job record", "job", rec.ID, "err", err)
			continue
		}
		if terminal(st.State) {
			continue
		}
		var cfg config.Job
		_ = json.Unmarshal(rec.Config, &cfg)
		// The MP4 is fragmented as it is written, so what the dead
		// process wrote plays; its state says why it ends there.
		st = failed(st, recoveredReason, s.opts.Now())
		if _, err := s.save(ctx, rec.ID, st); err != nil {
			return err
		}
		s.publish(ctx, rec.ID, "jobStateUpdated", st)
		if err := s.opts.Store.ReleaseRoom(ctx, cfg.MeetingURL, rec.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("freeing the room of an interrupted job", "job", rec.ID, "err", err)
		}
		s.log.Warn("job interrupted by a restart", "job", rec.ID)
	}
	return nil
}

func terminal(p worker.Phase) bool { return p == worker.Stopped || p == worker.Failed }

func failed(st worker.State, reason string, now time.Time) worker.State {
	now = now.UTC()
	st.State = worker.Failed
	st.Reason = reason
	st.Error = &worker.Error{Code: worker.CodeInternal, Message: reason}
	if st.StoppedAt == nil {
		st.StoppedAt = &now
	}
	st.RTMPStreaming.Running = false
	for i := range st.RTMPStreaming.Outputs {
		st.RTMPStreaming.Outputs[i].Running = false
	}
	st.Recording.Running = false
	st.HLSStreaming.Running = false
	st.HLSRecording.Running = false
	return normalized(st)
}

// normalized gives the state the shape the API documents: lists are
// lists, never null.
func normalized(st worker.State) worker.State {
	if st.RTMPStreaming.Outputs == nil {
		st.RTMPStreaming.Outputs = []worker.RTMPOutput{}
	}
	return st
}

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
func (s *Service) StartJob(ctx context.Context, cfg config.Job, key string) (worker.State, bool, error) {
	if cfg.ID == "" {
		cfg.ID = newID()
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return worker.State{}, false, err
	}
	runURL, err := s.checkRoom(cfg)
	if err != nil {
		return worker.State{}, false, err
	}
	if key != "" {
		existing, err := s.opts.Store.Idempotent(ctx, key, cfg.ID)
		if err != nil {
			return worker.State{}, false, fmt.Errorf("service: idempotency key: %w", err)
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
		return worker.State{}, false, &api.Problem{Code: api.CodeShuttingDown, Message: "the service is shutting down; try another node", RetryAfter: 5 * time.Second}
	case s.used+cost > s.opts.Capacity:
		used := s.used
		s.mu.Unlock()
		return worker.State{}, false, &api.Problem{Code: api.CodeNoCapacity, RetryAfter: 30 * time.Second,
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
			return worker.State{}, false, &api.Problem{Code: api.CodeConflictRunning,
				Message: fmt.Sprintf("job %s already runs for this room: stop it first; to have streaming and recording both, start them together in one job", busy.JobID)}
		}
		return worker.State{}, false, fmt.Errorf("service: claiming the room: %w", err)
	}
	now := s.opts.Now().UTC()
	st := normalized(worker.State{ID: cfg.ID, State: worker.Starting, Room: worker.RedactRoom(cfg.MeetingURL), StartedAt: &now})
	cfgJSON, _ := json.Marshal(cfg)
	stJSON, _ := json.Marshal(st)
	if _, err := s.opts.Store.CreateJob(ctx, store.Job{ID: cfg.ID, Config: cfgJSON, State: stJSON, CreatedAt: now}); err != nil {
		release()
		_ = s.opts.Store.ReleaseRoom(context.WithoutCancel(ctx), cfg.MeetingURL, cfg.ID)
		if errors.Is(err, store.ErrExists) {
			return worker.State{}, false, &api.Problem{Code: api.CodeAlreadyExists, Message: "a job with id " + cfg.ID + " exists"}
		}
		return worker.State{}, false, fmt.Errorf("service: storing the job: %w", err)
	}

	j := &job{id: cfg.ID, cfg: cfg, cost: cost, events: make(chan jobEvent, 64), done: make(chan struct{})}
	s.wg.Add(1)
	go s.publisher(j)
	out := filepath.Join(s.opts.Data, "jobs", cfg.ID)
	runCfg := cfg
	runCfg.MeetingURL = runURL
	run, err := s.opts.Runner.Start(context.WithoutCancel(ctx), runCfg, out, func(name string, st worker.State) {
		j.events <- jobEvent{name, st}
	})
	if err != nil {
		// The job refused to start, or its process died: its state says
		// why, and its room is free again.
		final := failed(st, "could not start: "+err.Error(), s.opts.Now())
		var we *worker.Error
		if errors.As(err, &we) {
			final.Error = &worker.Error{Code: we.Code, Message: we.Message}
		}
		j.events <- jobEvent{"jobStateUpdated", final}
		close(j.events)
		<-j.done
		release()
		_ = s.opts.Store.ReleaseRoom(context.WithoutCancel(ctx), cfg.MeetingURL, cfg.ID)
		return worker.State{}, false, err
	}
	j.run = run
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

// publisher writes a job's state changes to its record, its event log and
// the webhook outbox, in order. A repeated final state is written once.
func (s *Service) publisher(j *job) {
	defer s.wg.Done()
	defer close(j.done)
	ctx := context.Background()
	var last []byte
	for ev := range j.events {
		st := normalized(ev.state)
		b, _ := json.Marshal(st)
		if ev.name == "jobStateUpdated" && string(b) == string(last) {
			continue
		}
		last = b
		if _, err := s.save(ctx, j.id, st); err != nil {
			s.log.Error("storing a job's state", "job", j.id, "err", err)
		}
		s.publish(ctx, j.id, ev.name, st)
	}
}

// save writes st into the job's record, retrying a lost compare-and-set.
func (s *Service) save(ctx context.Context, id string, st worker.State) (uint64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	for range 5 {
		rec, rev, err := s.opts.Store.Job(ctx, id)
		if err != nil {
			return 0, err
		}
		rec.State = b
		rev, err = s.opts.Store.UpdateJob(ctx, rec, rev)
		if !errors.Is(err, store.ErrConflict) {
			return rev, err
		}
	}
	return 0, fmt.Errorf("service: job %s: the record kept changing", id)
}

// eventBody is what events and webhooks carry.
type eventBody struct {
	Type      string       `json:"type"`
	Timestamp time.Time    `json:"timestamp"`
	Data      worker.State `json:"data"`
}

// publish appends an event to the job's log and queues its webhooks.
func (s *Service) publish(ctx context.Context, id, name string, st worker.State) {
	data, _ := json.Marshal(st)
	seq, err := s.opts.Store.AppendEvent(ctx, id, name, data)
	if err != nil {
		s.log.Error("appending an event", "job", id, "event", name, "err", err)
		return
	}
	if s.opts.Deliver == nil {
		return
	}
	body, _ := json.Marshal(eventBody{Type: name, Timestamp: s.opts.Now().UTC(), Data: st})
	for i := range s.opts.Webhooks {
		d := store.Delivery{ID: fmt.Sprintf("evt_%d_%d", seq, i), JobID: id, Type: name, Body: body}
		if err := s.opts.Store.Enqueue(ctx, d); err != nil {
			s.log.Error("queueing a webhook", "job", id, "event", name, "err", err)
		}
	}
}

// deliver sends one attempt of a delivery to the webhook its id names.
func (s *Service) deliver(ctx context.Context, d store.Delivery) error {
	i := strings.LastIndexByte(d.ID, '_')
	var n int
	if _, err := fmt.Sscanf(d.ID[i+1:], "%d", &n); err != nil || n < 0 || n >= len(s.opts.Webhooks) {
		s.log.Warn("a delivery for a webhook no longer configured", "delivery", d.ID)
		return nil
	}
	return s.opts.Deliver(ctx, d.ID, s.opts.Webhooks[n], d.Body)
}

func (s *Service) local(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

func notFound(id string) error {
	return &api.Problem{Code: api.CodeNotFound, Message: "no job " + id}
}

// Job implements api.Service.
func (s *Service) Job(ctx context.Context, id string) (worker.State, error) {
	if j := s.local(id); j != nil {
		if st, err := j.run.Poll(ctx); err == nil {
			return normalized(st), nil
		}
	}
	rec, _, err := s.opts.Store.Job(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalidID) {
		return worker.State{}, notFound(id)
	}
	if err != nil {
		return worker.State{}, err
	}
	var st worker.State
	if err := json.Unmarshal(rec.State, &st); err != nil {
		return worker.State{}, fmt.Errorf("service: job %s: %w", id, err)
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
	page := api.JobPage{Jobs: []worker.State{}}
	started := f.Cursor == ""
	for _, rec := range recs {
		if !started {
			started = rec.ID == f.Cursor
			continue
		}
		var st worker.State
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
		if err := j.run.SetLayout(ctx, *p.Layout); err != nil {
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
	rs := api.RoomState{MeetingURL: worker.RedactRoom(meetingURL), Jobs: []string{}}
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

func merge(r *api.Running, running bool, e *worker.Error) {
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
	out := api.JobPage{Jobs: []worker.State{}}
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

// Deliveries implements api.Service: the failed ones; the outbox keeps no
// list of the others.
func (s *Service) Deliveries(ctx context.Context, _ bool) ([]api.Delivery, error) {
	fs, err := s.opts.Store.FailedDeliveries(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.Delivery{}
	for _, f := range fs {
		out = append(out, s.apiDelivery(f))
	}
	return out, nil
}

func (s *Service) apiDelivery(f store.FailedDelivery) api.Delivery {
	d := api.Delivery{ID: f.ID, JobID: f.JobID, Type: f.Type, Attempts: f.Attempt, Status: "failed"}
	if i := strings.LastIndexByte(f.ID, '_'); i >= 0 {
		var n int
		if _, err := fmt.Sscanf(f.ID[i+1:], "%d", &n); err == nil && n >= 0 && n < len(s.opts.Webhooks) {
			d.URL = redactURL(s.opts.Webhooks[n])
		}
	}
	if f.Error != "" {
		e := f.Error
		d.LastError = &e
	}
	if !f.FailedAt.IsZero() {
		t := f.FailedAt.UTC()
		d.LastAttemptAt = &t
	}
	return d
}

// RetryDelivery implements api.Service.
func (s *Service) RetryDelivery(ctx context.Context, id string) (api.Delivery, error) {
	fs, err := s.opts.Store.FailedDeliveries(ctx)
	if err != nil {
		return api.Delivery{}, err
	}
	for _, f := range fs {
		if f.ID != id {
			continue
		}
		if err := s.opts.Store.Retry(ctx, id); err != nil {
			return api.Delivery{}, err
		}
		d := s.apiDelivery(f)
		d.Status = "pending"
		return d, nil
	}
	return api.Delivery{}, &api.Problem{Code: api.CodeNotFound, Message: "no failed delivery " + id}
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

// Shutdown stops admitting jobs, stops the running ones (their outputs
// finalized), lets the webhooks flush for what is left of ctx, and returns.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	jobs := make([]*job, 0, len(s.runs))
	for _, j := range s.runs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.run.Stop(ctx); err != nil {
				s.log.Warn("stopping a job at shutdown", "job", j.id, "err", err)
			}
			select {
			case <-j.done:
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()
	s.flush(ctx)
	if s.consumer != nil {
		s.consumer()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("service: shutdown: %w", ctx.Err())
	}
}

// flush gives queued webhooks a moment to go out before the consumer
// stops; what is left stays in the outbox for the next start.
func (s *Service) flush(ctx context.Context) {
	if s.opts.Deliver == nil {
		return
	}
	t := time.NewTimer(500 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// redactURL hides a webhook URL's credentials and query.
func redactURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if req, err := http.NewRequest("GET", raw, nil); err == nil {
		return req.URL.Redacted()
	}
	return raw
}
