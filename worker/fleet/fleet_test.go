package fleet

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/natstest"
)

// Short lives, so that expiry shows within a test.
const (
	testTTL  = time.Second
	testBeat = 200 * time.Millisecond
)

type member struct {
	f      *Fleet
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

// join opens a node's Fleet on its own connection and starts its heartbeat.
func join(t *testing.T, c *natstest.Cluster, name string) *member {
	t.Helper()
	nc, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f, err := Open(context.Background(), nc, Options{Node: name, Replicas: 3, LeaseTTL: testTTL, Heartbeat: testBeat})
	if err != nil {
		t.Fatal(err)
	}
	m := &member{f: f, nc: nc}
	m.run()
	t.Cleanup(m.stop)
	return m
}

func (m *member) run() {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		m.f.Run(ctx, func() Node { return Node{Capacity: 2, Used: 0.5, Jobs: 1} })
	}()
}

func (m *member) stop() {
	if m.cancel != nil {
		m.cancel()
		<-m.done
		m.cancel = nil
	}
}

func names(t *testing.T, f *Fleet) []string {
	t.Helper()
	nodes, err := f.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func TestFleet(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	a, b := join(t, c, "a"), join(t, c, "b")

	t.Run("registry", func(t *testing.T) {
		waitFor(t, "both nodes registered", 2*time.Second, func() bool { return slices.Equal(names(t, a.f), []string{"a", "b"}) })
		nodes, _ := a.f.Nodes(context.Background())
		if n := nodes[1]; n.Capacity != 2 || n.Free() != 1.5 || n.Jobs != 1 || time.Since(n.Heartbeat) > time.Second {
			t.Errorf("b's entry: %+v", n)
		}
		// A node that stops cleanly leaves at once; one that dies
		// (connection gone, no goodbye) leaves when its entry expires.
		d := join(t, c, "d")
		waitFor(t, "d registered", 2*time.Second, func() bool { return slices.Contains(names(t, a.f), "d") })
		d.stop()
		if slices.Contains(names(t, a.f), "d") {
			t.Errorf("d still registered after a clean stop")
		}
		e := join(t, c, "e")
		waitFor(t, "e registered", 2*time.Second, func() bool { return slices.Contains(names(t, a.f), "e") })
		e.nc.Close() // its heartbeats fail from now on
		gone := waitFor(t, "e's entry expired", 5*time.Second, func() bool { return !slices.Contains(names(t, a.f), "e") })
		if gone < testTTL/2 {
			t.Errorf("e left after %v, before its entry's TTL (%v)", gone, testTTL)
		}
		e.stop()
	})

	t.Run("calls", func(t *testing.T) {
		if err := b.f.Handle("echo", func(_ context.Context, data []byte) []byte { return append([]byte("b:"), data...) }); err != nil {
			t.Fatal(err)
		}
		out, err := a.f.Call(context.Background(), "b", "echo", []byte("hi"))
		if err != nil || string(out) != "b:hi" {
			t.Errorf("a calls b: %q %v", out, err)
		}
		if _, err := a.f.Call(context.Background(), "nobody", "echo", nil); !errors.Is(err, ErrNodeDown) {
			t.Errorf("a call to a node that is not there: %v, want ErrNodeDown", err)
		}
		if _, err := a.f.Call(context.Background(), "bad.name", "echo", nil); err == nil {
			t.Errorf("a node name with a dot was accepted")
		}
	})

	t.Run("leases", func(t *testing.T) {
		ctx := context.Background()
		var aLost atomic.Int32
		if err := a.f.Acquire(ctx, "job1", func() { aLost.Add(1) }); err != nil {
			t.Fatal(err)
		}
		if err := b.f.Acquire(ctx, "job1", nil); !errors.Is(err, ErrHeld) {
			t.Fatalf("b takes a's lease: %v, want ErrHeld", err)
		}
		// Renewed well past its TTL.
		time.Sleep(3 * testTTL)
		if h, err := b.f.Holder(ctx, "job1"); err != nil || h != "a" {
			t.Fatalf("holder after 3 TTLs: %q %v, want a", h, err)
		}
		// a stops beating (a dead node): the lease lapses, b takes it.
		a.stop()
		waitFor(t, "a's lease lapsed", 5*time.Second, func() bool {
			_, err := b.f.Holder(ctx, "job1")
			return errors.Is(err, ErrNoLease)
		})
		// A replica may answer the read before the stream's leader has
		// expired the entry; the create is the leader's, so it can still
		// find the lease for a moment.
		waitFor(t, "b takes the lapsed lease", 2*time.Second, func() bool { return b.f.Acquire(ctx, "job1", nil) == nil })
		// a comes back: its first renewal finds the lease gone to b.
		a.run()
		waitFor(t, "a told it lost the lease", 3*time.Second, func() bool { return aLost.Load() == 1 })
		if h, _ := b.f.Holder(ctx, "job1"); h != "b" {
			t.Errorf("holder after a came back: %q, want b (fenced)", h)
		}
		if err := b.f.Release(ctx, "job1"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.f.Holder(ctx, "job1"); !errors.Is(err, ErrNoLease) {
			t.Errorf("holder after b released: %v, want ErrNoLease", err)
		}
	})

	t.Run("steady", func(t *testing.T) {
		g := join(t, c, "g")
		if g.f.Steady() {
			t.Errorf("a node steady before a lease's life of heartbeats")
		}
		waitFor(t, "g steady", 3*testTTL, g.f.Steady)
		g.nc.Close()
		waitFor(t, "g not steady once its heartbeats fail", 3*testTTL, func() bool { return !g.f.Steady() })
	})
}
