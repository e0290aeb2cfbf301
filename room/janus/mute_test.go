package janus

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/room"
)

// TestStoppedStreamIsMuted: alice stops sending her video without
// unpublishing; the recorder sees the track muted, then unmuted.
func TestStoppedStreamIsMuted(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{})
	url := s.URL(id)
	alice := startPublisher(t, url, "alice", peerFile(t, "alice.webm"))
	w := watch(startRoom(t, Options{URL: url}))
	w.wait(t, 10*time.Second, "alice's video", func(w *watcher) bool { return w.packets[alice.ID()+"/0"] > 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := alice.SetSending(ctx, room.KindVideo, false); err != nil {
		t.Fatal(err)
	}
	w.wait(t, 10*time.Second, "alice's video muted", func(w *watcher) bool { return w.count(room.TrackMuted, alice.ID()) == 1 })
	if err := alice.SetSending(ctx, room.KindVideo, true); err != nil {
		t.Fatal(err)
	}
	w.wait(t, 10*time.Second, "alice's video unmuted", func(w *watcher) bool { return w.count(room.TrackUnmuted, alice.ID()) == 1 })
}
