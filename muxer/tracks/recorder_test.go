package tracks

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/file"
)

func TestSafeName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"PA_alice/video", "PA_alice_video"},
		{"../../etc/passwd", "etc_passwd"},
		{"Zoë K.", "Zo___K"},
		{"", "track"},
		{"///", "track"},
		{strings.Repeat("a", 100), strings.Repeat("a", 64)},
	} {
		if got := safeName(tc.in); got != tc.want {
			t.Errorf("safeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCodecErrors(t *testing.T) {
	if _, err := codecOf("video/H265"); err == nil || !strings.Contains(err.Error(), "video/H265") {
		t.Errorf("H.265: %v, want an error naming it", err)
	}
	cp := astiav.AllocCodecParameters()
	defer cp.Free()
	for _, tc := range []struct {
		mime  string
		first []byte
		want  string
	}{
		{"video/VP8", []byte{0x10, 0, 0, 1, 2, 3, 4, 5, 6, 7}, "start code"},
		{"video/H264", []byte{0, 0, 0, 1, 0x65, 0x88}, "without SPS and PPS"},
		{"video/AV1", []byte{0x12, 0x00}, "sequence header"},
		{"audio/opus", nil, "empty opus packet"},
	} {
		c, err := codecOf(tc.mime)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.params(cp, tc.first); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.mime, err, tc.want)
		}
	}
}

// The manifest lists peers in join order with their offsets, and room/file
// loads it.
func TestManifestLoads(t *testing.T) {
	dir := t.TempDir()
	r, err := New(Options{JobDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	peers := filepath.Join("..", "..", "testdata", "peers")
	r.AddPeer(room.Peer{ID: "PA_a", Name: "a/b"}, 0)
	r.AddPeer(room.Peer{ID: "P 2", Name: "late"}, 2*time.Second)
	// Files as the writers would have opened them (copies of real media,
	// so that the file room's probe passes).
	for _, f := range []struct {
		info  room.TrackInfo
		src   string
		start time.Duration
	}{
		{room.TrackInfo{ID: "P 2/audio", PeerID: "P 2", Kind: room.KindAudio, Codec: room.Codec{MimeType: "audio/opus"}}, "alice.webm", 2 * time.Second},
		{room.TrackInfo{ID: "PA_a/video", PeerID: "PA_a", Kind: room.KindVideo, Codec: room.Codec{MimeType: "video/VP8"}}, "codec-av1.webm", 100 * time.Millisecond},
		{room.TrackInfo{ID: "PA_a/audio", PeerID: "PA_a", Kind: room.KindAudio, Codec: room.Codec{MimeType: "audio/opus"}}, "alice.webm", -6 * time.Millisecond},
		{room.TrackInfo{ID: "PA_a/screen", PeerID: "PA_a", Kind: room.KindVideo, Source: room.SourceScreen, Codec: room.Codec{MimeType: "video/VP8"}}, "slides.webm", 3 * time.Second},
	} {
		w, err := r.Writer(f.info)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(peers, f.src))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(w.path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		w.opened(f.start)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r.SetMuted("PA_a/video", true, time.Second)
	r.SetMuted("PA_a/video", false, 2*time.Second)
	r.SetMuted("PA_a/audio", true, 4*time.Second) // still muted when a leaves
	r.SetMuted("P 2/audio", true, 5*time.Second)  // and when the job ends
	r.RemovePeer("PA_a", 5*time.Second)
	if err := r.Close(6 * time.Second); err != nil {
		t.Fatal(err)
	}
	m, err := file.Load(filepath.Join(dir, Dir, Manifest))
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, Dir, Manifest))
		t.Fatalf("%v\n%s", err, b)
	}
	if len(m.Peers) != 2 {
		t.Fatalf("%d peers, want 2", len(m.Peers))
	}
	a, late := m.Peers[0], m.Peers[1]
	if a.Name != "a_b" || a.ID != "PA_a" || a.Join != 0 || a.Leave != 5*time.Second || a.MediaOffset != 100*time.Millisecond ||
		a.Audio == nil || a.AudioOffset != 0 || a.Screen == nil || a.ScreenOffset != 3*time.Second ||
		!slices.Equal(a.MuteVideo, []file.Interval{{From: time.Second, To: 2 * time.Second}}) ||
		!slices.Equal(a.MuteAudio, []file.Interval{{From: 4 * time.Second, To: 5 * time.Second}}) {
		t.Errorf("first peer %+v", a)
	}
	if late.ID != "P_2" || late.Join != 2*time.Second || late.Media == nil || late.Media.Audio == nil || late.Audio != nil ||
		!slices.Equal(late.MuteAudio, []file.Interval{{From: 5 * time.Second, To: 6 * time.Second}}) {
		t.Errorf("late peer %+v", late)
	}
	files := r.Files()
	if len(files) != 4 || files[0].Path != "tracks/late-mic-P_2_audio.webm" || files[3].Path != "tracks/a_b-screen-PA_a_screen.webm" {
		t.Errorf("files %+v", files)
	}
}

// A stuck disk never blocks Frame: the queue fills, then frames are
// dropped, video up to its next keyframe, and what was queued is written
// once the disk moves again.
func TestWriterQueueFull(t *testing.T) {
	c, err := codecOf("video/VP8")
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(filepath.Join(t.TempDir(), "x.webm"), c, slog.New(slog.DiscardHandler))
	stuck := make(chan struct{})
	var got []int64
	w.write = func(f *frame) {
		<-stuck
		got = append(got, int64(f.t))
	}
	const n, key2 = 3 * queueLen, 2 * queueLen
	feed := func(from, to int) {
		for i := from; i < to; i++ {
			// Frame i carries i; keyframes at 0 and key2.
			w.Frame([]byte{byte(i)}, time.Duration(i), i == 0 || i == key2)
		}
	}
	feed(0, key2)
	close(stuck)
	for len(w.free) < queueLen {
		time.Sleep(time.Millisecond)
	}
	feed(key2, n)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// While stuck, the goroutine holds one frame and the queue the next
	// queueLen-1; the rest up to key2 is dropped. Once the disk moved the
	// queue takes frames again, from the keyframe on.
	var want []int64
	for i := range int64(queueLen) {
		want = append(want, i)
	}
	for i := range int64(queueLen) {
		want = append(want, key2+i)
	}
	if !slices.Equal(got, want) {
		t.Errorf("written %v,\nwant %v", got, want)
	}
	if d := w.Dropped(); d != int64(n-len(want)) {
		t.Errorf("Dropped() = %d, want %d", d, n-len(want))
	}
}

// Frame, the pipeline's tap, allocates nothing once the pool's buffers have
// grown to the track's frames.
func TestWriterFrameAllocs(t *testing.T) {
	c, err := codecOf("audio/opus")
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(filepath.Join(t.TempDir(), "x.webm"), c, slog.New(slog.DiscardHandler))
	defer w.Close()
	w.write = func(*frame) {}
	data := make([]byte, 200)
	for range 4 * queueLen {
		w.Frame(data, 0, true)
	}
	if n := testing.AllocsPerRun(1000, func() { w.Frame(data, 0, true) }); n != 0 {
		t.Errorf("%.2f allocations per frame, want 0", n)
	}
}
