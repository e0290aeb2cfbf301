package janus

import (
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/room"
)

// TestActiveSpeaker: VideoRoom tells subscribers nothing about who talks,
// but passes on the RFC 6464 levels: alice's loud audio makes her the
// active speaker, bob's silence does not; then they swap.
func TestActiveSpeaker(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{})
	url := s.URL(id)
	loud, quiet := uint8(10), uint8(127)
	alice := startPublisher(t, url, "alice", peerFile(t, "alice.webm"), func(o *PublisherOptions) { o.AudioLevel = &loud })
	bob := startPublisher(t, url, "bob", peerFile(t, "bob.webm"), func(o *PublisherOptions) { o.AudioLevel = &quiet })
	w := watch(startRoom(t, Options{URL: url}))
	last := func(w *watcher) []room.Speaker {
		for i := len(w.events) - 1; i >= 0; i-- {
			if w.events[i].Type == room.ActiveSpeakers {
				return w.events[i].Speakers
			}
		}
		return nil
	}
	w.wait(t, 10*time.Second, "alice speaking", func(w *watcher) bool {
		sp := last(w)
		return len(sp) == 1 && sp[0].PeerID == alice.ID() && sp[0].Level > 80 && sp[0].TrackID == alice.ID()+"/1"
	})
	alice.SetAudioLevel(127)
	bob.SetAudioLevel(20)
	w.wait(t, 10*time.Second, "bob speaking instead", func(w *watcher) bool {
		sp := last(w)
		return len(sp) == 1 && sp[0].PeerID == bob.ID()
	})
}
