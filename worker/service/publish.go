package service

// A job's state changes, in order, to its record, its event log and its webhooks.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/roomcast/roomcast/worker/jobstate"
	"github.com/roomcast/roomcast/worker/store"
)

// publisher writes a job's state changes to its record, its event log and
// the webhook outbox, in order. A repeated final state is written once.
func (s *Service) publisher(j *job) {
	defer s.wg.Done()
	defer close(j.done)
	ctx := context.Background()
	var last []byte
	for ev := range j.events {
		if j.lost.Load() || j.handover.Load() {
			// The job is (or is about to be) another node's: what this
			// run says now is this part's end, not the job's.
			continue
		}
		st := j.decorate(ev.state)
		b, _ := json.Marshal(st)
		if ev.name == "jobStateUpdated" && string(b) == string(last) {
			continue
		}
		last = b
		if _, err := s.save(ctx, j, j.id, st); err != nil {
			if errors.Is(err, errFenced) {
				continue
			}
			s.log.Error("storing a job's state", "job", j.id, "err", err)
		}
		s.publish(ctx, j.id, ev.name, st)
	}
}

// errFenced: the job's record names another node; this one lost the job.
var errFenced = errors.New("service: the job runs on another node now")

// save writes st into the job's record, retrying a lost compare-and-set.
// In a fleet the write is fenced: a record that names another node is
// left alone, and the job j (nil: none runs here) is stopped here, since
// that node has taken it over.
func (s *Service) save(ctx context.Context, j *job, id string, st jobstate.State) (uint64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, err
	}
	for range 5 {
		rec, rev, err := s.opts.Store.Job(ctx, id)
		if err != nil {
			return 0, err
		}
		if f := s.opts.Fleet; f != nil && j != nil && rec.Node != "" && rec.Node != f.Name() {
			s.lose(j, "its record names node "+rec.Node)
			return 0, errFenced
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
	Type      string         `json:"type"`
	Timestamp time.Time      `json:"timestamp"`
	Data      jobstate.State `json:"data"`
}

// publish appends an event to the job's log and queues its webhooks.
func (s *Service) publish(ctx context.Context, id, name string, st jobstate.State) {
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
		d := store.Delivery{ID: deliveryID(seq, i), JobID: id, Type: name, Body: body}
		if err := s.opts.Store.Enqueue(ctx, d); err != nil {
			s.log.Error("queueing a webhook", "job", id, "event", name, "err", err)
		}
	}
}

// deliver sends one attempt of a delivery to the webhook its id names.
func (s *Service) deliver(ctx context.Context, d store.Delivery) error {
	url, ok := s.webhookOf(d.ID)
	if !ok {
		s.log.Warn("a delivery for a webhook no longer configured", "delivery", d.ID)
		return nil
	}
	err := s.opts.Deliver(ctx, d.ID, url, d.Body)
	switch {
	case err == nil:
		s.counters.delivered.Add(1)
	case ctx.Err() != nil:
		// Cut short by a shutdown: handed back, not an outcome.
	case d.Last:
		s.counters.failedN.Add(1)
	default:
		s.counters.retried.Add(1)
	}
	return err
}

// deliveryID names the delivery of event seq to the i-th webhook: the
// outbox keeps no target, so the id carries it.
func deliveryID(seq uint64, i int) string { return fmt.Sprintf("evt_%d_%d", seq, i) }

// webhookOf is the URL a delivery id names, if it is still configured.
func (s *Service) webhookOf(id string) (string, bool) {
	_, n, ok := strings.Cut(strings.TrimPrefix(id, "evt_"), "_")
	i, err := strconv.Atoi(n)
	if !ok || err != nil || i < 0 || i >= len(s.opts.Webhooks) {
		return "", false
	}
	return s.opts.Webhooks[i], true
}
