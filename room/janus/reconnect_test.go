package janus

import (
	"errors"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/room"
)

// TestJanusRestart: Janus restarts, the room is made again and alice
// publishes again; the recorder says Reconnecting, then Reconnected, and
// gets her new tracks.
func TestJanusRestart(t *testing.T) {
	s := startJanus(t)
	spec := janustest.Room{ID: nextRoomID()}
	newRoom(t, s, spec)
	url := s.URL(spec.ID)
	alice := startPublisher(t, url, "alice", peerFile(t, "alice.webm"))
	w := watch(startRoom(t, Options{URL: url, ReconnectTimeout: 20 * time.Second}))
	w.wait(t, 10*time.Second, "alice's video", func(w *watcher) bool { return w.packets[alice.ID()+"/0"] > 20 })
	s.Kill()
	alice.Close()
	w.wait(t, 10*time.Second, "reconnecting", func(w *watcher) bool {
		return w.count(room.Reconnecting, "") == 1 && len(w.liveTracks()) == 0
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	newRoom(t, s, spec)
	alice2 := startPublisher(t, url, "alice", peerFile(t, "alice.webm"))
	w.wait(t, 15*time.Second, "reconnected with alice's new video", func(w *watcher) bool {
		return w.count(room.Reconnected, "") == 1 && w.packets[alice2.ID()+"/0"] > 20
	})
}

// TestJanusGone: Janus stops for good; the room ends after
// ReconnectTimeout with ErrConnectionLost.
func TestJanusGone(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{})
	r := startRoom(t, Options{URL: s.URL(id), ReconnectTimeout: 3 * time.Second})
	w := watch(r)
	time.Sleep(500 * time.Millisecond)
	s.Kill()
	deadline := time.After(20 * time.Second)
	for {
		w.mu.Lock()
		n := len(w.events)
		w.mu.Unlock()
		select {
		case <-deadline:
			t.Fatalf("the room did not end (%d events)", n)
		case <-time.After(100 * time.Millisecond):
		}
		if err := r.Err(); err != nil {
			if !errors.Is(err, ErrConnectionLost) {
				t.Fatalf("the room ended with %v, want ErrConnectionLost", err)
			}
			t.Logf("ended: %v", err)
			return
		}
	}
}
