package worker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// Churn: how many times a peer joins and leaves, and on what schedule (job
// time, on the virtual clock).
const (
	churnCycles = 100
	churnStart  = 2 * time.Second        // the first join
	churnPeriod = 600 * time.Millisecond // from one join to the next
	churnStay   = 400 * time.Millisecond // from a join to its leave
	// churnRSSMargin is how far RSS may end above its baseline. Measured
	// (2 cores, FFmpeg 5.1): +9 MiB after 30 cycles, +10 after 100, +10.4
	// after 250 without -race, +16 after 100 with it: a one-off cost of the
	// first decoders and scalers (FFmpeg's tables, malloc arenas), while the
	// Go heap stays within 1 MiB. Before departed peers were freed, 100
	// cycles grew RSS by 172 MiB.
	churnRSSMargin = 30 << 20
)

// resources are what a leak would show in.
type resources struct {
	goroutines int
	fds        int
	rss        int64 // bytes
	heap       int64 // Go heap in use, bytes: the part of RSS that is Go's
}

func (r resources) String() string {
	return fmt.Sprintf("%d goroutines, %d open files, RSS %.1f MiB (Go heap %.1f MiB)", r.goroutines, r.fds, float64(r.rss)/(1<<20), float64(r.heap)/(1<<20))
}

func measure(t *testing.T) resources {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var rss int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS: %q: %v", line, err)
			}
			rss = kb << 10
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return resources{goroutines: runtime.NumGoroutine(), fds: len(fds), rss: rss, heap: int64(ms.HeapInuse)}
}

// settle waits, in wall time, for goroutines and open files to come down to
// base: the pipelines of the last peer end once they have read what its
// tracks had queued.
func settle(t *testing.T, base resources) resources {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := measure(t)
		if (r.goroutines <= base.goroutines && r.fds <= base.fds) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestChurnFreesDepartedPeers: a peer with audio and video joins and leaves
// 100 times (a peer of its own each time, as the manifest gives each peer one
// join and one leave). Between the job before the first join and the job
// after the last leave, goroutines and open files are back where they were,
// and RSS within churnRSSMargin: a departed peer's decoders, jitter buffers,
// sync state and tiles are freed when it leaves, not when the job ends.
//
// The test holds the job's virtual clock at both moments, so the job stands
// still while it measures.
func TestChurnFreesDepartedPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("churn runs 100 joins and leaves")
	}
	var m bytes.Buffer
	m.WriteString("peers:\n")
	for i := range churnCycles {
		join := churnStart + time.Duration(i)*churnPeriod
		fmt.Fprintf(&m, "  - name: p%03d\n    media: PEERS/alice.webm\n    join: %s\n    leave: %s\n", i, join, join+churnStay)
	}
	last := churnStart + churnCycles*churnPeriod
	baseAt, endAt := churnStart-500*time.Millisecond, last+time.Second
	// A peer due after the measurement keeps the room open meanwhile.
	fmt.Fprintf(&m, "  - name: late\n    media: PEERS/bob.webm\n    join: %s\n", endAt+10*time.Second)
	meetingURL := manifest(t, m.String())

	clocks := make(chan mediaclock.Clock, 1)
	opts := testOptions(t, nil, true)
	mgr := NewManager(func(cfg config.Job) Options {
		o := opts(cfg)
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
		o.Open = func(ctx context.Context, u string, clk mediaclock.Clock, log *slog.Logger) (room.Room, error) {
			clk.Hold() // taken before the room exists, so the clock cannot pass baseAt unseen
			clocks <- clk
			return fileOpener(ctx, u, clk, log)
		}
		return o
	})
	before := measure(t) // no job yet
	started := time.Now()
	j, err := mgr.Start(context.Background(), config.Job{MeetingURL: meetingURL, Record: true, FPS: 15,
		Resolution: config.Resolution{Width: 320, Height: 180}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Stop(context.Background())
	clk := <-clocks

	at := make(chan time.Duration)
	resume := make(chan struct{})
	go func() {
		defer clk.Release()
		for _, d := range []time.Duration{baseAt, endAt} {
			if err := clk.SleepUntil(context.Background(), d); err != nil {
				return
			}
			at <- clk.Now()
			<-resume
		}
	}()

	t0 := <-at
	if p := j.State().Peers; p != 0 {
		t.Fatalf("%d peers at %s, before the first join", p, t0)
	}
	base := measure(t)
	t.Logf("at %s, before the first join: %s", t0, base)
	resume <- struct{}{}

	t1 := <-at
	st := j.State()
	if st.Peers != 0 || st.State != Running {
		t.Fatalf("at %s, after the last leave: %s with %d peers", t1, st.State, st.Peers)
	}
	after := settle(t, base)
	t.Logf("at %s, after %d joins and leaves: %s (wall %s)", t1, churnCycles, after, time.Since(started).Round(time.Millisecond))
	resume <- struct{}{}

	if after.goroutines > base.goroutines {
		t.Errorf("goroutines: %d after the churn, %d before", after.goroutines, base.goroutines)
	}
	if after.fds > base.fds {
		t.Errorf("open files: %d after the churn, %d before", after.fds, base.fds)
	}
	if grow := after.rss - base.rss; grow > churnRSSMargin {
		t.Errorf("RSS grew by %.1f MiB over the churn, more than the %d MiB allowed", float64(grow)/(1<<20), churnRSSMargin>>20)
	}
	if err := j.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := j.State(); st.State != Stopped || st.Recording.Bytes == 0 {
		t.Errorf("after stop: %s, %d bytes recorded", st.State, st.Recording.Bytes)
	}
	// Once the job has ended, nothing of it is left running or open.
	end := settle(t, before)
	t.Logf("before the job: %s; after it: %s", before, end)
	if end.goroutines > before.goroutines || end.fds > before.fds {
		t.Errorf("after the job: %s; before it: %s", end, before)
	}
}
