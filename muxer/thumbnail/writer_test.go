package thumbnail

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
)

func solid(t *testing.T, w, h int, y, u, v byte) *astiav.Frame {
	t.Helper()
	f := astiav.AllocFrame()
	t.Cleanup(f.Free)
	f.SetWidth(w)
	f.SetHeight(h)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	if err := avframe.Fill(f, 0, 0, w, h, y, u, v); err != nil {
		t.Fatal(err)
	}
	return f
}

// rgbAt decodes a JPEG with FFmpeg and returns its centre pixel.
func rgbAt(t *testing.T, path string, w, h int) [3]int {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	if len(out) != w*h*3 {
		t.Fatalf("%s decodes to %d bytes, want %dx%d", path, len(out), w, h)
	}
	i := (h/2*w + w/2) * 3
	return [3]int{int(out[i]), int(out[i+1]), int(out[i+2])}
}

func TestWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "thumbnails")
	var mu sync.Mutex
	var wrote []string
	w, err := New(Options{Dir: dir, Every: time.Second, Width: 320, Height: 180, FPS: 10, OnWrite: func(n int, p string) {
		mu.Lock()
		wrote = append(wrote, filepath.Base(p))
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	red := solid(t, 320, 180, 81, 90, 240)
	blue := solid(t, 320, 180, 41, 240, 110)
	for n := range int64(35) {
		f := red
		if n >= 15 {
			f = blue
		}
		w.Frame(f, n)
		time.Sleep(2 * time.Millisecond) // a live compositor's pace, roughly
	}
	w.Close()
	if n, err := w.State(); n != 3 || err != nil {
		t.Errorf("state %d %v, want 3 thumbnails", n, err)
	}
	mu.Lock()
	if strings.Join(wrote, ",") != "000001.jpg,000002.jpg,000003.jpg" {
		t.Errorf("written %v", wrote)
	}
	mu.Unlock()
	for _, tc := range []struct {
		file string
		red  bool
	}{{"000001.jpg", true}, {"000002.jpg", false}, {"000003.jpg", false}, {"latest.jpg", false}} {
		c := rgbAt(t, filepath.Join(dir, tc.file), 320, 180)
		isRed := c[0] > 200 && c[2] < 60
		isBlue := c[2] > 200 && c[0] < 60
		if tc.red != isRed || tc.red == isBlue {
			t.Errorf("%s centre %v, want red %t", tc.file, c, tc.red)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestWriterScalesDown(t *testing.T) {
	dir := t.TempDir()
	w, err := New(Options{Dir: dir, Every: 100 * time.Millisecond, Width: 1920, Height: 1080, FPS: 10, MaxWidth: 640})
	if err != nil {
		t.Fatal(err)
	}
	w.Frame(solid(t, 1920, 1080, 235, 128, 128), 1)
	w.Close()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", filepath.Join(dir, "000001.jpg")).Output()
	if err != nil || strings.TrimSpace(string(out)) != "mjpeg,640,360" {
		t.Errorf("ffprobe: %q %v, want mjpeg 640x360", out, err)
	}
}

func TestNewRefuses(t *testing.T) {
	if _, err := New(Options{Dir: t.TempDir(), Width: 320, Height: 180, FPS: 10}); err == nil {
		t.Error("no interval accepted")
	}
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o644)
	if _, err := New(Options{Dir: filepath.Join(blocker, "x"), Every: time.Second, Width: 320, Height: 180, FPS: 10}); err == nil {
		t.Error("an unusable folder accepted")
	}
}

// A disk slower than the interval costs thumbnails, never a frame: Frame
// does not wait, and what it cannot hand over is skipped and counted.
func TestWriterSkipsWhenBehind(t *testing.T) {
	w, err := New(Options{Dir: t.TempDir(), Every: 100 * time.Millisecond, Width: 320, Height: 180, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	write := w.writeFn
	w.writeFn = func(n int, f *astiav.Frame) (string, error) {
		<-release // a stuck disk
		return write(n, f)
	}
	f := solid(t, 320, 180, 81, 90, 240)
	for n := int64(1); n <= 6; n++ {
		w.Frame(f, n) // each is due; none may wait for the stuck one
	}
	close(release)
	w.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	// Two buffers: one with the stuck writer, one queued; the rest skipped.
	if w.skipped != 4 || w.count != 2 {
		t.Errorf("skipped %d and wrote %d, want 4 skipped and 2 written", w.skipped, w.count)
	}
}
