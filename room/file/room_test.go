package file

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

const ms = time.Millisecond

// TestDemoRoomVirtual runs the whole demo room on a virtual clock and checks
// what a pipeline would see: events at the right times, every frame, RTP
// timestamps that step like a camera's and a microphone's, sender reports
// that map them onto the job clock, and pictures and tones that decode to
// each peer's colour and frequency.
func TestDemoRoomVirtual(t *testing.T) {
	manifest := filepath.Join(roomsDir, "demo.yaml")
	m, err := Load(manifest)
	if err != nil {
		t.Fatal(err)
	}
	clock := mediaclock.NewVirtual()
	// The room ends when bob's audio does: he joins at 3 s, and his 601
	// Opus packets run from -6.5 ms to 12.0135 s of his file.
	res := runRoom(t, manifest, clock, Options{}, 15*time.Second+13500*time.Microsecond, true)
	if res.wall > 10*time.Second {
		t.Errorf("the 15 s demo took %v of wall time on the virtual clock", res.wall)
	}
	t.Logf("demo ran in %v", res.wall)
	facts := loadClipFacts(t)

	// Events: per peer, PeerJoined and its TrackAdded at join, then its
	// TrackRemoved and PeerLeft at leave, in that order.
	for _, p := range m.Peers {
		var kinds []room.EventType
		var joinedAt, leftAt time.Duration = -1, -1
		for _, e := range res.events {
			if e.ev.Peer.ID != p.ID {
				continue
			}
			kinds = append(kinds, e.ev.Type)
			switch e.ev.Type {
			case room.PeerJoined, room.TrackAdded:
				if e.at != p.Join {
					t.Errorf("%s: %s received at %v, want exactly %v", p.ID, e.ev.Type, e.at, p.Join)
				}
				joinedAt = e.at
			case room.PeerLeft:
				leftAt = e.at
			}
		}
		want := []room.EventType{room.PeerJoined, room.TrackAdded, room.TrackAdded, room.TrackRemoved, room.TrackRemoved, room.PeerLeft}
		if len(kinds) != len(want) {
			t.Errorf("%s: events %v, want %v", p.ID, kinds, want)
		} else {
			for i := range want {
				if kinds[i] != want[i] {
					t.Errorf("%s: events %v, want %v", p.ID, kinds, want)
					break
				}
			}
		}
		if joinedAt != p.Join {
			t.Errorf("%s: joined at %v, want %v", p.ID, joinedAt, p.Join)
		}
		// Leave: at the scripted time, or when the ~12 s of media end
		// (Opus pre-skip makes the audio a few ms longer).
		lo, hi := p.Join+12*time.Second, p.Join+12*time.Second+30*ms
		if p.Leave > 0 {
			lo, hi = p.Leave, p.Leave
		}
		// The room keeps a virtual clock still until its events are taken,
		// so receipt is at the event's time; the slack covers the race
		// between the receive and the Now() call, during which other
		// peers' packets, due every 20 ms, hold the clock.
		if leftAt < lo || leftAt > hi+50*ms {
			t.Errorf("%s: left at %v, want %v..%v", p.ID, leftAt, lo, hi)
		}
	}

	if len(res.order) != 8 {
		t.Fatalf("%d tracks, want 8", len(res.order))
	}
	for _, id := range res.order {
		rec := res.tracks[id]
		spec := specOf(t, m, rec.peer.ID)
		t.Run(id, func(t *testing.T) {
			end := spec.Join + 12*time.Second
			if spec.Leave > 0 {
				end = spec.Leave
			}
			checkMediaTrack(t, rec, spec, facts[spec.Name], end, clock.Epoch())
		})
	}
	for _, ts := range res.stats.Tracks {
		if ts.Packets == 0 || ts.Frames == 0 || ts.SenderReports == 0 || ts.Lost != 0 || ts.RTCPDropped != 0 {
			t.Errorf("stats %+v", ts)
		}
	}
}

