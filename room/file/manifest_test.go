package file

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	roomsDir = "../../testdata/rooms"
	peersDir = "../../testdata/peers"
)

func TestLoadBadManifests(t *testing.T) {
	tests := []struct {
		file string
		want []string // every one must appear in the error
	}{
		{"unknown-field.yaml", []string{"unknown-field.yaml", `peers[0] "alice"`, `unknown field "meda"`, "line 4", "allowed fields: name, id, role, metadata, media, mediaStart, audio, audioStart, screen, screenStart, join, leave, muteVideo, muteAudio"}},
		{"missing-media.yaml", []string{"missing-media.yaml", `peers[1] "bob"`, "field media is missing", "VP8, VP9, H.264 or AV1", "Opus"}},
		{"media-not-found.yaml", []string{"media-not-found.yaml", `peers[0] "alice"`, "field media", "nobody.webm not found", "relative to the manifest's folder"}},
		{"bad-codec.yaml", []string{"bad-codec.yaml", `peers[0] "mallory"`, "field media", "mpeg4-aac.mp4", "stream #0 is video codec mpeg4", "stream #1 is audio codec aac", "video: VP8, VP9, H.264, AV1; audio: Opus"}},
		{"leave-before-join.yaml", []string{"leave-before-join.yaml", `peers[0] "alice"`, `field leave is "3s", not after join "5s"`, "must be later than join"}},
		{"duplicate-names.yaml", []string{"duplicate-names.yaml", `peers[1] "alice"`, "field name", `duplicate name "alice"`, "peers[0]", "must be unique"}},
		{"no-peers.yaml", []string{"no-peers.yaml", "no peers", "add at least one"}},
		{"bad-duration.yaml", []string{"bad-duration.yaml", `peers[0] "alice"`, "field join", `bad duration "3"`, "3s", "500ms"}},
		{"negative-join.yaml", []string{"negative-join.yaml", `peers[0] "alice"`, `field join is "-1s"`, "0s or later"}},
		{"missing-name.yaml", []string{"missing-name.yaml", "peers[1]", "field name is missing", "unique name"}},
		{"screen-no-video.yaml", []string{"screen-no-video.yaml", `peers[0] "alice"`, "field screen", "audio-only.webm has no video stream", "VP8, VP9, H.264 or AV1"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join(roomsDir, "bad", tt.file))
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n  does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLoadInlineManifests covers rules without a committed example.
func TestLoadInlineManifests(t *testing.T) {
	alice, err := filepath.Abs(filepath.Join(peersDir, "alice.webm"))
	if err != nil {
		t.Fatal(err)
	}
	slides, err := filepath.Abs(filepath.Join(peersDir, "slides.webm"))
	if err != nil {
		t.Fatal(err)
	}
	av1, err := filepath.Abs(filepath.Join(peersDir, "codec-av1.webm"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want []string // empty: must load
	}{
		{"empty file", "", []string{"no peers", "empty"}},
		{"not yaml", "peers: [", []string{"invalid YAML"}},
		{"top-level typo", "peer:\n  - name: a\n", []string{`unknown top-level field "peer"`, `only field is "peers"`}},
		{"peers not a list", "peers: alice\n", []string{"field peers must be a list"}},
		{"peer not a mapping", "peers:\n  - alice\n", []string{"peers[0]", "must be a mapping"}},
		{"slash in name", "peers:\n  - name: a/b\n    media: " + alice + "\n", []string{`peers[0] "a/b"`, "field name", "'/'", "give an id"}},
		{"slash in id", "peers:\n  - name: a\n    id: x/y\n    media: " + alice + "\n", []string{`peers[0] "a"`, `field id "x/y"`}},
		{"duplicate ids", "peers:\n  - {name: a, id: X, media: " + alice + "}\n  - {name: b, id: X, media: " + alice + "}\n", []string{`peers[1] "b"`, `duplicate peer id "X"`}},
		{"bad leave", "peers:\n  - {name: a, media: " + alice + ", leave: soon}\n", []string{"field leave", `bad duration "soon"`}},
		{"mute without to", "peers:\n  - {name: a, media: " + alice + ", muteVideo: [{from: 1s}]}\n", []string{"field muteVideo[0]", "needs both from and to"}},
		{"mute backwards", "peers:\n  - {name: a, media: " + alice + ", muteAudio: [{from: 3s, to: 2s}]}\n", []string{"field muteAudio[0]", `from "3s" to "2s"`, "to after from"}},
		{"mute overlap", "peers:\n  - {name: a, media: " + alice + ", muteVideo: [{from: 1s, to: 3s}, {from: 2s, to: 4s}]}\n", []string{"field muteVideo", "overlap"}},
		{"mute typo", "peers:\n  - {name: a, media: " + alice + ", muteVideo: [{from: 1s, until: 3s}]}\n", []string{"muteVideo[0]", `unknown field "until"`, "allowed fields: from, to"}},
		{"mute video of audio-only", "peers:\n  - {name: a, media: " + filepath.Join(filepath.Dir(alice), "../rooms/bad/audio-only.webm") + ", muteVideo: [{from: 1s, to: 2s}]}\n", []string{"field muteVideo", "no video track"}},
		{"wrong type", "peers:\n  - {name: a, media: " + alice + ", muteVideo: yes}\n", []string{"field muteVideo", "must be a list"}},
		{"audio without audio", "peers:\n  - {name: a, media: " + alice + ", audio: " + av1 + "}\n", []string{"field audio", "has no audio stream"}},
		{"audio not found", "peers:\n  - {name: a, media: " + alice + ", audio: nope.webm}\n", []string{"field audio", "nope.webm not found"}},
		{"start before join", "peers:\n  - {name: a, media: " + alice + ", audio: " + alice + ", join: 2s, audioStart: 1s}\n", []string{"field audioStart", "before join"}},
		{"start without file", "peers:\n  - {name: a, media: " + alice + ", screenStart: 1s}\n", []string{"field screenStart", "without screen"}},
		{"start after leave", "peers:\n  - {name: a, media: " + alice + ", mediaStart: 5s, leave: 4s}\n", []string{"field mediaStart", "not before leave"}},
		{"bad start", "peers:\n  - {name: a, media: " + alice + ", mediaStart: 1}\n", []string{"field mediaStart", `bad duration "1"`}},
		{"valid with everything", "peers:\n  - {name: a, id: P1, role: host, metadata: m, media: " + alice + ", screen: " + slides + ", join: 1s, leave: 5s, muteVideo: [{from: 2s, to: 3s}], muteAudio: [{from: 1.5s, to: 2500ms}]}\n", nil},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "m"+string(rune('a'+i))+".yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := Load(path)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				p := m.Peers[0]
				if p.ID != "P1" || p.Role != "host" || p.Join != time.Second || p.Leave != 5*time.Second ||
					p.Screen == nil || len(p.MuteAudio) != 1 || p.MuteAudio[0] != (Interval{1500 * time.Millisecond, 2500 * time.Millisecond}) {
					t.Fatalf("peer = %+v", p)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded; want an error")
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the manifest", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n  does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLoadTrackFiles: a peer made of track files, each starting at its own
// job time (what roomcast --tracks writes, and other systems' per-track
// recordings): the offsets are kept from the join, and the peer lasts until
// its last file ends.
func TestLoadTrackFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tracks.yaml")
	abs := func(name string) string {
		p, err := filepath.Abs(filepath.Join(peersDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	y := "peers:\n  - name: a\n    join: 1s\n    media: " + abs("codec-av1.webm") + "\n    mediaStart: 1.5s\n" +
		"    audio: " + abs("alice.webm") + "\n    audioStart: 1s\n    screen: " + abs("slides.webm") + "\n    screenStart: 3s\n"
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := m.Peers[0]
	if p.MediaOffset != 500*time.Millisecond || p.AudioOffset != 0 || p.ScreenOffset != 2*time.Second {
		t.Errorf("offsets media %v audio %v screen %v, want 500ms 0s 2s", p.MediaOffset, p.AudioOffset, p.ScreenOffset)
	}
	want := max(p.Join+p.MediaOffset+p.Media.Duration, p.Join+p.Audio.Duration, p.Join+p.ScreenOffset+p.Screen.Duration)
	if p.End() != want || p.End() <= p.Join+p.Media.Duration {
		t.Errorf("End() = %v, want %v", p.End(), want)
	}
}

func TestLoadDemo(t *testing.T) {
	m, err := Load(filepath.Join(roomsDir, "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		id, video     string
		w, h          int
		join, leave   time.Duration
		frameRateNum  int
		mediaDuration time.Duration
	}
	wants := []want{
		{"PA_alice", "video/VP8", 320, 240, 0, 0, 30, 12 * time.Second},
		{"PA_bob", "video/VP8", 384, 216, 3 * time.Second, 0, 30, 12 * time.Second},
		{"PA_carol", "video/H264", 320, 240, 0, 7 * time.Second, 30, 12 * time.Second},
		{"PA_dave", "video/VP8", 320, 240, 0, 0, 30, 12 * time.Second},
	}
	if len(m.Peers) != len(wants) {
		t.Fatalf("%d peers, want %d", len(m.Peers), len(wants))
	}
	for i, w := range wants {
		p := m.Peers[i]
		v, a := p.Media.Video, p.Media.Audio
		if p.ID != w.id || v == nil || a == nil || v.Codec.MimeType != w.video || v.Width != w.w || v.Height != w.h ||
			p.Join != w.join || p.Leave != w.leave || v.FrameRateNum/max(v.FrameRateDen, 1) != w.frameRateNum {
			t.Errorf("peer %d = %+v video %+v", i, p, v)
			continue
		}
		if d := p.Media.Duration - w.mediaDuration; d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Errorf("%s: duration %v, want ~%v", p.ID, p.Media.Duration, w.mediaDuration)
		}
		if a.Codec.MimeType != "audio/opus" || a.Codec.ClockRate != 48000 || a.Codec.Channels != 2 || a.PreSkip != 312 {
			t.Errorf("%s: audio %+v", p.ID, a)
		}
	}
	if c := m.Peers[2].Media.Video; c.NALLength != 4 || len(c.ParamSets) != 2 ||
		!strings.Contains(c.Codec.SDPFmtpLine, "profile-level-id=42c0") {
		t.Errorf("carol's H.264: nalLength %d, %d param sets, fmtp %q", c.NALLength, len(c.ParamSets), c.Codec.SDPFmtpLine)
	}
	if end := m.Peers[2].End(); end != 7*time.Second {
		t.Errorf("carol ends at %v, want 7s", end)
	}
}

// FuzzManifest feeds arbitrary bytes to the manifest parser as YAML (JSON is
// YAML too, and the seeds include it). It must not panic; an error must name
// the manifest; an accepted manifest must keep every promise Load makes to
// the room, and parse the same way twice.
func FuzzManifest(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(roomsDir, "*.yaml"))
	bad, _ := filepath.Glob(filepath.Join(roomsDir, "bad", "*.yaml"))
	for _, p := range append(seeds, bad...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"peers": [{"name": "a", "media": "../peers/alice.webm", "screen": "../peers/slides.webm", "join": "1s", "leave": "5s",` +
		` "muteVideo": [{"from": "2s", "to": "3s"}], "muteAudio": [{"from": "1s", "to": "1500ms"}, {"from": "3s", "to": "4s"}]}]}`))
	f.Add([]byte(`{"peers": [{"name": "a", "id": "X", "media": "../peers/carol.mkv"}, {"name": "b", "id": "X", "media": "../peers/bob.webm"}]}`))
	f.Add([]byte("peers:\n  - {name: a, media: ../peers/codec-av1.webm, mediaStart: 1s, audio: ../peers/alice.webm, audioStart: 500ms, join: 500ms}\n" +
		"  - {name: b, media: ../peers/bob.webm, screen: ../peers/slides.webm, screenStart: 2s, leave: 4s}\n"))
	f.Add([]byte("peers:\n  - {name: a, media: ../peers/codec-av1.webm, leave: 2s}\n  - {name: b, media: bad/audio-only.webm, muteAudio: [{from: 0s, to: 1s}]}\n"))

	// The manifest sits beside the real ones, so the seeds' media paths
	// resolve to real files, probed once each.
	path := filepath.Join(roomsDir, "fuzz.yaml")
	type probed struct {
		mf  *MediaFile
		err error
	}
	memo := map[string]probed{}
	testdata, err := filepath.Abs(filepath.Dir(roomsDir))
	if err != nil {
		f.Fatal(err)
	}
	probe := func(p string, screen bool) (*MediaFile, error) {
		key := fmt.Sprint(p, screen)
		r, ok := memo[key]
		if !ok {
			// A mutated path may name a device or a FIFO, which FFmpeg
			// would read for ever: only regular files of testdata are
			// opened.
			abs, _ := filepath.Abs(p)
			st, err := os.Stat(abs)
			if err != nil || !st.Mode().IsRegular() || !strings.HasPrefix(abs, testdata+string(filepath.Separator)) {
				r.err = fmt.Errorf("%s: not a media file of testdata", p)
			} else {
				r.mf, r.err = probeMedia(p, screen)
			}
			memo[key] = r
		}
		return r.mf, r.err
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &Manifest{Path: path}
		err := m.parse(b, probe)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "file room: manifest "+path+": ") {
				t.Fatalf("error %q does not name the manifest", err)
			}
			return
		}
		checkManifest(t, m)
		again := &Manifest{Path: path}
		if err := again.parse(b, probe); err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

// checkManifest asserts what an accepted manifest promises the room.
func checkManifest(t *testing.T, m *Manifest) {
	t.Helper()
	if len(m.Peers) == 0 {
		t.Fatal("accepted a manifest without peers")
	}
	names, ids := map[string]bool{}, map[string]bool{}
	for i, p := range m.Peers {
		if p.Name == "" || p.ID == "" || strings.ContainsAny(p.ID, "/\x00\n\r\t") {
			t.Fatalf("peers[%d]: name %q, id %q", i, p.Name, p.ID)
		}
		if names[p.Name] || ids[p.ID] {
			t.Fatalf("peers[%d]: name %q or id %q repeats", i, p.Name, p.ID)
		}
		names[p.Name], ids[p.ID] = true, true
		if p.Join < 0 || (p.Leave != 0 && p.Leave <= p.Join) {
			t.Fatalf("peers[%d]: join %v, leave %v", i, p.Join, p.Leave)
		}
		if p.Media == nil || (p.Media.Video == nil && p.Media.Audio == nil) {
			t.Fatalf("peers[%d]: media %+v has nothing to send", i, p.Media)
		}
		if p.Screen != nil && p.Screen.Video == nil {
			t.Fatalf("peers[%d]: screen without video", i)
		}
		if (len(p.MuteVideo) > 0 && p.Media.Video == nil) || (len(p.MuteAudio) > 0 && p.Media.Audio == nil) {
			t.Fatalf("peers[%d]: a mute of a track the media lacks", i)
		}
		for _, ivs := range [][]Interval{p.MuteVideo, p.MuteAudio} {
			for j, iv := range ivs {
				if iv.From < 0 || iv.To <= iv.From || (j > 0 && iv.From < ivs[j-1].To) {
					t.Fatalf("peers[%d]: mute intervals %v", i, ivs)
				}
			}
		}
		if end := p.End(); end < p.Join || (p.Leave > 0 && end > p.Leave) {
			t.Fatalf("peers[%d]: ends at %v (join %v, leave %v)", i, end, p.Join, p.Leave)
		}
	}
}
