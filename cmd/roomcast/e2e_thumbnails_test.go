package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// rgbFrame decodes a picture file (FFmpeg cannot seek in a lone JPEG).
func rgbFrame(t *testing.T, path string, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil || len(out) != w*h*3 {
		t.Fatalf("decoding %s: %v (%d bytes, want %dx%d)", path, err, len(out), w, h)
	}
	return out
}

// --thumbnails writes a JPEG of the composite every interval, the same
// picture the recording has at that time, and the state says so.
func TestRecordThumbnails(t *testing.T) {
	out := t.TempDir()
	_, stderr, code := runRoomcast(t, "record", "--room", "file:testdata/rooms/demo.yaml", "--record", "--resolution", "640x360",
		"--fps", "30", "--duration", "5s", "--thumbnails", "2s", "--fast", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	st := readStatus(t, out)
	if st.Thumbnails == nil || st.Thumbnails.Count != 2 || st.Thumbnails.Latest == nil || *st.Thumbnails.Latest != "thumbnails/latest.jpg" || st.Thumbnails.Error != nil {
		t.Fatalf("thumbnails state %+v, want 2 and latest.jpg", st.Thumbnails)
	}
	mp4 := filepath.Join(out, "recording.mp4")
	for _, tc := range []struct {
		file string
		at   float64
	}{{"000001.jpg", 2}, {"000002.jpg", 4}, {"latest.jpg", 4}} {
		jpg := filepath.Join(out, "thumbnails", tc.file)
		if _, err := os.Stat(jpg); err != nil {
			t.Fatal(err)
		}
		thumb, frame := rgbFrame(t, jpg, 640, 360), frameRGB(t, mp4, tc.at, 640, 360)
		// Mean absolute difference over the picture: the same composite,
		// once through x264 and once through JPEG.
		var sum int
		for i := range thumb {
			d := int(thumb[i]) - int(frame[i])
			sum += max(d, -d)
		}
		if mad := float64(sum) / float64(len(thumb)); mad > 12 {
			t.Errorf("%s differs from the recording at %.0f s by %.1f on average, want the same picture", tc.file, tc.at, mad)
		}
	}
	for _, bad := range []string{"0s", "500ms", "25h", "soon"} {
		if _, stderr, code := runRoomcast(t, "record", "--room", "demo:", "--record", "--thumbnails", bad); code != 2 {
			t.Errorf("--thumbnails %s: exit %d, want 2: %s", bad, code, stderr)
		}
	}
}
