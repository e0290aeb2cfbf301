package livekit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/room"
)

// testMedia makes the test's media files once with the ffmpeg CLI: short
// GOPs, so a keyframe is never far, and a tone loud enough to be a speaker.
var testMedia struct {
	once sync.Once
	dir  string
	err  error
}

type mediaKind string

const (
	// 320x240 VP8 at 15 fps, keyframe about every 0.5 s, with a 440 Hz
	// Opus tone.
	camWebM mediaKind = "cam.webm"
	// 640x360 VP8 at 10 fps, no audio: a screen share.
	screenWebM mediaKind = "screen.webm"
	// 320x240 H.264 in MP4 (length-prefixed NAL units) with Opus.
	camMP4 mediaKind = "cam.mp4"
	// Opus-less: AAC audio, which the Publisher refuses.
	aacMP4 mediaKind = "aac.mp4"
)

// Cheap to make: testsrc and libvpx at its fastest, on one thread (the
// machine is shared).
var mediaArgs = map[mediaKind][]string{
	camWebM: {"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "3", "-c:v", "libvpx", "-g", "8", "-deadline", "realtime", "-cpu-used", "16", "-b:v", "200k",
		"-c:a", "libopus", "-b:a", "32k", "-ac", "2", "-threads", "1"},
	screenWebM: {"-f", "lavfi", "-i", "testsrc=size=640x360:rate=10", "-t", "3",
		"-c:v", "libvpx", "-g", "5", "-deadline", "realtime", "-cpu-used", "16", "-b:v", "200k", "-threads", "1"},
	camMP4: {"-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "8", "-c:a", "libopus", "-ac", "2", "-threads", "1"},
	aacMP4: {"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "1", "-c:a", "aac"},
}

func mediaFileFor(t testing.TB, k mediaKind) string {
	t.Helper()
	testMedia.once.Do(func() {
		if _, err := exec.LookPath("ffmpeg"); err != nil {
			testMedia.err = err
			return
		}
		dir, err := os.MkdirTemp("", "roomcast-livekit-media-")
		if err != nil {
			testMedia.err = err
			return
		}
		testMedia.dir = dir
		for name, args := range mediaArgs {
			cmd := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...), filepath.Join(dir, string(name)))...)
			if out, err := cmd.CombinedOutput(); err != nil {
				testMedia.err = fmt.Errorf("ffmpeg %s: %w\n%s", name, err, out)
				return
			}
		}
	})
	if testMedia.err != nil {
		t.Fatalf("making test media with ffmpeg: %v", testMedia.err)
	}
	return filepath.Join(testMedia.dir, string(k))
}

func TestOpenMedia(t *testing.T) {
	tests := []struct {
		file        mediaKind
		video       string
		audio       string
		wantErr     string
		annexBStart bool
	}{
		{file: camWebM, video: "video/VP8", audio: "audio/opus"},
		{file: screenWebM, video: "video/VP8"},
		{file: camMP4, video: "video/H264", audio: "audio/opus", annexBStart: true},
		{file: aacMP4, wantErr: "audio codec aac is not supported"},
	}
	for _, tc := range tests {
		t.Run(string(tc.file), func(t *testing.T) {
			m, err := openMedia(mediaFileFor(t, tc.file))
			if tc.wantErr != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.wantErr)) {
					t.Fatalf("openMedia error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.close()
			mime := func(fs *fileStream) string {
				if fs == nil {
					return ""
				}
				return fs.codec.MimeType
			}
			if mime(m.video) != tc.video || mime(m.audio) != tc.audio {
				t.Fatalf("streams = %q/%q, want %q/%q", mime(m.video), mime(m.audio), tc.video, tc.audio)
			}
			var n, levels int
			var last time.Duration
			for {
				s, err := m.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 && tc.annexBStart && s.stream.kind == room.KindVideo && !bytes.HasPrefix(s.data, []byte{0, 0, 0, 1}) {
					t.Fatalf("H.264 sample does not start with a start code: % x", s.data[:8])
				}
				if s.level != nil {
					levels++
					if *s.level > 40 {
						t.Fatalf("tone measured at -%d dBov, want louder than -40", *s.level)
					}
				}
				last = max(last, s.at)
				n++
			}
			if n == 0 || last < 500*time.Millisecond {
				t.Fatalf("read %d samples up to %s", n, last)
			}
			if tc.audio != "" && levels == 0 {
				t.Fatal("no audio level measured")
			}
			if err := m.rewind(); err != nil {
				t.Fatal(err)
			}
			if s, err := m.next(); err != nil || s.at > 100*time.Millisecond {
				t.Fatalf("after rewind: sample at %s, err %v", s.at, err)
			}
		})
	}
}
