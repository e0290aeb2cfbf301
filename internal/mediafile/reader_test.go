package mediafile

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/roomcast/roomcast/room"
)

const peersDir = "../../testdata/peers"

// probedPacket is one packet as ffprobe lists it.
type probedPacket struct {
	pts, dts, duration int64
	key                bool
}

// ffprobePackets lists a file's packets per stream index, with ffprobe: the
// independent account Read is checked against.
func ffprobePackets(t testing.TB, path string) map[int][]probedPacket {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe is not installed")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=stream_index,pts,dts,duration,size,flags", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	ts := func(s string) int64 {
		if s == "N/A" {
			return NoTimestamp
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("ffprobe: %q: %v", s, err)
		}
		return v
	}
	pkts := map[int][]probedPacket{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue // side data
		}
		f := strings.Split(line, ",") // stream_index,pts,dts,duration,size,flags
		if len(f) < 6 {
			t.Fatalf("ffprobe line %q", line)
		}
		if f[4] == "0" {
			continue // Read skips empty packets
		}
		i := int(ts(f[0]))
		d := ts(f[3])
		if d == NoTimestamp {
			d = 0
		}
		pkts[i] = append(pkts[i], probedPacket{pts: ts(f[1]), dts: ts(f[2]), duration: d, key: strings.HasPrefix(f[5], "K")})
	}
	return pkts
}

func TestReader(t *testing.T) {
	type stream struct {
		mime, codec   string
		width, height int
		preSkip       int
	}
	tests := []struct {
		file     string
		streams  []stream
		duration time.Duration
		fmtp     string // of the video, when it matters
	}{
		{file: "alice.webm", streams: []stream{{"video/VP8", "vp8", 320, 240, 0}, {"audio/opus", "opus", 0, 0, 312}}, duration: 12 * time.Second},
		{file: "slides.webm", streams: []stream{{"video/VP8", "vp8", 0, 0, 0}}},
		{file: "carol.mkv", streams: []stream{{"video/H264", "h264", 320, 240, 0}, {"audio/opus", "opus", 0, 0, 312}}, duration: 12 * time.Second,
			fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42c0"},
		{file: "codec-h264.mp4", streams: []stream{{"video/H264", "h264", 0, 0, 0}, {"audio/opus", "opus", 0, 0, 0}}},
		{file: "codec-vp9.webm", streams: []stream{{"video/VP9", "vp9", 0, 0, 0}, {"audio/opus", "opus", 0, 0, 0}}, fmtp: "profile-id=0"},
		{file: "codec-av1.webm", streams: []stream{{"video/AV1", "av1", 0, 0, 0}}},
		{file: "../rooms/bad/mpeg4-aac.mp4", streams: []stream{{"", "mpeg4", 0, 0, 0}, {"", "aac", 0, 0, 0}}},
		{file: "../rooms/bad/audio-only.webm", streams: []stream{{"audio/opus", "opus", 0, 0, 0}}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			path := filepath.Join(peersDir, tt.file)
			probed := ffprobePackets(t, path)
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			info := r.Info()
			if len(info.Streams) != len(tt.streams) {
				t.Fatalf("%d streams, want %d", len(info.Streams), len(tt.streams))
			}
			for i, w := range tt.streams {
				s := info.Streams[i]
				if s.Codec.MimeType != w.mime || s.CodecName != w.codec || s.Supported() != (w.mime != "") ||
					(w.width != 0 && (s.Width != w.width || s.Height != w.height)) || (w.preSkip != 0 && s.PreSkip != w.preSkip) {
					t.Errorf("stream %d = %+v, want %+v", i, s, w)
				}
				if s.Kind == room.KindVideo && tt.fmtp != "" && !strings.HasPrefix(s.Codec.SDPFmtpLine, tt.fmtp) {
					t.Errorf("fmtp %q, want %q...", s.Codec.SDPFmtpLine, tt.fmtp)
				}
			}
			if d := info.Duration - tt.duration; tt.duration > 0 && (d < -50*time.Millisecond || d > 50*time.Millisecond) {
				t.Errorf("duration %v, want ~%v", info.Duration, tt.duration)
			}
			if want := ffprobeStartTime(t, path); info.StartTime != want {
				t.Errorf("start time %v, ffprobe says %v", info.StartTime, want)
			}

			// Every packet of a supported stream arrives, with ffprobe's
			// timestamps and flags, as the access unit its payloader takes.
			got := map[int][]probedPacket{}
			var first Sample
			for n := 0; ; n++ {
				var s Sample
				err := r.Read(&s)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					first = s
				}
				got[s.Stream.Index] = append(got[s.Stream.Index], probedPacket{s.PTS, s.DTS, s.Duration, s.Key})
				checkAccessUnit(t, s)
			}
			for _, s := range info.Streams {
				want := probed[s.Index]
				if !s.Supported() {
					want = nil
				}
				if g := got[s.Index]; len(g) != len(want) || (len(want) > 0 && (g[0] != want[0] || g[len(g)-1] != want[len(want)-1])) {
					t.Errorf("stream %d: %d samples %v..., ffprobe %d packets %v...", s.Index, len(g), head(g), len(want), head(want))
				}
			}
			if first.Stream == nil {
				return
			}
			if err := r.Rewind(); err != nil {
				t.Fatal(err)
			}
			var again Sample
			if err := r.Read(&again); err != nil || again.PTS != first.PTS || !bytes.Equal(again.Data, first.Data) {
				t.Fatalf("after Rewind: sample at %d (err %v), want the first, at %d", again.PTS, err, first.PTS)
			}
		})
	}
}

