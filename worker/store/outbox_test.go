package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// testBackoff keeps the retry tests short; its steps differ so the test can
// tell which one the server used.
var testBackoff = []time.Duration{150 * time.Millisecond, 600 * time.Millisecond, 200 * time.Millisecond}

// attempt is one call of a test's delivery handler.
type attempt struct {
	Delivery
	at time.Time
	ok bool
}

// receiver is a webhook target for the tests: fail says whether an attempt
// fails; every attempt is recorded.
type receiver struct {
	fail func(Delivery) bool

	mu       sync.Mutex
	attempts []attempt
	changed  chan struct{}
}

func newReceiver(fail func(Delivery) bool) *receiver {
	return &receiver{fail: fail, changed: make(chan struct{}, 1)}
}

func (r *receiver) handle(ctx context.Context, d Delivery) error {
	ok := !r.fail(d)
	r.mu.Lock()
	r.attempts = append(r.attempts, attempt{Delivery: d, at: time.Now(), ok: ok})
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	if !ok {
		return errors.New("503 from the receiver")
	}
	return nil
}

// waitFor waits until cond holds for the attempts seen so far.
func (r *receiver) waitFor(t *testing.T, what string, cond func([]attempt) bool) []attempt {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		a := slices.Clone(r.attempts)
		r.mu.Unlock()
		if cond(a) {
			return a
		}
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not after 15s; attempts: %+v", what, a)
		}
	}
}

func succeeded(ids ...string) func([]attempt) bool {
	return func(as []attempt) bool {
		n := 0
		for _, a := range as {
			if a.ok && slices.Contains(ids, a.ID) {
				n++
			}
		}
		return n >= len(ids)
	}
}

// consume runs ConsumeDeliveries until the test ends.
func consume(t *testing.T, s *Store, r *receiver) { consumeWith(t, s, r.handle) }

func consumeWith(t *testing.T, s *Store, handle func(context.Context, Delivery) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ConsumeDeliveries(ctx, handle) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ConsumeDeliveries: %v", err)
		}
	})
}

func enqueue(t *testing.T, s *Store, job string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.Enqueue(testContext(t), Delivery{ID: id, JobID: job, Type: "jobStateUpdated", Body: []byte(`{"id":"` + id + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOutbox(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("retries", func(t *testing.T) {
				t.Parallel()
				testRetries(t, b.open(t, Config{Backoff: testBackoff}))
			})
			t.Run("failed and retried", func(t *testing.T) {
				t.Parallel()
				testFailedAndRetried(t, b.open(t, Config{Backoff: testBackoff}))
			})
			t.Run("order per job", func(t *testing.T) {
				t.Parallel()
				testOrderPerJob(t, b.open(t, Config{Backoff: testBackoff}))
			})
		})
	}
}

// A delivery that fails twice comes a second time Backoff[0] after the
// first failure, and a third time Backoff[1] after the second.
func testRetries(t *testing.T, s *Store) {
	r := newReceiver(func(d Delivery) bool { return d.Attempt < 3 })
	consume(t, s, r)
	enqueue(t, s, "job", "d1")
	as := r.waitFor(t, "third attempt", succeeded("d1"))
	if len(as) != 3 {
		t.Fatalf("attempts %+v, want 3", as)
	}
	for i, a := range as {
		if a.Attempt != i+1 || a.ID != "d1" || a.JobID != "job" || a.Type != "jobStateUpdated" || string(a.Body) != `{"id":"d1"}` {
			t.Fatalf("attempt %d = %+v", i+1, a.Delivery)
		}
	}
	for i := 1; i < 3; i++ {
		gap, want := as[i].at.Sub(as[i-1].at), testBackoff[i-1]
		// Not before the backoff; the upper bound, loose for a loaded
		// machine, still tells the steps apart.
		if gap < want-10*time.Millisecond || gap > want+400*time.Millisecond {
			t.Errorf("attempt %d came %v after attempt %d, want %v", i+1, gap, i, want)
		}
	}
	time.Sleep(2 * testBackoff[1])
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.attempts) != 3 {
		t.Fatalf("an acked delivery came again: %+v", r.attempts)
	}
}

