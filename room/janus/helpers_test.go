package janus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/room"
)

var roomSeq struct {
	sync.Mutex
	n uint64
}

func nextRoomID() uint64 {
	roomSeq.Lock()
	defer roomSeq.Unlock()
	roomSeq.n++
	return 1000 + roomSeq.n
}

func startJanus(t *testing.T) *janustest.Server {
	t.Helper()
	s, err := janustest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("janus log:\n%s", tail(s.Logs(), 3000))
			os.WriteFile("/tmp/janus-last.log", []byte(s.Logs()), 0o644)
		}
		s.Close()
	})
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func newRoom(t *testing.T, s *janustest.Server, r janustest.Room) uint64 {
	t.Helper()
	if r.ID == 0 {
		r.ID = nextRoomID()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.CreateRoom(ctx, r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func peerFile(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "peers", name)
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("JANUS_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func startPublisher(t *testing.T, url, display, media string, extra ...func(*PublisherOptions)) *Publisher {
	t.Helper()
	opts := PublisherOptions{URL: url, Display: display, Media: media, Loop: true, Logger: testLogger(t)}
	for _, f := range extra {
		f(&opts)
	}
	p, err := NewPublisher(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		p.Close()
		t.Fatalf("publisher %s: %v", display, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func startRoom(t *testing.T, opts Options) *Room {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// watcher collects a room's events and drains its tracks, counting packets.
type watcher struct {
	mu      sync.Mutex
	events  []room.Event
	packets map[string]int // by track ID
	tracks  map[string]room.Track
	changed chan struct{}
}

func watch(r room.Room) *watcher {
	w := &watcher{packets: map[string]int{}, tracks: map[string]room.Track{}, changed: make(chan struct{}, 1)}
	go func() {
		for ev := range r.Events() {
			w.mu.Lock()
			w.events = append(w.events, ev)
			if ev.Type == room.TrackAdded {
				tr := ev.Track
				w.tracks[tr.Info().ID] = tr
				go w.drain(tr)
			}
			w.mu.Unlock()
			w.poke()
		}
	}()
	return w
}

func (w *watcher) poke() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watcher) drain(t room.Track) {
	go func() {
		for {
			if _, err := t.ReadRTCP(); err != nil {
				return
			}
		}
	}()
	b := make([]byte, room.MaxPacketSize)
	for {
		if _, err := t.Read(b); err != nil {
			if !errors.Is(err, io.EOF) {
				panic(err)
			}
			return
		}
		w.mu.Lock()
		w.packets[t.Info().ID]++
		w.mu.Unlock()
	}
}

// wait polls cond under the lock until it holds or d passes.
func (w *watcher) wait(t *testing.T, d time.Duration, what string, cond func(w *watcher) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		w.mu.Lock()
		ok := cond(w)
		w.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			w.mu.Lock()
			defer w.mu.Unlock()
			var evs []string
			for _, e := range w.events {
				evs = append(evs, e.String())
			}
			t.Fatalf("after %s: %s did not happen; events:\n%s\npackets %v", d, what, strings.Join(evs, "\n"), w.packets)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// count counts events of a type for a peer ("" any).
func (w *watcher) count(typ room.EventType, peer string) int {
	n := 0
	for _, e := range w.events {
		if e.Type == typ && (peer == "" || e.Peer.ID == peer) {
			n++
		}
	}
	return n
}

// liveTracks returns the tracks added and not removed, by ID.
func (w *watcher) liveTracks() map[string]room.TrackInfo {
	out := map[string]room.TrackInfo{}
	for _, e := range w.events {
		switch e.Type {
		case room.TrackAdded:
			out[e.Track.Info().ID] = e.Track.Info()
		case room.TrackRemoved:
			delete(out, e.TrackID)
		}
	}
	return out
}
