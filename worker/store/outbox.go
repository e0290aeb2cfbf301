package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	deliveryIDHeader   = "Roomcast-Delivery"
	deliveryTypeHeader = "Roomcast-Event"
	// turnPoll is how often a delivery waiting for its turn looks at its
	// job's queue, to notice acks made by other nodes of a fleet; acks made
	// in this process wake it at once.
	turnPoll = 200 * time.Millisecond
)

// Delivery is one webhook delivery of the outbox.
type Delivery struct {
	// ID identifies the delivery across its attempts (the Standard
	// Webhooks webhook-id); [A-Za-z0-9_-]{1,64}. Enqueueing the same ID
	// twice within two minutes stores it once.
	ID    string `json:"id"`
	JobID string `json:"jobId"`
	Type  string `json:"type"`
	Body  []byte `json:"body"`
	// Attempt is 1 on the first try; set by the store, ignored by Enqueue.
	Attempt int `json:"attempt"`
	// Last says that no retry follows if this attempt fails; set by the
	// store.
	Last bool `json:"-"`
}

// FailedDelivery is a delivery whose last attempt failed.
type FailedDelivery struct {
	Delivery
	Error    string    `json:"error"`
	FailedAt time.Time `json:"failedAt"`
}

// Enqueue adds a delivery to its job's queue in the outbox.
func (s *Store) Enqueue(ctx context.Context, d Delivery) error {
	return s.enqueue(ctx, d, d.ID)
}

func (s *Store) enqueue(ctx context.Context, d Delivery, msgID string) error {
	if err := checkID(d.ID); err != nil {
		return err
	}
	if err := checkID(d.JobID); err != nil {
		return err
	}
	m := &nats.Msg{Subject: outboxSubject + d.JobID, Header: nats.Header{}, Data: d.Body}
	m.Header.Set(deliveryIDHeader, d.ID)
	m.Header.Set(deliveryTypeHeader, d.Type)
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID)); err != nil {
		return fmt.Errorf("store: enqueue delivery %s of job %s: %w", d.ID, d.JobID, err)
	}
	return nil
}

// ConsumeDeliveries hands every delivery of the outbox to handle until ctx
// ends, then waits for the handlers it started. It is the outbox's one
// durable consumer: with several processes (a fleet) consuming, each
// delivery goes to one of them at a time.
//
// handle returning nil acks the delivery. An error makes the server offer it
// again, to any consumer, Backoff[n-1] after the n-th attempt failed. When
// the last attempt (len(Backoff)+1) fails, the delivery is recorded in
// FailedDeliveries and leaves the queue. handle gets ctx; an attempt cut
// short by ctx's end is handed back, neither acked nor recorded as failed,
// and offered again at once (as a further attempt) to another consumer or
// to this process after a restart.
//
// A job's deliveries go out in order: one waits, without using up an
// attempt, while an earlier one of its job is still queued (see doc.go).
// Deliveries of different jobs don't wait for each other.
func (s *Store) ConsumeDeliveries(ctx context.Context, handle func(context.Context, Delivery) error) error {
	// Handlers are cut short only once the server knows this consumer is
	// gone: a delivery handed back earlier could be offered again to this
	// very subscription and be dropped on the floor.
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	cc, err := s.webhooks.Consume(func(m jetstream.Msg) {
		wg.Go(func() { s.deliver(hctx, m, handle) })
	}, jetstream.PullMaxMessages(64), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		s.log.Warn("webhook outbox consumer", "err", err)
	}))
	if err != nil {
		return fmt.Errorf("store: consume deliveries: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer fcancel()
	if err := s.nc.FlushWithContext(fctx); err != nil {
		s.log.Warn("webhook outbox consumer: flush at stop", "err", err)
	}
	cancel()
	wg.Wait()
	return nil
}

// deliver runs one attempt of one delivery. While it waits for its turn and
// while handle runs it reports progress, so the server's ack timer doesn't
// fire under it.
func (s *Store) deliver(ctx context.Context, m jetstream.Msg, handle func(context.Context, Delivery) error) {
	meta, err := m.Metadata()
	if err != nil {
		s.log.Error("webhook delivery without metadata", "err", err)
		return
	}
	d := Delivery{
		ID:      m.Headers().Get(deliveryIDHeader),
		JobID:   strings.TrimPrefix(m.Subject(), outboxSubject),
		Type:    m.Headers().Get(deliveryTypeHeader),
		Body:    m.Data(),
		Attempt: int(meta.NumDelivered),
	}
	d.Last = d.Attempt > len(s.backoff)
	log := s.log.With("job", d.JobID, "delivery", d.ID, "attempt", d.Attempt)

	progress, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	go s.reportProgress(progress, m)

	if !s.waitTurn(ctx, d.JobID, meta.Sequence.Stream, log) {
		if ctx.Err() != nil {
			s.release(m, log)
		}
		return
	}
	herr := handle(ctx, d)
	stopProgress()
	// An attempt's outcome is stored even when ctx has just ended: an
	// unacked success would be delivered a second time.
	done, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case herr == nil:
		s.ack(done, m, log)
	case ctx.Err() != nil:
		s.release(m, log)
	case d.Attempt > len(s.backoff):
		log.Warn("webhook delivery failed for good", "err", herr)
		s.recordFailed(done, d, herr, log)
		s.ack(done, m, log)
	default:
		delay := s.backoff[d.Attempt-1]
		log.Info("webhook delivery failed, will retry", "err", herr, "in", delay)
		if err := m.NakWithDelay(delay); err != nil {
			log.Warn("webhook delivery: nak", "err", err)
		}
	}
}