// After its last attempt a delivery is listed as failed; Retry sends it
// again, from attempt 1.
func testFailedAndRetried(t *testing.T, s *Store) {
	ctx := testContext(t)
	var retried sync.Map
	r := newReceiver(func(d Delivery) bool {
		_, ok := retried.Load(d.ID)
		return !ok
	})
	consume(t, s, r)
	enqueue(t, s, "job", "d1")
	last := len(testBackoff) + 1
	as := r.waitFor(t, "last attempt", func(as []attempt) bool { return len(as) == last })
	for i, a := range as {
		if a.Last != (i == last-1) {
			t.Errorf("attempt %d of %d says Last=%t", i+1, last, a.Last)
		}
	}

	var failed []FailedDelivery
	deadline := time.Now().Add(5 * time.Second)
	for len(failed) == 0 && time.Now().Before(deadline) {
		var err error
		if failed, err = s.FailedDeliveries(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(failed) != 1 {
		t.Fatalf("FailedDeliveries = %+v, want d1", failed)
	}
	f := failed[0]
	if f.ID != "d1" || f.JobID != "job" || f.Attempt != last || f.Error != "503 from the receiver" || string(f.Body) != `{"id":"d1"}` || f.FailedAt.IsZero() {
		t.Fatalf("failed delivery %+v", f)
	}
	r.mu.Lock()
	n := len(r.attempts)
	r.mu.Unlock()
	if n != last {
		t.Fatalf("%d attempts, want %d", n, last)
	}

	if err := s.Retry(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Retry(nope): %v, want ErrNotFound", err)
	}
	retried.Store("d1", true)
	if err := s.Retry(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	as = r.waitFor(t, "retried delivery", succeeded("d1"))
	if a := as[len(as)-1]; a.Attempt != 1 || string(a.Body) != `{"id":"d1"}` {
		t.Fatalf("retried attempt %+v, want attempt 1 of d1", a.Delivery)
	}
	if failed, err := s.FailedDeliveries(ctx); err != nil || len(failed) != 0 {
		t.Fatalf("FailedDeliveries after retry = %+v, %v", failed, err)
	}
	if err := s.Retry(ctx, "d1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Retry: %v, want ErrNotFound", err)
	}
}

// A job's later deliveries wait while an earlier one is retried; another
// job's don't.
func testOrderPerJob(t *testing.T, s *Store) {
	r := newReceiver(func(d Delivery) bool { return d.ID == "a1" && d.Attempt < 3 })
	consume(t, s, r)
	enqueue(t, s, "A", "a1", "a2", "a3")
	enqueue(t, s, "B", "b1", "b2")
	as := r.waitFor(t, "all delivered", succeeded("a1", "a2", "a3", "b1", "b2"))

	var a1ok, b2ok time.Time
	var order []string
	for _, a := range as {
		switch {
		case a.ID == "a1" && a.ok:
			a1ok = a.at
		case a.ID == "b2":
			b2ok = a.at
		}
		if a.JobID == "A" && a.ok {
			order = append(order, a.ID)
		}
		if (a.ID == "a2" || a.ID == "a3") && a1ok.IsZero() {
			t.Fatalf("%s tried before a1 succeeded: %+v", a.ID, as)
		}
		if a.ID != "a1" && a.Attempt != 1 {
			t.Fatalf("%s needed attempt %d: waiting for its turn used up attempts", a.ID, a.Attempt)
		}
	}
	if fmt.Sprint(order) != "[a1 a2 a3]" {
		t.Fatalf("job A delivered %v", order)
	}
	if !b2ok.Before(a1ok) {
		t.Fatalf("job B waited for job A's retries: b2 at %v, a1 at %v", b2ok, a1ok)
	}
	if len(as) != 7 {
		t.Fatalf("%d attempts, want 7: %+v", len(as), as)
	}
}

// A pending delivery survives a restart of the embedded store.
func TestOutboxSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Backoff: testBackoff, Logger: quietLogger()}
	s, err := Open(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, s, "job", "d1")
	if _, err := s.CreateJob(testContext(t), Job{ID: "job"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openEmbedded(t, cfg)
	if _, _, err := s.Job(testContext(t), "job"); err != nil {
		t.Fatalf("job after restart: %v", err)
	}
	r := newReceiver(func(Delivery) bool { return false })
	consume(t, s, r)
	as := r.waitFor(t, "delivery after restart", succeeded("d1"))
	if as[0].Attempt != 1 || string(as[0].Body) != `{"id":"d1"}` {
		t.Fatalf("after restart: %+v", as[0].Delivery)
	}
}

// Enqueueing one delivery id twice stores it once.
func TestEnqueueDeduplicates(t *testing.T) {
	s := openEmbedded(t, Config{Backoff: testBackoff})
	enqueue(t, s, "job", "d1", "d1", "d2")
	if n, err := s.OutboxDepth(testContext(t)); err != nil || n != 2 {
		t.Fatalf("outbox depth %d (%v) before delivery, want 2", n, err)
	}
	r := newReceiver(func(Delivery) bool { return false })
	consume(t, s, r)
	as := r.waitFor(t, "deliveries", succeeded("d1", "d2"))
	time.Sleep(200 * time.Millisecond)
	if n, err := s.OutboxDepth(testContext(t)); err != nil || n != 0 {
		t.Errorf("outbox depth %d (%v) once delivered, want 0", n, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.attempts) != 2 {
		t.Fatalf("attempts %+v, want d1 and d2 once each", as)
	}
}

// A delivery in mid-attempt when the store shuts down is handed back, and
// taken again at once after the restart, not after the ack timeout.
func TestOutboxInFlightAtShutdown(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), Backoff: testBackoff, Logger: quietLogger()}
	s, err := Open(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.ConsumeDeliveries(ctx, func(ctx context.Context, d Delivery) error {
			close(started)
			<-ctx.Done() // the webhook POST, cut short
			return ctx.Err()
		})
	}()
	enqueue(t, s, "job", "d1")
	<-started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openEmbedded(t, cfg)
	r := newReceiver(func(Delivery) bool { return false })
	begin := time.Now()
	consume(t, s, r)
	as := r.waitFor(t, "delivery after restart", succeeded("d1"))
	if took := time.Since(begin); took > ackWait/3 {
		t.Fatalf("redelivered after %v: waited for the ack timeout", took)
	}
	if as[0].Attempt != 2 {
		t.Fatalf("attempt %d after the cut-short one, want 2", as[0].Attempt)
	}
	if failed, _ := s.FailedDeliveries(testContext(t)); len(failed) != 0 {
		t.Fatalf("cut-short attempt recorded as failed: %+v", failed)
	}
}

// A delivery waiting for its retry when the store stops is retried after
// the restart.
func TestOutboxRetrySurvivesRestart(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), Backoff: []time.Duration{500 * time.Millisecond}, Logger: quietLogger()}
	s, err := Open(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	failed := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.ConsumeDeliveries(ctx, func(context.Context, Delivery) error {
			once.Do(func() { close(failed) })
			return errors.New("503")
		})
	}()
	enqueue(t, s, "job", "d1")
	<-failed
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openEmbedded(t, cfg)
	r := newReceiver(func(Delivery) bool { return false })
	consume(t, s, r)
	as := r.waitFor(t, "retry after restart", succeeded("d1"))
	if len(as) != 1 || as[0].Attempt < 2 {
		t.Fatalf("after restart: %+v, want a further attempt of d1", as)
	}
}
