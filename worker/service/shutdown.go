package service

// Stopping the service.

import (
	"context"
	"fmt"
	"sync"
	"time"
)

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
	if s.fleetStop != nil {
		// The node leaves the registry now, not after its TTL; its
		// leases went with its jobs.
		s.fleetStop()
		<-s.fleetDone
	}
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