// release hands a delivery back at shutdown, to be offered again at once
// (to another node, or to this one after its restart) rather than after
// the ack timeout.
func (s *Store) release(m jetstream.Msg, log *slog.Logger) {
	// With a delay, however short: a plain nak only queues the redelivery in
	// the server's memory, which an embedded server's restart forgets; a
	// delayed one is stored as the delivery's new deadline.
	if err := m.NakWithDelay(time.Millisecond); err != nil {
		log.Warn("webhook delivery: handing back", "err", err)
	}
}

// reportProgress keeps the delivery ours until ctx ends, however long it
// waits for its turn or handle takes.
func (s *Store) reportProgress(ctx context.Context, m jetstream.Msg) {
	t := time.NewTicker(ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.InProgress(); err != nil && ctx.Err() == nil {
				s.log.Warn("webhook delivery: progress", "err", err)
			}
		}
	}
}

// waitTurn waits until seq is the oldest delivery of the job left in the
// outbox (a work queue: acked ones are gone). It reads the stream's leader,
// so the answer is the same on every node. It reports false if ctx ended or
// the delivery is no longer queued (a duplicate offer of one already done).
func (s *Store) waitTurn(ctx context.Context, jobID string, seq uint64, log *slog.Logger) bool {
	for {
		s.mu.Lock()
		acked := s.acked
		s.mu.Unlock()
		head, err := s.outbox.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(outboxSubject+jobID))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return false
		case err != nil:
			if ctx.Err() != nil {
				return false
			}
			log.Warn("webhook delivery: reading the job's queue", "err", err)
		case head.Sequence == seq:
			return true
		case head.Sequence > seq:
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-acked:
		case <-time.After(turnPoll):
		}
	}
}

// ack acks with the server's confirmation, so that the job's next delivery,
// woken here, finds this one gone from the queue.
func (s *Store) ack(ctx context.Context, m jetstream.Msg, log *slog.Logger) {
	if err := m.DoubleAck(ctx); err != nil {
		log.Warn("webhook delivery: ack", "err", err)
	}
	s.mu.Lock()
	close(s.acked)
	s.acked = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) recordFailed(ctx context.Context, d Delivery, herr error, log *slog.Logger) {
	b, err := json.Marshal(FailedDelivery{Delivery: d, Error: herr.Error(), FailedAt: time.Now().UTC()})
	if err == nil {
		_, err = s.failed.Put(ctx, d.ID, b)
	}
	if err != nil {
		log.Warn("webhook delivery: recording the failure", "err", err)
	}
}

// FailedDeliveries lists the deliveries whose last attempt failed, oldest
// failure first.
func (s *Store) FailedDeliveries(ctx context.Context) ([]FailedDelivery, error) {
	var out []FailedDelivery
	err := eachValue(ctx, s.failed, func(v []byte) error {
		var f FailedDelivery
		if err := json.Unmarshal(v, &f); err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: failed deliveries: %w", err)
	}
	slices.SortFunc(out, func(a, b FailedDelivery) int {
		if c := a.FailedAt.Compare(b.FailedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Retry puts a failed delivery back at the end of its job's queue, with its
// attempts counted afresh; ErrNotFound if id is not a failed delivery. Of
// racing retries of one delivery, one enqueues it.
func (s *Store) Retry(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	e, err := s.failed.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("store: retry delivery %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: retry delivery %s: %w", id, err)
	}
	var f FailedDelivery
	if err := json.Unmarshal(e.Value(), &f); err != nil {
		return fmt.Errorf("store: retry delivery %s: %w", id, err)
	}
	// Take the record first, by revision, so a racing retry finds nothing.
	err = s.failed.Delete(ctx, id, jetstream.LastRevision(e.Revision()))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("store: retry delivery %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: retry delivery %s: %w", id, err)
	}
	// A message id of its own: the stream would drop the original one as a
	// duplicate within its two-minute window.
	msgID := id + ".retry." + strconv.FormatUint(e.Revision(), 10)
	if err := s.enqueue(ctx, f.Delivery, msgID); err != nil {
		// Put the record back so the retry can be asked for again.
		if _, perr := s.failed.Put(context.WithoutCancel(ctx), id, e.Value()); perr != nil {
			s.log.Error("webhook delivery: lost a failed delivery's record", "delivery", id, "err", perr)
		}
		return err
	}
	return nil
}

// OutboxDepth is how many deliveries wait in the outbox, counting those
// being attempted and those waiting for a retry: acked ones leave it.
func (s *Store) OutboxDepth(ctx context.Context) (uint64, error) {
	info, err := s.outbox.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: outbox depth: %w", err)
	}
	return info.State.Msgs, nil
}