// ffprobeStartTime is the container's start time as ffprobe prints it, to
// the microsecond.
func ffprobeStartTime(t *testing.T, path string) time.Duration {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	s := strings.TrimSpace(string(out))
	if s == "N/A" {
		return 0
	}
	d, err := time.ParseDuration(s + "s")
	if err != nil {
		t.Fatalf("ffprobe start time %q: %v", s, err)
	}
	return d
}

func head(p []probedPacket) []probedPacket { return p[:min(len(p), 2)] }

// checkAccessUnit asserts the form the package doc promises.
func checkAccessUnit(t *testing.T, s Sample) {
	t.Helper()
	switch s.Stream.Codec.MimeType {
	case "video/H264":
		var au h264.AnnexB
		if !bytes.HasPrefix(s.Data, []byte{0, 0, 0, 1}) || au.Unmarshal(s.Data) != nil {
			t.Fatalf("H.264 sample at %d is not Annex B: % x", s.PTS, s.Data[:min(len(s.Data), 8)])
		}
		if s.Key && (!h264HasSPS(au) || !h264.IsRandomAccess(au)) {
			t.Fatalf("H.264 keyframe at %d without SPS or IDR", s.PTS)
		}
	case "video/AV1":
		if s.Key && !av1HasSequenceHeader(s.Data) {
			t.Fatalf("AV1 keyframe at %d without a sequence header", s.PTS)
		}
	}
}

func TestReaderSelect(t *testing.T) {
	r, err := Open(filepath.Join(peersDir, "alice.webm"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	video := r.Info().First(room.KindVideo)
	if err := r.Select(video); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var s Sample
		if err := r.Read(&s); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if s.Stream != video {
			t.Fatalf("sample of stream %d after selecting the video only", s.Stream.Index)
		}
		n++
	}
	if n != 360 { // 12 s at 30 fps
		t.Errorf("%d video samples, want 360", n)
	}
	if err := r.Select(&Stream{Index: 7}); err == nil {
		t.Error("selected a stream the file lacks")
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"/nonexistent.webm", "opening /nonexistent.webm"},
		{peersDir + "/peers.yaml", "peers.yaml"},
	}
	for _, tt := range tests {
		if _, err := Probe(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Probe(%s) = %v, want an error naming %q", tt.path, err, tt.want)
		}
	}
}

// BenchmarkReaderRead is the cost of one sample of an H.264 (AVCC) and Opus
// Matroska file: demux, the copy the caller keeps, and Annex B conversion.
func BenchmarkReaderRead(b *testing.B) {
	for _, file := range []string{"carol.mkv", "alice.webm"} {
		b.Run(file, func(b *testing.B) {
			r, err := Open(filepath.Join(peersDir, file))
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			b.ReportAllocs()
			var s Sample
			for b.Loop() {
				err := r.Read(&s)
				if errors.Is(err, io.EOF) {
					err = r.Rewind()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
