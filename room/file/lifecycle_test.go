package file

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtp"

	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

func newTestPacket() *rtp.Packet { return &rtp.Packet{Header: rtp.Header{Version: 2}} }

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelError) // no decoder banners in test output
	m.Run()
}

// sleepsPast checks that a virtual clock is free: nothing holds it, so a
// sleeper gets to d.
func sleepsPast(t *testing.T, clock *mediaclock.Virtual, d time.Duration) {
	t.Helper()
	clock.Hold()
	done := make(chan error, 1)
	go func() { done <- clock.SleepUntil(context.Background(), d); clock.Release() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the clock is stuck at %v: something still holds it", clock.Now())
	}
}

// waitGoroutines waits for the goroutine count to fall back to n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseMidRoom closes a running room whose readers stopped mid-stream,
// holding the clock and leaving packets queued: Close must release all of
// it, end every read with io.EOF, and leave no goroutine behind.
func TestCloseMidRoom(t *testing.T) {
	base := runtime.NumGoroutine()
	clock := mediaclock.NewVirtual()
	r, err := Open(filepath.Join(roomsDir, "demo.yaml"), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err == nil {
		t.Error("a second Start succeeded")
	}
	// Take the three peers that join at 0 and read one packet of each
	// track (all are due at 0), then stop reading: each packet's hold
	// stays with us, and the rest stay queued.
	var tracks []room.Track
	for len(tracks) < 6 {
		ev := <-r.Events()
		if ev.Type == room.TrackAdded {
			tracks = append(tracks, ev.Track)
		}
	}
	for _, tr := range tracks {
		if _, err := room.ReadRTP(tr); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if now := clock.Now(); now != 0 {
		t.Fatalf("clock at %v while readers hold packets", now)
	}

	// Keyframe requests are counted per track, and never block.
	for range 2 {
		if err := tracks[1].RequestKeyframe(); err != nil {
			t.Fatal(err)
		}
	}
	for _, ts := range r.Stats().Tracks {
		if want := map[bool]uint64{true: 2}[ts.TrackID == tracks[1].Info().ID]; ts.KeyframeRequests != want {
			t.Errorf("%s: %d keyframe requests, want %d", ts.TrackID, ts.KeyframeRequests, want)
		}
	}

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	for _, tr := range tracks {
		if p, err := room.ReadRTP(tr); !errors.Is(err, io.EOF) {
			t.Errorf("%s: ReadRTP after Close = %v, %v; want io.EOF", tr.Info().ID, p, err)
		}
		if _, err := tr.ReadRTCP(); !errors.Is(err, io.EOF) {
			t.Errorf("%s: ReadRTCP after Close = %v; want io.EOF", tr.Info().ID, err)
		}
	}
	for range r.Events() { // drains, then must be closed
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err() after Close = %v, want nil", err)
	}
	sleepsPast(t, clock, time.Hour)
	waitGoroutines(t, base)
}

// TestReadsDrainThenEOF: a removed track hands out what is queued, then
// io.EOF, releasing each packet's hold as the reader comes back.
func TestReadsDrainThenEOF(t *testing.T) {
	clock := mediaclock.NewVirtual()
	tr := newTrack(room.TrackInfo{ID: "x/video"}, clock)
	for range 3 {
		tr.push(newTestPacket())
	}
	tr.end()
	tr.push(newTestPacket()) // after the end: dropped, hold released
	for i := range 3 {
		if _, err := room.ReadRTP(tr); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if _, err := room.ReadRTP(tr); !errors.Is(err, io.EOF) {
		t.Fatalf("fourth read: %v, want io.EOF", err)
	}
	if _, err := tr.ReadRTCP(); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadRTCP: %v, want io.EOF", err)
	}
	sleepsPast(t, clock, time.Second)
	tr.close() // after EOF: nothing left to release (Release would panic)
}

// TestCloseBeforeStart: Open's hold is released and Events is closed.
func TestCloseBeforeStart(t *testing.T) {
	clock := mediaclock.NewVirtual()
	r, err := Open(filepath.Join(roomsDir, "demo.yaml"), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, ok := <-r.Events(); ok {
		t.Error("Events is open after Close")
	}
	if err := r.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
	sleepsPast(t, clock, time.Second)
}

// TestStartContextCancelled: cancelling Start's context ends the room with
// the context's error.
func TestStartContextCancelled(t *testing.T) {
	base := runtime.NumGoroutine()
	clock := mediaclock.NewReal()
	r, err := Open(filepath.Join(roomsDir, "demo.yaml"), Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ev := <-r.Events()
	if ev.Type != room.PeerJoined {
		t.Fatalf("first event %v", ev)
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-r.Events():
		case <-deadline:
			t.Fatal("Events did not close after the context was cancelled")
		}
	}
	if err := r.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err() = %v, want context.Canceled", err)
	}
	r.Close()
	waitGoroutines(t, base)
}
