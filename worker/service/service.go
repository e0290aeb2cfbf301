package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/jobstate"
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
	// Fleet makes the service one node of a fleet on the store's NATS
	// cluster: jobs are placed on any node with room, calls reach the
	// node that runs the job, and a dead node's jobs continue elsewhere.
	// Nil runs the service alone.
	Fleet Fleet
}

// Service runs jobs. Its methods are safe from any goroutine.
type Service struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	runs     map[string]*job // jobs this process runs
	used     Cost
	closing  bool
	draining bool // takes no new jobs (roomcast drain)
	consumer context.CancelFunc
	wg       sync.WaitGroup // job watchers and the webhook consumer
	counters counters

	startedAt time.Time
	// fleetStop ends the heartbeat and the orphan scan; nil alone.
	fleetStop context.CancelFunc
	fleetDone chan struct{}
	// orphans are the jobs the scan found without a lease, and since
	// when. Scan goroutine only.
	orphans map[string]time.Time
}

// job is a job this process runs.
type job struct {
	id   string
	cfg  config.Job
	cost Cost
	run  Run
	hls  http.Handler // its live HLS, proxied; nil without
	// events feeds the job's one publisher goroutine, which keeps the
	// record, the log and the outbox in the order the job said them.
	events chan jobEvent
	done   chan struct{} // the publisher has written the final state

	// startedAt is the job's start, in its first part.
	startedAt time.Time
	// part is the part this process runs; parts are all of them so far,
	// this one last. Set before the job is shared, never changed after
	// but for the last part's end (under mu).
	part  int
	mu    sync.Mutex
	parts []jobstate.Part
	// lost: another node holds the job now (its lease lapsed), and
	// nothing this run says may be written. handover: this node is
	// giving the job to another (drain --migrate); its end is not the
	// job's.
	lost, handover atomic.Bool
}

type jobEvent struct {
	name  string
	state jobstate.State
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
	s := &Service{opts: opts, log: opts.Logger, runs: map[string]*job{}, startedAt: opts.Now().UTC(), orphans: map[string]time.Time{}}
	if opts.Fleet == nil {
		if err := s.recover(ctx); err != nil {
			return nil, err
		}
	} else if err := s.joinFleet(); err != nil {
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
		var st jobstate.State
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
		if _, err := s.save(ctx, nil, rec.ID, st); err != nil {
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
