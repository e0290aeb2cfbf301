package file

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// TestScreenRoom covers a screen share, a peer's id, role and metadata, and
// scripted mutes: events at the scripted times, no media while muted, video
// resuming at a keyframe and audio with a talkspurt marker.
func TestScreenRoom(t *testing.T) {
	manifest := filepath.Join(roomsDir, "screen.yaml")
	m, err := Load(manifest)
	if err != nil {
		t.Fatal(err)
	}
	spec := &m.Peers[0]
	clock := mediaclock.NewVirtual()
	// alice.webm's audio ends 13.5 ms after 12 s; the presenter joins at 1 s.
	end := 13*time.Second + 13500*time.Microsecond
	res := runRoom(t, manifest, clock, Options{}, end, true)
	facts := loadClipFacts(t)

	type want struct {
		typ   room.EventType
		track string
		at    time.Duration
	}
	wants := []want{
		{room.PeerJoined, "", time.Second},
		{room.TrackAdded, "PA_presenter/audio", time.Second},
		{room.TrackAdded, "PA_presenter/video", time.Second},
		{room.TrackAdded, "PA_presenter/screen", time.Second},
		{room.TrackMuted, "PA_presenter/video", 4 * time.Second},
		{room.TrackUnmuted, "PA_presenter/video", 6 * time.Second},
		{room.TrackMuted, "PA_presenter/audio", 8 * time.Second},
		{room.TrackUnmuted, "PA_presenter/audio", 9 * time.Second},
		{room.TrackRemoved, "PA_presenter/screen", 13 * time.Second},
		{room.TrackRemoved, "PA_presenter/audio", end},
		{room.TrackRemoved, "PA_presenter/video", end},
		{room.PeerLeft, "", end},
	}
	if len(res.events) != len(wants) {
		for _, e := range res.events {
			t.Logf("%v %v", e.at, e.ev)
		}
		t.Fatalf("%d events, want %d", len(res.events), len(wants))
	}
	for i, w := range wants {
		e := res.events[i]
		id := e.ev.TrackID
		if e.ev.Track != nil {
			id = e.ev.Track.Info().ID
		}
		// Joins are exact (the first packets hold the clock); other events
		// can be seen up to a packet later (see Room.awaitEventsTaken).
		if e.ev.Type != w.typ || id != w.track || e.at < w.at || e.at > w.at+25*ms || (w.typ == room.PeerJoined && e.at != w.at) {
			t.Errorf("event %d: %s %s at %v, want %s %s at %v", i, e.ev.Type, id, e.at, w.typ, w.track, w.at)
		}
		if p := e.ev.Peer; p.ID != "PA_presenter" || p.Name != "presenter" || p.Role != "host" || p.Metadata != `{"title":"Quarterly review"}` {
			t.Errorf("event %d: peer %+v", i, p)
		}
	}

	video, audio, screen := res.tracks["PA_presenter/video"], res.tracks["PA_presenter/audio"], res.tracks["PA_presenter/screen"]
	if screen == nil || screen.info.Kind != room.KindVideo || screen.info.Source != room.SourceScreen || screen.info.Codec.MimeType != "video/VP8" {
		t.Fatalf("screen track %+v", screen)
	}
	for _, rec := range []*trackRec{video, audio, screen} {
		checkSequence(t, rec)
		checkSenderReports(t, rec, clock.Epoch(), spec.Join)
	}

	// Camera video: nothing from 4 s to 6 s, then a keyframe at 6 s.
	vmap := srMapper{epoch: clock.Epoch(), sr: video.srs[0], rate: 90000}
	resumed := false
	for _, f := range video.frames {
		at := vmap.at(f.ts)
		if at >= 4*time.Second-ms && at < 6*time.Second-ms {
			t.Fatalf("video frame at %v, during the mute", at)
		}
		if at >= 6*time.Second-ms && !resumed {
			resumed = true
			if d := at - 6*time.Second; d < -ms || d > ms || f.data[0]&1 != 0 {
				t.Errorf("video resumed at %v with keyframe=%v; want a keyframe at 6s", at, f.data[0]&1 == 0)
			}
		}
	}
	if want := 12*30 - 2*30; abs(int64(len(video.frames)-want)) > 1 {
		t.Errorf("%d video frames, want %d (12 s at 30 fps, less the 2 s mute)", len(video.frames), want)
	}
	checkDecodesTo(t, video, facts["alice"])

	// Audio: nothing from 8 s to 9 s; the marker bit starts each talkspurt.
	amap := srMapper{epoch: clock.Epoch(), sr: audio.srs[0], rate: 48000}
	var markers []time.Duration
	for _, p := range audio.pkts {
		at := amap.at(p.ts)
		if at >= 8*time.Second && at < 9*time.Second-ms {
			t.Fatalf("audio packet at %v, during the mute", at)
		}
		if p.marker {
			markers = append(markers, at)
		}
	}
	if len(markers) != 2 || markers[0] > spec.Join || abs(int64(markers[1]-9*time.Second)) > int64(20*ms) {
		t.Errorf("audio markers at %v; want the first packet and the first after 9 s", markers)
	}

	// Screen: 12 s at 15 fps, magenta.
	if n := len(screen.frames); n != 180 {
		t.Errorf("%d screen frames, want 180", n)
	}
	checkTimestampSteps(t, screen, 6000)
	checkDecodesTo(t, screen, facts["slides"])
}

// TestMutedAtJoin: a mute that covers the join time makes the track start
// muted (no TrackMuted event), and it sends nothing until the unmute.
func TestMutedAtJoin(t *testing.T) {
	manifest := writeManifest(t, t.TempDir(), "peers:\n  - {name: m, media: "+clipPath(t, "codec-h264.mp4")+", join: 1s, muteAudio: [{from: 0s, to: 2s}]}\n")
	clock := mediaclock.NewVirtual()
	res := runRoom(t, manifest, clock, Options{}, 3*time.Second, false)
	audio := res.tracks["PA_m/audio"]
	if audio == nil || !audio.info.Muted || res.tracks["PA_m/video"].info.Muted {
		t.Fatalf("tracks %v; want the audio track muted when added", res.order)
	}
	var got []room.EventType
	for _, e := range res.events {
		if e.ev.TrackID == "PA_m/audio" {
			got = append(got, e.ev.Type)
			if e.ev.Type == room.TrackUnmuted && (e.at < 2*time.Second || e.at > 2*time.Second+25*ms) {
				t.Errorf("unmuted at %v, want 2s", e.at)
			}
		}
	}
	if len(got) != 2 || got[0] != room.TrackUnmuted || got[1] != room.TrackRemoved {
		t.Errorf("audio track events %v, want [trackUnmuted trackRemoved]", got)
	}
	if len(audio.pkts) == 0 || audio.pkts[0].at < 2*time.Second || !audio.pkts[0].marker {
		t.Fatalf("first audio packet %+v; want one at 2s or later with the marker bit", audio.pkts[:min(1, len(audio.pkts))])
	}
	if n := len(audio.pkts); n < 45 || n > 52 {
		t.Errorf("%d audio packets, want the last second's ~50", n)
	}
}
