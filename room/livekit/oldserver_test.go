package livekit

import (
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/lktest"
	"github.com/roomcast/roomcast/room"
)

// TestOldServerSmoke keeps livekit-server v1.8.4 covered now that the other
// tests run on v1.9.11: the recorder joins, and gets a publisher's VP8
// keyframes, its audio, and sender reports for its video.
func TestOldServerSmoke(t *testing.T) {
	ls, err := lktest.NewVersion(t.TempDir(), true, lktest.OldVersion)
	if err != nil {
		t.Fatal(err)
	}
	srv := &lkServer{ls}
	t.Cleanup(func() {
		srv.kill()
		if t.Failed() {
			t.Logf("livekit-server %s log tail:\n%s", lktest.OldVersion, tail(srv.logs(), 6000))
		}
	})
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	roomName := uniqueRoom("old")
	startPublisher(t, srv, roomName, "alice", PublisherOptions{Media: mediaFileFor(t, camWebM), Loop: true})
	_, evs, _ := startRecorder(t, Options{URL: srv.url(roomName), APIKey: devKey, APISecret: devSecret})
	vev, _ := evs.wait(0, 10*time.Second, "alice's camera", isTrackAdded("alice", room.KindVideo, room.SourceRegular))
	aev, _ := evs.wait(0, 10*time.Second, "alice's microphone", isTrackAdded("alice", room.KindAudio, room.SourceRegular))
	vr := readTrack(vev.Track, time.Now())
	ar := readTrack(aev.Track, time.Now())
	vr.waitFor(t, 10*time.Second, "a VP8 keyframe and a video sender report", func(s readStats) bool { return s.keyframes > 0 && s.srs > 0 })
	ar.waitFor(t, 5*time.Second, "audio RTP", func(s readStats) bool { return s.packets > 50 })
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
