package service

// The service's live figures, for its metrics.

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/roomcast/roomcast/worker/jobstate"
)

// Figures are the service's numbers at one moment.
type Figures struct {
	// Jobs counts every job on record by state, ended ones included.
	Jobs map[jobstate.Phase]int
	// Running are the jobs this process runs.
	Running []JobFigures
	// CapacityCores is what admission hands out; UsedCores is what the
	// running jobs were given.
	CapacityCores, UsedCores float64
	// Refused counts starts refused for want of capacity.
	Refused uint64
	// Webhooks counts delivery attempts by outcome: delivered, retried
	// (failed, with a retry to come) and failed (the last attempt failed).
	Webhooks map[string]uint64
	// OutboxDepth is how many deliveries wait in the outbox.
	OutboxDepth uint64
	// EndedCPU is the CPU time of the jobs that ended in this process.
	EndedCPU time.Duration
}

// JobFigures are one running job's numbers.
type JobFigures struct {
	ID    string
	Stats jobstate.Stats
	// CPU is the job's process's CPU time so far.
	CPU time.Duration
	// EventQueue is how many state changes wait for the job's publisher.
	EventQueue int
}

// counters are the service's running totals.
type counters struct {
	refused                     atomic.Uint64
	delivered, retried, failedN atomic.Uint64
	endedCPU                    atomic.Int64 // nanoseconds
}

// pollTimeout bounds how long a scrape waits for a job's process to answer
// with fresh figures; one that is slower is shown with its last state's.
const pollTimeout = 500 * time.Millisecond

// Figures returns the service's figures now. Each running job's process is
// asked for its latest stats.
func (s *Service) Figures(ctx context.Context) (Figures, error) {
	recs, err := s.opts.Store.Jobs(ctx)
	if err != nil {
		return Figures{}, fmt.Errorf("service: figures: %w", err)
	}
	f := Figures{Jobs: map[jobstate.Phase]int{}, CapacityCores: float64(s.opts.Capacity)}
	for _, p := range []jobstate.Phase{jobstate.Starting, jobstate.Running, jobstate.Stopping, jobstate.Stopped, jobstate.Failed} {
		f.Jobs[p] = 0
	}
	for _, rec := range recs {
		// Only the phase: a scrape need not decode every job's whole state.
		var st struct {
			State jobstate.Phase `json:"state"`
		}
		if json.Unmarshal(rec.State, &st) == nil && st.State != "" {
			f.Jobs[st.State]++
		}
	}
	s.mu.Lock()
	f.UsedCores = float64(s.used)
	jobs := make([]*job, 0, len(s.runs))
	for _, j := range s.runs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	for _, j := range jobs {
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		st, err := j.run.Poll(pctx)
		cancel()
		if err != nil {
			st = j.run.State()
		}
		f.Running = append(f.Running, JobFigures{ID: j.id, Stats: st.Stats, CPU: j.run.CPU(), EventQueue: len(j.events)})
	}
	f.Refused = s.counters.refused.Load()
	f.Webhooks = map[string]uint64{
		"delivered": s.counters.delivered.Load(),
		"retried":   s.counters.retried.Load(),
		"failed":    s.counters.failedN.Load(),
	}
	f.EndedCPU = time.Duration(s.counters.endedCPU.Load())
	if f.OutboxDepth, err = s.opts.Store.OutboxDepth(ctx); err != nil {
		return Figures{}, fmt.Errorf("service: figures: %w", err)
	}
	return f, nil
}
