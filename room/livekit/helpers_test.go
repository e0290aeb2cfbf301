package livekit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"

	"github.com/roomcast/roomcast/room"
)

// testLogger logs to the test, and stops when the test ends (the SDK's
// goroutines may still log after). It also keeps everything it wrote, so a
// test can check that no secret was logged.
type testLogger struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
	all  bytes.Buffer
}

func newTestLogger(t testing.TB, level slog.Level) (*slog.Logger, *testLogger) {
	tl := &testLogger{t: t}
	t.Cleanup(func() {
		tl.mu.Lock()
		tl.done = true
		tl.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: level})), tl
}

func (l *testLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	if !l.done {
		l.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func (l *testLogger) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// eventLog collects a room's events for tests to wait on.
type eventLog struct {
	t       testing.TB
	mu      sync.Mutex
	evs     []room.Event
	closed  bool
	changed chan struct{}
}

func collect(t testing.TB, r room.Room) *eventLog {
	l := &eventLog{t: t, changed: make(chan struct{})}
	go func() {
		for ev := range r.Events() {
			t.Logf("event: %s", ev)
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
		l.mu.Lock()
		l.closed = true
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}()
	return l
}

// wait returns the first event at or after index from that matches, and its
// index.
func (l *eventLog) wait(from int, timeout time.Duration, what string, match func(room.Event) bool) (room.Event, int) {
	l.t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		for i := from; i < len(l.evs); i++ {
			if match(l.evs[i]) {
				ev := l.evs[i]
				l.mu.Unlock()
				return ev, i
			}
		}
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			l.t.Fatalf("events closed while waiting for %s", what)
		}
		select {
		case <-changed:
		case <-deadline:
			l.t.Fatalf("no %s within %s", what, timeout)
		}
	}
}

func (l *eventLog) waitClosed(timeout time.Duration) {
	l.t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		closed, changed := l.closed, l.changed
		l.mu.Unlock()
		if closed {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			l.t.Fatalf("events not closed within %s", timeout)
		}
	}
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.evs)
}

func isEvent(typ room.EventType, peer string) func(room.Event) bool {
	return func(ev room.Event) bool { return ev.Type == typ && ev.Peer.ID == peer }
}

func isTrackAdded(peer string, kind room.Kind, source room.Source) func(room.Event) bool {
	return func(ev room.Event) bool {
		if ev.Type != room.TrackAdded || ev.Peer.ID != peer {
			return false
		}
		i := ev.Track.Info()
		return i.Kind == kind && i.Source == source
	}
}

func isTrackEvent(typ room.EventType, trackID string) func(room.Event) bool {
	return func(ev room.Event) bool { return ev.Type == typ && ev.TrackID == trackID }
}

// readStats is what a reader saw.
type readStats struct {
	firstAt   time.Duration // since start, to the first packet
	packets   int
	keyframes int
	width     int
	height    int
	srs       int
	err       error
}

// reader drains a track as the worker would and records what it saw.
type reader struct {
	mu    sync.Mutex
	start time.Time
	readStats
	done chan struct{}
}

func readTrack(tr room.Track, start time.Time) *reader {
	rd := &reader{start: start, done: make(chan struct{})}
	go func() {
		defer close(rd.done)
		isVP8 := tr.Info().Codec.MimeType == "video/VP8"
		for {
			p, err := room.ReadRTP(tr)
			if err != nil {
				rd.mu.Lock()
				rd.err = err
				rd.mu.Unlock()
				return
			}
			rd.mu.Lock()
			if rd.packets == 0 {
				rd.firstAt = time.Since(rd.start)
			}
			rd.packets++
			if isVP8 {
				if w, h, ok := vp8Keyframe(p.Payload); ok {
					rd.keyframes++
					rd.width, rd.height = w, h
				}
			}
			rd.mu.Unlock()
		}
	}()
	go func() {
		for {
			pkts, err := tr.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if _, ok := p.(*rtcp.SenderReport); ok {
					rd.mu.Lock()
					rd.srs++
					rd.mu.Unlock()
				}
			}
		}
	}()
	return rd
}

// vp8Keyframe depacketizes the start of a VP8 frame and reports whether it
// is a keyframe, with its size: proof that real VP8 came through.
func vp8Keyframe(payload []byte) (w, h int, ok bool) {
	var vp8 codecs.VP8Packet
	b, err := vp8.Unmarshal(payload)
	if err != nil || vp8.S != 1 || vp8.PID != 0 || len(b) < 10 {
		return 0, 0, false
	}
	// Frame tag bit 0 is 0 for a keyframe, which then carries the start
	// code 9d 01 2a and the 14-bit width and height.
	if b[0]&1 != 0 || b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
		return 0, 0, false
	}
	return int(binary.LittleEndian.Uint16(b[6:8]) & 0x3fff), int(binary.LittleEndian.Uint16(b[8:10]) & 0x3fff), true
}

func (rd *reader) snapshot() readStats {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	return rd.readStats
}

func (rd *reader) waitFor(t testing.TB, timeout time.Duration, what string, ok func(readStats) bool) readStats {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := rd.snapshot()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("track reader: no %s within %s (have %+v)", what, timeout, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (rd *reader) waitEOF(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-rd.done:
		if err := rd.snapshot().err; !errors.Is(err, io.EOF) {
			t.Fatalf("ReadRTP ended with %v, want io.EOF", err)
		}
	case <-time.After(timeout):
		t.Fatalf("ReadRTP did not return io.EOF within %s", timeout)
	}
}

func startPublisher(t testing.TB, srv *lkServer, roomName, identity string, opts PublisherOptions) *Publisher {
	t.Helper()
	return startPublisherFor(t, t, srv, roomName, identity, opts)
}

// startPublisherFor is startPublisher for a publisher that owner, a parent
// of the (sub)test t, closes when it ends: one that outlives t.
func startPublisherFor(t, owner testing.TB, srv *lkServer, roomName, identity string, opts PublisherOptions) *Publisher {
	t.Helper()
	opts.URL = srv.url(roomName)
	opts.APIKey, opts.APISecret = devKey, devSecret
	opts.Identity = identity
	if opts.Logger == nil {
		opts.Logger, _ = newTestLogger(t, slog.LevelWarn)
	}
	p, err := NewPublisher(opts)
	if err != nil {
		t.Fatal(err)
	}
	owner.Cleanup(func() { _ = p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatalf("publisher %s: %v", identity, err)
	}
	return p
}

func startRecorder(t testing.TB, opts Options) (*Room, *eventLog, time.Duration) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger, _ = newTestLogger(t, slog.LevelInfo)
	}
	began := time.Now()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	// The context bounds the room's whole life, not just the join (which
	// Options.JoinTimeout bounds), so it lasts as long as the test.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := r.Start(ctx); err != nil {
		t.Fatalf("recorder Start: %v", err)
	}
	return r, collect(t, r), time.Since(began)
}

func uniqueRoom(prefix string) string { return fmt.Sprintf("%s-%s", prefix, randomSuffix()) }
