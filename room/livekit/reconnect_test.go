package livekit

import (
	"errors"
	"testing"
	"time"

	"github.com/roomcast/roomcast/room"
)

// TestServerRestart kills livekit-server under a recording, starts it again
// on the same ports, then kills it for good. The SDK resumes the session when
// it can; when it cannot (the new server knows nothing of it) it rejoins, and
// the peers come back as the same peers with new tracks. With the server gone
// for good, the room ends with ErrConnectionLost once ReconnectTimeout passes.
func TestServerRestart(t *testing.T) {
	srv := newServer(t, true) // rooms must come back by themselves
	roomName := uniqueRoom("restart")
	alice := startPublisher(t, srv, roomName, "alice", PublisherOptions{Media: mediaFileFor(t, camWebM), Loop: true})
	r, evs, _ := startRecorder(t, Options{URL: srv.url(roomName), APIKey: devKey, APISecret: devSecret, ReconnectTimeout: 8 * time.Second})
	ev, _ := evs.wait(0, 10*time.Second, "alice's camera", isTrackAdded("alice", room.KindVideo, room.SourceRegular))
	vr := readTrack(ev.Track, time.Now())
	vr.waitFor(t, 5*time.Second, "video RTP", func(s readStats) bool { return s.packets > 0 })

	from := evs.len()
	srv.kill()
	killedAt := time.Now()
	_, rc := evs.wait(from, 8*time.Second, "Reconnecting", func(ev room.Event) bool { return ev.Type == room.Reconnecting })
	t.Logf("Reconnecting after %s", time.Since(killedAt).Round(time.Millisecond))
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	_, rd := evs.wait(rc, 8*time.Second, "Reconnected", func(ev room.Event) bool { return ev.Type == room.Reconnected })
	t.Logf("Reconnected %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	vr.waitEOF(t, 5*time.Second)

	// The publisher rejoins on its own; she is the same peer, with new tracks.
	ev, _ = evs.wait(rd, 10*time.Second, "alice's camera again", func(e room.Event) bool {
		return isTrackAdded("alice", room.KindVideo, room.SourceRegular)(e) && e.Track.Info().ID != ev.Track.Info().ID
	})
	nr := readTrack(ev.Track, time.Now())
	nr.waitFor(t, 8*time.Second, "a keyframe after the restart", func(s readStats) bool { return s.keyframes > 0 })

	_ = alice.Close()
	srv.kill()
	killedAt = time.Now()
	evs.waitClosed(15 * time.Second)
	t.Logf("gave up %s after the second kill: %v", time.Since(killedAt).Round(time.Millisecond), r.Err())
	if !errors.Is(r.Err(), ErrConnectionLost) {
		t.Fatalf("Err() = %v, want ErrConnectionLost", r.Err())
	}
	nr.waitEOF(t, 2*time.Second)
}
