package store

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// Two nodes on one real nats-server, as a fleet would be: a room race
// between them has one winner, and the outbox's deliveries are each taken
// by one node, in order per job.
func TestFleet(t *testing.T) {
	url := startNATS(t)
	cfg := Config{URLs: []string{url}, Backoff: testBackoff}
	nodes := []*Store{openStore(t, cfg), openStore(t, cfg)}

	for i := range 3 {
		claimRace(t, []*Store{nodes[0], nodes[1], nodes[0], nodes[1]}, fmt.Sprintf("demo:%d", i))
	}

	// Both nodes deliver to one receiver; job A's first delivery fails twice.
	r := newReceiver(func(d Delivery) bool { return d.ID == "A-0" && d.Attempt < 3 })
	var took [2]atomic.Int64
	for i, n := range nodes {
		consumeWith(t, n, func(ctx context.Context, d Delivery) error {
			took[i].Add(1)
			return r.handle(ctx, d)
		})
	}
	var ids []string
	for i := range 10 {
		for _, job := range []string{"A", "B", "C"} {
			id := fmt.Sprintf("%s-%d", job, i)
			enqueue(t, nodes[i%2], job, id)
			ids = append(ids, id)
		}
	}
	r.waitFor(t, "every delivery", succeeded(ids...))
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	r.mu.Lock()
	as := slices.Clone(r.attempts)
	r.mu.Unlock()

	okOnce := map[string]int{}
	perJob := map[string][]string{}
	for _, a := range as {
		if a.ok {
			okOnce[a.ID]++
			perJob[a.JobID] = append(perJob[a.JobID], a.ID)
		}
	}
	for _, id := range ids {
		if okOnce[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, okOnce[id])
		}
	}
	for job, got := range perJob {
		var want []string
		for i := range 10 {
			want = append(want, fmt.Sprintf("%s-%d", job, i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("job %s delivered in the order %v", job, got)
		}
	}
	if took[0].Load() == 0 || took[1].Load() == 0 {
		t.Errorf("attempts per node %d and %d: one node took nothing", took[0].Load(), took[1].Load())
	}
	if len(as) != len(ids)+2 {
		t.Errorf("%d attempts, want %d (two retries of A-0)", len(as), len(ids)+2)
	}
}
