package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/roomcast/roomcast/config"
)

// Manager runs the jobs of one process and enforces the contract's rules:
// one job per room at a time (streaming and recording of a room start
// together, or not at all while the other runs), and stop stops everything.
type Manager struct {
	mu   sync.Mutex
	jobs map[string]*Job
	opts func(cfg config.Job) Options
}

// NewManager returns a manager that makes each job's Options with opts.
func NewManager(opts func(cfg config.Job) Options) *Manager {
	return &Manager{jobs: map[string]*Job{}, opts: opts}
}

// Start starts a job. It is refused while another job runs for the same room.
func (m *Manager) Start(ctx context.Context, cfg config.Job) (*Job, error) {
	m.mu.Lock()
	for _, j := range m.jobs {
		if isDone(j) {
			continue
		}
		if j.cfg.ID == cfg.ID && cfg.ID != "" {
			m.mu.Unlock()
			return nil, errorf(CodeAlreadyRunning, "job %s is already running", cfg.ID)
		}
		if j.cfg.MeetingURL == cfg.MeetingURL {
			m.mu.Unlock()
			return nil, errorf(CodeAlreadyRunning,
				"%s already runs for room %s (job %s): stop it first; to have streaming and recording both, start them together in one job",
				describe(j.Config()), RedactRoom(cfg.MeetingURL), j.cfg.ID)
		}
	}
	j, err := New(cfg, m.opts(cfg))
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	m.jobs[j.ID()] = j
	m.mu.Unlock()
	if err := j.Start(ctx); err != nil {
		return j, err
	}
	return j, nil
}

// Stop stops a job and everything it runs.
func (m *Manager) Stop(ctx context.Context, id string) error {
	m.mu.Lock()
	j, ok := m.jobs[id]
	m.mu.Unlock()
	if !ok {
		return errorf(CodeNotFound, "no job %q", id)
	}
	return j.Stop(ctx)
}

// Get returns a job by id.
func (m *Manager) Get(id string) (*Job, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	return j, ok
}

func isDone(j *Job) bool {
	select {
	case <-j.Done():
		return true
	default:
		return false
	}
}

func describe(c config.Job) string {
	switch {
	case len(c.RTMPURLs) > 0 && c.Record:
		return "streaming and recording"
	case len(c.RTMPURLs) > 0:
		return "streaming"
	case c.Record:
		return "recording"
	case c.HLS || c.HLSRecord:
		return "HLS"
	}
	return fmt.Sprintf("job %s", c.ID)
}
