package mediaclock

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Clock is the job timeline: time since the job started.
//
// Every goroutine that paces itself with SleepUntil, or that holds work the
// clock must not run ahead of, brackets that work with Hold and Release. A
// virtual clock advances only when nothing is held; SleepUntil gives up the
// caller's hold while it sleeps and takes it back when it wakes. On the real
// clock Hold and Release do nothing.
type Clock interface {
	Now() time.Duration
	SleepUntil(ctx context.Context, t time.Duration) error
	Hold()
	Release()
	// Epoch is the wall time of job time 0. A file room stamps its sender
	// reports from it, so NTP time maps to job time exactly.
	Epoch() time.Time
	// Virtual reports whether this clock runs ahead of real time.
	Virtual() bool
}

// Real is the wall clock.
type Real struct {
	start time.Time
}

// NewReal returns a clock whose time 0 is now.
func NewReal() *Real { return &Real{start: time.Now()} }

// Now implements Clock.
func (r *Real) Now() time.Duration { return time.Since(r.start) }

// SleepUntil implements Clock.
func (r *Real) SleepUntil(ctx context.Context, t time.Duration) error {
	d := t - r.Now()
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Hold implements Clock; it does nothing on the real clock.
func (r *Real) Hold() {}

// Release implements Clock; it does nothing on the real clock.
func (r *Real) Release() {}

// Epoch implements Clock.
func (r *Real) Epoch() time.Time { return r.start }

// Virtual implements Clock.
func (r *Real) Virtual() bool { return false }

// Virtual is a clock that jumps to the earliest sleeper's wake time as soon
// as no one holds it.
type Virtual struct {
	mu      sync.Mutex
	now     time.Duration
	held    int
	waiters waiterHeap
	epoch   time.Time
}

// NewVirtual returns a virtual clock at time 0 whose epoch is now.
func NewVirtual() *Virtual { return &Virtual{epoch: time.Now()} }

type waiter struct {
	t     time.Duration
	ch    chan struct{}
	index int
}

type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].t < h[j].t }
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// Now implements Clock.
func (v *Virtual) Now() time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// Epoch implements Clock.
func (v *Virtual) Epoch() time.Time { return v.epoch }

// Virtual implements Clock.
func (v *Virtual) Virtual() bool { return true }

// Hold implements Clock.
func (v *Virtual) Hold() {
	v.mu.Lock()
	v.held++
	v.mu.Unlock()
}

// Release implements Clock.
func (v *Virtual) Release() {
	v.mu.Lock()
	v.held--
	if v.held < 0 {
		v.mu.Unlock()
		panic("mediaclock: Release without Hold")
	}
	v.advance()
	v.mu.Unlock()
}

// SleepUntil implements Clock. The caller must hold the clock.
func (v *Virtual) SleepUntil(ctx context.Context, t time.Duration) error {
	v.mu.Lock()
	if t <= v.now {
		v.mu.Unlock()
		return ctx.Err()
	}
	w := &waiter{t: t, ch: make(chan struct{})}
	heap.Push(&v.waiters, w)
	v.held--
	v.advance()
	v.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		v.mu.Lock()
		defer v.mu.Unlock()
		if w.index >= 0 {
			// Not woken: withdraw, and take the hold back ourselves.
			heap.Remove(&v.waiters, w.index)
			v.held++
		}
		return ctx.Err()
	}
}

// advance moves time to the earliest wake-up while nothing is held, and wakes
// every sleeper due then, handing each its hold back. Called with mu held.
func (v *Virtual) advance() {
	if v.held > 0 || len(v.waiters) == 0 {
		return
	}
	v.now = v.waiters[0].t
	for len(v.waiters) > 0 && v.waiters[0].t <= v.now {
		w := heap.Pop(&v.waiters).(*waiter)
		v.held++
		close(w.ch)
	}
}