// checkMediaTrack checks one regular track that ran without impairment from
// its peer's join to end: info, sequence, sender reports, frame count and
// timestamp steps, and that it decodes to the clip's colour or tone.
func checkMediaTrack(t *testing.T, rec *trackRec, spec *PeerSpec, fact clipFacts, end time.Duration, epoch time.Time) {
	t.Helper()
	info := rec.info
	checkTrackInfo(t, info, spec, fact)
	checkSequence(t, rec)
	checkSenderReports(t, rec, epoch, spec.Join)

	if info.Kind == room.KindVideo {
		frames := countFrames(rec)
		want := int((end - spec.Join).Seconds() * float64(fact.Video.FPS))
		if abs(int64(frames-want)) > 1 {
			t.Errorf("%d frames, want %d", frames, want)
		}
		checkTimestampSteps(t, rec, 90000/uint32(fact.Video.FPS))
		checkDecodesTo(t, rec, fact)
		return
	}
	want := int((end - spec.Join) / (20 * ms))
	if got := len(rec.pkts); abs(int64(got-want)) > 2 {
		t.Errorf("%d audio packets, want ~%d", got, want)
	}
	checkTimestampSteps(t, rec, 960)
	samples, _ := decodeAudio(t, rec)
	if len(samples) < 48000*3/2 {
		t.Fatalf("decoded %d samples", len(samples))
	}
	if hz := toneHz(samples[48000/2 : len(samples)-48000/2]); math.Abs(hz-fact.Audio.ToneHz) > fact.Audio.ToneHz*0.02 {
		t.Errorf("tone %.1f Hz, want %v", hz, fact.Audio.ToneHz)
	}
}

// checkDecodesTo decodes every frame of a video track and checks each
// picture's size and background colour.
func checkDecodesTo(t *testing.T, rec *trackRec, fact clipFacts) {
	t.Helper()
	n := decodeVideo(t, rec, func(ts uint32, f *astiav.Frame) {
		if f.Width() != fact.Video.Width || f.Height() != fact.Video.Height {
			t.Fatalf("decoded %dx%d, want %dx%d", f.Width(), f.Height(), fact.Video.Width, fact.Video.Height)
		}
		if got := cornerYUV(t, f); !near(got, fact.Background.YUV, 12) {
			t.Fatalf("frame at ts %d has background YUV %v, want ~%v", ts, got, fact.Background.YUV)
		}
	})
	if n != len(rec.frames) || n == 0 {
		t.Errorf("decoded %d pictures from %d frames", n, len(rec.frames))
	}
}

// TestCodecsRoom sends VP9, AV1 and H.264-from-MP4 and decodes them back.
func TestCodecsRoom(t *testing.T) {
	manifest := filepath.Join(roomsDir, "codecs.yaml")
	m, err := Load(manifest)
	if err != nil {
		t.Fatal(err)
	}
	clock := mediaclock.NewVirtual()
	res := runRoom(t, manifest, clock, Options{}, 2*time.Second, true)
	facts := loadClipFacts(t)
	if len(res.order) != 5 {
		t.Fatalf("tracks %v, want 5", res.order)
	}
	for _, id := range res.order {
		rec := res.tracks[id]
		spec := specOf(t, m, rec.peer.ID)
		t.Run(id, func(t *testing.T) {
			checkMediaTrack(t, rec, spec, facts[spec.Name], spec.Join+2*time.Second, clock.Epoch())
		})
	}
}

func specOf(t *testing.T, m *Manifest, peerID string) *PeerSpec {
	t.Helper()
	for i := range m.Peers {
		if m.Peers[i].ID == peerID {
			return &m.Peers[i]
		}
	}
	t.Fatalf("no peer %s", peerID)
	return nil
}

func checkTrackInfo(t *testing.T, info room.TrackInfo, spec *PeerSpec, fact clipFacts) {
	t.Helper()
	if info.PeerID != spec.ID || info.Source != room.SourceRegular || info.Muted {
		t.Errorf("info %+v", info)
	}
	switch info.Kind {
	case room.KindVideo:
		want := room.Codec{MimeType: "video/" + fact.Video.Codec, ClockRate: 90000}
		if info.ID != spec.ID+"/video" || info.Codec.MimeType != want.MimeType || info.Codec.ClockRate != 90000 || info.Codec.PayloadType == 0 {
			t.Errorf("video info %+v, want codec %+v", info, want)
		}
		if fact.Video.Codec == "H264" && !strings.Contains(info.Codec.SDPFmtpLine, "packetization-mode=1") {
			t.Errorf("H.264 fmtp %q", info.Codec.SDPFmtpLine)
		}
	case room.KindAudio:
		if info.ID != spec.ID+"/audio" || info.Codec.MimeType != "audio/opus" || info.Codec.ClockRate != 48000 || info.Codec.Channels != 2 {
			t.Errorf("audio info %+v", info)
		}
	}
}

// checkSequence wants consecutive sequence numbers from one SSRC's packets.
func checkSequence(t *testing.T, rec *trackRec) {
	t.Helper()
	for i := 1; i < len(rec.pkts); i++ {
		if rec.pkts[i].seq != rec.pkts[i-1].seq+1 {
			t.Fatalf("packet %d: seq %d after %d", i, rec.pkts[i].seq, rec.pkts[i-1].seq)
		}
	}
}

