package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Job is a job's durable record. Config and State are the service's JSON
// (the contract's job config and state object); the store doesn't read them.
type Job struct {
	ID     string          `json:"id"`
	Config json.RawMessage `json:"config,omitempty"`
	State  json.RawMessage `json:"state,omitempty"`
	// Node is the name of the node that runs the job (issue 12).
	Node      string    `json:"node,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// CreateJob stores a new job and returns its revision. A zero CreatedAt is
// set to now; UpdatedAt is set to now. An existing id answers ErrExists.
func (s *Store) CreateJob(ctx context.Context, j Job) (uint64, error) {
	if err := checkID(j.ID); err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.UpdatedAt = now
	b, err := json.Marshal(j)
	if err != nil {
		return 0, fmt.Errorf("store: create job %s: %w", j.ID, err)
	}
	rev, err := s.jobs.Create(ctx, j.ID, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("store: create job %s: %w", j.ID, ErrExists)
	}
	if err != nil {
		return 0, fmt.Errorf("store: create job %s: %w", j.ID, err)
	}
	return rev, nil
}

// UpdateJob replaces the job's record if its revision is still rev, and
// returns the new revision; a stale rev, or a job that doesn't exist,
// answers ErrConflict. This
// compare-and-set is what fences a node that lost a job's lease (issue 12).
// UpdatedAt is set to now.
func (s *Store) UpdateJob(ctx context.Context, j Job, rev uint64) (uint64, error) {
	if err := checkID(j.ID); err != nil {
		return 0, err
	}
	j.UpdatedAt = time.Now().UTC()
	b, err := json.Marshal(j)
	if err != nil {
		return 0, fmt.Errorf("store: update job %s: %w", j.ID, err)
	}
	n, err := s.jobs.Update(ctx, j.ID, b, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, fmt.Errorf("store: update job %s at revision %d: %w", j.ID, rev, ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("store: update job %s: %w", j.ID, err)
	}
	return n, nil
}

// Job reads a job's record and its revision; ErrNotFound if there is none.
func (s *Store) Job(ctx context.Context, id string) (Job, uint64, error) {
	if err := checkID(id); err != nil {
		return Job{}, 0, err
	}
	e, err := s.jobs.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Job{}, 0, fmt.Errorf("store: job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, 0, fmt.Errorf("store: job %s: %w", id, err)
	}
	var j Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return Job{}, 0, fmt.Errorf("store: job %s: %w", id, err)
	}
	return j, e.Revision(), nil
}

// Jobs lists every job, newest first (by CreatedAt, then id).
func (s *Store) Jobs(ctx context.Context) ([]Job, error) {
	var jobs []Job
	err := eachValue(ctx, s.jobs, func(v []byte) error {
		var j Job
		if err := json.Unmarshal(v, &j); err != nil {
			return err
		}
		jobs = append(jobs, j)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: jobs: %w", err)
	}
	slices.SortFunc(jobs, func(a, b Job) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

// eachValue calls f with the current value of every key of a bucket. One
// watcher streams them all, instead of a Get per key.
func eachValue(ctx context.Context, kv jetstream.KeyValue, f func([]byte) error) error {
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-w.Updates():
			if e == nil { // the end of the current values
				return nil
			}
			if err := f(e.Value()); err != nil {
				return fmt.Errorf("key %s: %w", e.Key(), err)
			}
		}
	}
}
