package worker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/lktest"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/livekit"
)

// What RSS and the Go heap may grow by over the churn: pools (decoders,
// frames, label images) settle at a high-water mark, not at the start's,
// and the process also holds the test's copy of livekit-server's log,
// which grows with every join. The race detector's shadow memory grows
// RSS with every allocation: 100 cycles measured +13.7 MiB of RSS without
// it and +62 MiB with it, the Go heap +6 MiB either way.
const (
	lkChurnRSSMargin     = 30 << 20
	lkChurnRaceRSSMargin = 100 << 20
	lkChurnHeapMargin    = 16 << 20
)

// TestLiveKitChurnFreesDepartedPeers: peers that join and leave a real
// LiveKit room, one after another, while a job records it: once the last
// has left, the process's goroutines and open files are back at what they
// were before the first came, and its RSS within lkChurnRSSMargin. The
// process holds the publishers too (livekit.Publisher), so their
// connections are counted as well. ROOMCAST_CHURN_CYCLES sets the number
// of cycles, 100 by default (about a minute).
func TestLiveKitChurnFreesDepartedPeers(t *testing.T) {
	cycles := 100
	if s := os.Getenv("ROOMCAST_CHURN_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("ROOMCAST_CHURN_CYCLES=%q: want a whole number of cycles, 1 or more", s)
		}
		cycles = n
	}
	lk, err := lktest.New(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := lk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*10*time.Second+2*time.Minute)
	defer cancel()
	peers, err := filepath.Abs("../testdata/peers")
	if err != nil {
		t.Fatal(err)
	}
	const roomName = "churn"
	publish := func(identity, media string) *livekit.Publisher {
		t.Helper()
		p, err := livekit.NewPublisher(livekit.PublisherOptions{URL: lk.URL(roomName), APIKey: lktest.DevKey, APISecret: lktest.DevSecret,
			Identity: identity, Media: filepath.Join(peers, media), Loop: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatalf("publisher %s: %v", identity, err)
		}
		return p
	}
	// A peer that stays keeps the room, and the job, going throughout.
	anchor := publish("anchor", "bob.webm")
	t.Cleanup(func() { _ = anchor.Close() })

	open := func(_ context.Context, meetingURL string, _ mediaclock.Clock, log *slog.Logger) (room.Room, error) {
		return livekit.New(livekit.Options{URL: meetingURL, APIKey: lktest.DevKey, APISecret: lktest.DevSecret, Logger: log})
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	j, err := New(config.Job{MeetingURL: lk.URL(roomName), Record: true, FPS: 15, Resolution: config.Resolution{Width: 320, Height: 180}},
		Options{Out: t.TempDir(), Open: open, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer j.Stop(context.Background())
	waitPeers := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			st := j.State()
			if st.State != Running {
				t.Fatalf("%s: the job is %s (%s)", what, st.State, st.Reason)
			}
			if st.Peers == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the job sees %d peers after 15 s, want %d", what, st.Peers, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitPeers("the anchor", 1)
	time.Sleep(time.Second) // its tracks decoding, the output's pools filled
	base := measure(t)
	t.Logf("before the first join: %s", base)
	heapProfile(t, "before")

	started := time.Now()
	for i := range cycles {
		p := publish(fmt.Sprintf("p%03d", i), "alice.webm")
		waitPeers(fmt.Sprintf("cycle %d: the join", i), 2)
		// Long enough for its tracks to be subscribed and decoded.
		time.Sleep(300 * time.Millisecond)
		if err := p.Close(); err != nil {
			t.Fatalf("cycle %d: closing the publisher: %v", i, err)
		}
		waitPeers(fmt.Sprintf("cycle %d: the leave", i), 1)
		if (i+1)%25 == 0 && i+1 < cycles {
			t.Logf("after %d cycles: %s", i+1, measure(t))
		}
	}
	took := time.Since(started)

	var after resources
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		after = measure(t)
		if after.goroutines <= base.goroutines && after.fds <= base.fds || time.Now().After(deadline) {
			break
		}
	}
	heapProfile(t, "after")
	t.Logf("after %d joins and leaves (%.1f s, %.0f ms a cycle): %s", cycles, took.Seconds(), float64(took.Milliseconds())/float64(cycles), after)
	if after.goroutines > base.goroutines {
		t.Errorf("goroutines: %d after the churn, %d before", after.goroutines, base.goroutines)
	}
	if after.fds > base.fds {
		t.Errorf("open files: %d after the churn, %d before", after.fds, base.fds)
	}
	margin := int64(lkChurnRSSMargin)
	if raceEnabled {
		margin = lkChurnRaceRSSMargin
	}
	if grow := after.rss - base.rss; grow > margin {
		t.Errorf("RSS grew by %.1f MiB over the churn, more than the %d MiB allowed (race detector %v)", float64(grow)/(1<<20), margin>>20, raceEnabled)
	}
	if grow := after.heap - base.heap; grow > lkChurnHeapMargin {
		t.Errorf("the Go heap grew by %.1f MiB over the churn, more than the %d MiB allowed", float64(grow)/(1<<20), lkChurnHeapMargin>>20)
	}
	if err := j.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := j.State(); st.State != Stopped || st.Recording.Bytes == 0 {
		t.Errorf("after stop: %s, %d bytes recorded", st.State, st.Recording.Bytes)
	}
}

// heapProfile writes the heap's profile to $ROOMCAST_CHURN_PROFILE/name.pprof
// when that is set, to compare with go tool pprof -base.
func heapProfile(t *testing.T, name string) {
	dir := os.Getenv("ROOMCAST_CHURN_PROFILE")
	if dir == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(filepath.Join(dir, name+".pprof"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}