// checkSenderReports checks that every sender report describes the same
// RTP-to-job-time mapping and that, through it, every packet was delivered
// exactly at its media time (the virtual clock has no jitter).
func checkSenderReports(t *testing.T, rec *trackRec, epoch time.Time, join time.Duration) {
	t.Helper()
	if len(rec.srs) == 0 {
		t.Fatal("no sender reports")
	}
	rate := float64(rec.info.Codec.ClockRate)
	first := srMapper{epoch: epoch, sr: rec.srs[0], rate: rate}
	dur := rec.pkts[len(rec.pkts)-1].at - rec.pkts[0].at
	// One a second of media sent: a scripted mute sends none.
	if n := len(rec.srs); n < int(dur.Seconds()*3/4) || n > int(dur.Seconds())+2 {
		t.Errorf("%d sender reports over %v, want about one a second", n, dur)
	}
	for i, sr := range rec.srs {
		m := srMapper{epoch: epoch, sr: sr, rate: rate}
		if d := m.at(sr.RTPTime) - first.at(sr.RTPTime); d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("sender report %d maps %v away from the first", i, d)
		}
		if i > 0 && (sr.PacketCount <= rec.srs[i-1].PacketCount || sr.OctetCount <= rec.srs[i-1].OctetCount) {
			t.Errorf("sender report %d counts %d/%d after %d/%d", i, sr.PacketCount, sr.OctetCount, rec.srs[i-1].PacketCount, rec.srs[i-1].OctetCount)
		}
	}
	if rec.srs[0].PacketCount != 0 {
		t.Errorf("first sender report counts %d packets; it goes before the first", rec.srs[0].PacketCount)
	}
	for i, p := range rec.pkts {
		media := first.at(p.ts)
		if media < join {
			// Opus pre-roll: media time just before join, sent at join.
			if p.at != join || media < join-20*ms {
				t.Errorf("packet %d: media time %v, delivered at %v", i, media, p.at)
			}
			continue
		}
		if d := p.at - media; d < -ms || d > ms {
			t.Fatalf("packet %d (ts %d) delivered at %v, its media time is %v", i, p.ts, p.at, media)
		}
	}
}

// checkTimestampSteps wants every new frame step exactly one frame duration.
func checkTimestampSteps(t *testing.T, rec *trackRec, step uint32) {
	t.Helper()
	for i := 1; i < len(rec.pkts); i++ {
		if d := rec.pkts[i].ts - rec.pkts[i-1].ts; d != 0 && d != step {
			t.Fatalf("packet %d: timestamp step %d, want %d", i, d, step)
		}
	}
}

// countFrames counts frames by marker bit, checking that each marker closes
// one timestamp.
func countFrames(rec *trackRec) int {
	n := 0
	for _, p := range rec.pkts {
		if p.marker {
			n++
		}
	}
	return n
}

func near(a, b [3]int, tol int) bool {
	for i := range a {
		if abs(int64(a[i]-b[i])) > int64(tol) {
			return false
		}
	}
	return true
}

// toneHz estimates a sine's frequency from its zero crossings.
func toneHz(s []float32) float64 {
	n := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			n++
		}
	}
	return float64(n) / 2 / (float64(len(s)) / 48000)
}

// TestRealClockNeverEarly plays a slice of the sync room on the real clock
// and checks that no packet arrives more than 20 ms before its media time.
func TestRealClockNeverEarly(t *testing.T) {
	dir := t.TempDir()
	manifest := writeManifest(t, dir, `peers:
  - {name: a, media: `+clipPath(t, "sync-a.webm")+`, leave: 1200ms}
  - {name: b, media: `+clipPath(t, "sync-b.webm")+`, join: 300ms, leave: 1s}
`)
	clock := mediaclock.NewReal()
	res := runRoom(t, manifest, clock, Options{}, 0, false)
	m, err := Load(manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range res.order {
		rec := res.tracks[id]
		spec := specOf(t, m, rec.peer.ID)
		if len(rec.srs) == 0 || len(rec.pkts) == 0 {
			t.Fatalf("%s: %d packets, %d sender reports", id, len(rec.pkts), len(rec.srs))
		}
		mp := srMapper{epoch: clock.Epoch(), sr: rec.srs[0], rate: float64(rec.info.Codec.ClockRate)}
		late := time.Duration(0)
		for i, p := range rec.pkts {
			media := max(mp.at(p.ts), spec.Join)
			if p.at < media-20*ms {
				t.Errorf("%s packet %d arrived at %v, %v before its media time %v", id, i, p.at, media-p.at, media)
			}
			late = max(late, p.at-media)
		}
		t.Logf("%s: %d packets, latest %v after its media time", id, len(rec.pkts), late)
	}
	if res.wall < time.Second {
		t.Errorf("1.2 s of media played in %v on the real clock", res.wall)
	}
}

func clipPath(t *testing.T, clip string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(peersDir, clip))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeManifest(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "room.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
