package janus

import (
	"github.com/roomcast/roomcast/internal/janustest"
	"testing"
	"time"

	"github.com/roomcast/roomcast/room"
)

// TestRecordsPublishers: a VP8 publisher already in the room and an H.264
// one who joins later are both subscribed, on one subscription, and their
// packets flow.
func TestRecordsPublishers(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{})
	url := s.URL(id)
	alice := startPublisher(t, url, "alice", peerFile(t, "alice.webm"))
	r := startRoom(t, Options{URL: url})
	w := watch(r)
	w.wait(t, 10*time.Second, "alice's two tracks flowing", func(w *watcher) bool {
		return w.packets[alice.ID()+"/0"] > 20 && w.packets[alice.ID()+"/1"] > 20
	})
	carol := startPublisher(t, url, "carol", peerFile(t, "carol.mkv"))
	w.wait(t, 10*time.Second, "carol's H.264 flowing", func(w *watcher) bool {
		return w.packets[carol.ID()+"/0"] > 20
	})
	w.mu.Lock()
	info := w.liveTracks()
	w.mu.Unlock()
	if c := info[carol.ID()+"/0"].Codec.MimeType; c != "video/H264" {
		t.Errorf("carol's video codec %q, want video/H264", c)
	}
	if c := info[alice.ID()+"/0"].Codec.MimeType; c != "video/VP8" {
		t.Errorf("alice's video codec %q, want video/VP8", c)
	}
	if k := info[alice.ID()+"/1"].Kind; k != room.KindAudio {
		t.Errorf("alice's second track is %s", k)
	}
	carol.Close()
	w.wait(t, 10*time.Second, "carol leaving", func(w *watcher) bool {
		return w.count(room.PeerLeft, carol.ID()) == 1 && len(w.liveTracks()) == 2
	})
}

// TestAV1: an AV1 publisher's video arrives as video/AV1.
func TestAV1(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{VideoCodec: "av1"})
	url := s.URL(id)
	p := startPublisher(t, url, "ada", peerFile(t, "codec-av1.webm"))
	w := watch(startRoom(t, Options{URL: url}))
	w.wait(t, 10*time.Second, "ada's AV1 flowing", func(w *watcher) bool { return w.packets[p.ID()+"/0"] > 10 })
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.liveTracks()[p.ID()+"/0"].Codec.MimeType; c != "video/AV1" {
		t.Errorf("codec %q, want video/AV1", c)
	}
}
