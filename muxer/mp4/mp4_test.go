package mp4_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/muxer/mp4"
	"github.com/roomcast/roomcast/muxer/output"
)

func TestMain(m *testing.M) {
	astiav.SetLogLevel(astiav.LogLevelError)
	os.Exit(m.Run())
}

const fps = 30

type packets struct {
	mu   sync.Mutex
	list []*output.Packet
}

func (c *packets) WritePacket(p *output.Packet) {
	c.mu.Lock()
	c.list = append(c.list, p)
	c.mu.Unlock()
}

// encode makes seconds of a noisy moving picture and a tone, as the job's
// encoder gives them to the fan-out, in the order it emits them.
func encode(t *testing.T, seconds int) (output.StreamInfo, []*output.Packet) {
	return encodeWith(t, seconds, false)
}

func encodeWith(t *testing.T, seconds int, audioOnly bool) (output.StreamInfo, []*output.Packet) {
	t.Helper()
	const w, h = 320, 240
	var c packets
	enc, err := muxer.NewEncoder(muxer.EncoderConfig{Width: w, Height: h, FPS: fps, VideoBitrate: 800_000, Threads: 1, AudioOnly: audioOnly}, &c)
	if err != nil {
		t.Fatal(err)
	}
	f := astiav.AllocFrame()
	defer f.Free()
	f.SetWidth(w)
	f.SetHeight(h)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	audio := make([]float32, 2*48000/fps)
	phase := 0.0
	for i := 0; i < seconds*fps; i++ {
		if audioOnly {
			goto audio
		}
		// Small tiles of changing colours: enough detail to fill the bitrate.
		for y := 0; y < h; y += 16 {
			for x := 0; x < w; x += 16 {
				v := byte((x*7 + y*13 + i*(x+y+1)) % 251)
				if err := avframe.Fill(f, x, y, 16, 16, v, 128+v/4, 200-v/2); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := enc.WriteVideo(f, int64(i)); err != nil {
			t.Fatal(err)
		}
	audio:
		for j := 0; j < len(audio); j += 2 {
			v := float32(0.5 * math.Sin(phase))
			audio[j], audio[j+1] = v, v
			phase += 2 * math.Pi * 440 / 48000
		}
		if err := enc.WriteAudio(audio, int64(i*48000/fps)); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return enc.Info(), c.list
}

// mountTmpfs mounts a tmpfs of size bytes on a new folder for the test.
// The tests run as root; a failure to mount fails the test.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs (the test needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	return int64(fs.Bavail) * int64(fs.Bsize)
}

// fill writes a file of zeros that leaves about free bytes on dir's disk.
func fill(t *testing.T, dir string, free int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	n := freeBytes(t, dir) - free
	if n <= 0 {
		t.Fatalf("disk has only %d bytes free, wanted to leave %d", freeBytes(t, dir), free)
	}
	if err := os.WriteFile(path, make([]byte, n), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type reports struct {
	mu sync.Mutex
	l  []output.SinkState
}

func (r *reports) Report(s output.SinkState) {
	r.mu.Lock()
	r.l = append(r.l, s)
	r.mu.Unlock()
}

func (r *reports) all() []output.SinkState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]output.SinkState(nil), r.l...)
}

// probePacket is one packet as ffprobe lists it.
type probePacket struct {
	CodecType string `json:"codec_type"`
	PTSTime   string `json:"pts_time"`
	Flags     string `json:"flags"`
}

// videoTimes lists a file's video packet times, after checking that the
// whole file decodes without an error.
func videoTimes(t *testing.T, path string) []float64 {
	t.Helper()
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("decoding %s: %v: %s", path, err, out)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-of", "json", "-show_packets", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct{ Packets []probePacket }
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	var ts []float64
	for i, p := range r.Packets {
		if p.CodecType != "video" {
			continue
		}
		v, err := strconv.ParseFloat(p.PTSTime, 64)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) == 0 && !strings.Contains(p.Flags, "K") {
			t.Errorf("%s: first video packet (%d) is no keyframe", path, i)
		}
		ts = append(ts, v)
	}
	return ts
}

// checkNoGap fails if consecutive video times are more than a frame apart.
func checkNoGap(t *testing.T, path string, ts []float64) {
	t.Helper()
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d > 1.5/fps || d <= 0 {
			t.Errorf("%s: video packets at %.3f and %.3f", path, ts[i-1], ts[i])
			return
		}
	}
}

// sinkClock drives the sink's once-a-second checks by the media's time.
func sinkClock(s *mp4.Sink, info *output.StreamInfo) func(p *output.Packet) {
	base := time.Now()
	var now time.Time
	mp4.SetClock(s, func() time.Time { return now })
	return func(p *output.Packet) { now = base.Add(p.Time(info)) }
}

// TestSinkResumesAfterFullDisk fills a tmpfs under the recording: the file
// is cut back to its last whole fragment, the sink reports the error and
// drops packets, and when the filler goes it records into recording.2.mp4
// from the next keyframe. Both files decode whole and together cover the
// job but for the outage.
func TestSinkResumesAfterFullDisk(t *testing.T) {
	const seconds = 16
	info, pkts := encode(t, seconds)
	var total int64
	for _, p := range pkts {
		total += int64(len(p.Data))
	}
	t.Logf("%d packets, %d bytes over %d s", len(pkts), total, seconds)

	dir := mountTmpfs(t, 16<<20)
	// Room for about a third of the job.
	filler := fill(t, dir, total/3)
	path := filepath.Join(dir, "recording.mp4")
	var opened []string
	s := mp4.New(mp4.Options{Path: path, OnFile: func(p string) { opened = append(opened, p) }})
	tick := sinkClock(s, &info)
	var rep reports
	if err := s.Open(context.Background(), info, &rep); err != nil {
		t.Fatal(err)
	}
	var fullAt, freedAt, resumedAt time.Duration
	for _, p := range pkts {
		tick(p)
		at := p.Time(&info)
		if err := s.Write(context.Background(), p); err != nil {
			t.Fatalf("Write at %v: %v (the sink must not fail for a full disk)", at, err)
		}
		r := rep.all()
		switch {
		case fullAt == 0 && len(r) > 0 && r[len(r)-1].Err != nil:
			fullAt = at
		case fullAt != 0 && freedAt == 0 && at > fullAt+3*time.Second:
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			freedAt = at
		case freedAt != 0 && resumedAt == 0 && len(r) > 0 && r[len(r)-1].Running:
			resumedAt = at
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("disk full at %v, freed at %v, resumed at %v (%v later); reports %+v", fullAt, freedAt, resumedAt, resumedAt-freedAt, rep.all())
	if fullAt == 0 || resumedAt == 0 {
		t.Fatalf("the disk never filled or the recording never resumed: reports %+v", rep.all())
	}
	if d := resumedAt - freedAt; d > 3500*time.Millisecond {
		t.Errorf("resumed %v after the disk had room, want within a check (1 s) and a GOP (2 s)", d)
	}
	r := rep.all()
	var errs []string
	for _, st := range r {
		if st.Err != nil {
			errs = append(errs, st.Err.Error())
		}
	}
	if len(errs) == 0 || !strings.Contains(errs[0], path) || !strings.Contains(errs[0], "no space left on device") {
		t.Errorf("errors reported %q, want the first to name %s and \"no space left on device\"", errs, path)
	}
	if last := r[len(r)-1]; !last.Running || last.Err != nil {
		t.Errorf("last report %+v, want running again", last)
	}

	second := filepath.Join(dir, "recording.2.mp4")
	files := s.Files()
	if fmt.Sprint(files) != fmt.Sprint([]string{path, second}) || fmt.Sprint(opened) != fmt.Sprint(files) {
		t.Fatalf("files %v, OnFile %v, want %s and %s", files, opened, path, second)
	}
	var size int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
	}
	// The media payload in the files: all but the container's few percent
	// (give or take the packets FFmpeg's interleaving held at the cut).
	if got := s.BytesWritten(); got > size*101/100 || got < size*9/10 {
		t.Errorf("BytesWritten %d, the files hold %d", got, size)
	}
	a, b := videoTimes(t, path), videoTimes(t, second)
	checkNoGap(t, path, a)
	checkNoGap(t, second, b)
	if len(a) == 0 || len(b) == 0 {
		t.Fatalf("video packets: %d in the first file, %d in the second", len(a), len(b))
	}
	t.Logf("first file %.3f–%.3f s (%d frames), second %.3f–%.3f s (%d frames)", a[0], a[len(a)-1], len(a), b[0], b[len(b)-1], len(b))
	// Each file starts at zero; the second holds the job from the keyframe
	// it resumed at to the end, the first from the start to the fragment
	// before the disk filled.
	if a[0] != 0 || a[len(a)-1] > fullAt.Seconds() || b[0] != 0 {
		t.Errorf("first file %.3f–%.3f s, second from %.3f s; disk full at %v", a[0], a[len(a)-1], b[0], fullAt)
	}
	if want := int(math.Round((seconds - resumedAt.Seconds()) * fps)); len(b) != want {
		t.Errorf("second file has %d frames, want the %d from %v to the end", len(b), want, resumedAt)
	}
	t.Logf("kept %d + %d of %d frames; %.2f s lost", len(a), len(b), seconds*fps, float64(seconds*fps-len(a)-len(b))/fps)
}

// TestSinkRestoresRemovedFile removes the recording's folder mid-job: the
// sink notices within a second, recreates the folder, puts back what the
// unlinked file held and goes on writing to it. The file ends up whole.
func TestSinkRestoresRemovedFile(t *testing.T) {
	const seconds = 6
	info, pkts := encode(t, seconds)
	dir := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "recording.mp4")
	s := mp4.New(mp4.Options{Path: path})
	tick := sinkClock(s, &info)
	var rep reports
	if err := s.Open(context.Background(), info, &rep); err != nil {
		t.Fatal(err)
	}
	removed := false
	for _, p := range pkts {
		tick(p)
		if !removed && p.Time(&info) >= 2500*time.Millisecond {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			removed = true
		}
		if err := s.Write(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := rep.all()
	t.Logf("reports %+v", r)
	if len(r) < 2 || r[0].Err == nil || !strings.Contains(r[0].Err.Error(), "removed") || !r[len(r)-1].Running {
		t.Errorf("reports %+v, want the removal reported, then running", r)
	}
	if files := s.Files(); len(files) != 1 || files[0] != path {
		t.Errorf("files %v, want only %s", files, path)
	}
	ts := videoTimes(t, path)
	checkNoGap(t, path, ts)
	if len(ts) != seconds*fps {
		t.Errorf("%d video frames in the restored file, want all %d", len(ts), seconds*fps)
	}
}

// TestSinkResumesAudioOnly: without video the recording resumes with the
// first packet after the disk has room, in recording.2.m4a.
func TestSinkResumesAudioOnly(t *testing.T) {
	const seconds = 12
	info, pkts := encodeWith(t, seconds, true)
	// Resuming wants MinFree (1 MiB) and more free.
	dir := mountTmpfs(t, 4<<20)
	filler := fill(t, dir, 48<<10)
	path := filepath.Join(dir, "recording.m4a")
	s := mp4.New(mp4.Options{Path: path})
	tick := sinkClock(s, &info)
	var rep reports
	if err := s.Open(context.Background(), info, &rep); err != nil {
		t.Fatal(err)
	}
	var fullAt, freedAt time.Duration
	for _, p := range pkts {
		tick(p)
		at := p.Time(&info)
		if err := s.Write(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		r := rep.all()
		if fullAt == 0 && len(r) > 0 && r[len(r)-1].Err != nil {
			fullAt = at
		}
		if fullAt != 0 && freedAt == 0 && at > fullAt+2*time.Second {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			freedAt = at
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := rep.all()
	t.Logf("full at %v, freed at %v; reports %+v", fullAt, freedAt, r)
	if fullAt == 0 || len(r) < 2 || !r[len(r)-1].Running {
		t.Fatalf("reports %+v, want an error, then running", r)
	}
	files := s.Files()
	if want := []string{path, filepath.Join(dir, "recording.2.m4a")}; fmt.Sprint(files) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	var total float64
	for _, f := range files {
		out, err := exec.Command("ffmpeg", "-v", "error", "-i", f, "-f", "null", "-").CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("decoding %s: %v: %s", f, err, out)
		}
		d, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.ParseFloat(strings.TrimSpace(string(d)), 64)
		t.Logf("%s: %.2f s", filepath.Base(f), v)
		total += v
	}
	// Lost: from the last whole fragment before the disk filled to a
	// check (1 s) after it had room.
	if lost := seconds - total; lost < (freedAt-fullAt).Seconds() || lost > (freedAt-fullAt).Seconds()+2.5 {
		t.Errorf("%.2f s of %d s lost; the disk was full for %v", lost, seconds, freedAt-fullAt)
	}
}

// TestSinkRestoresRemovedFileLater removes the folder and makes its parent
// read-only (a read-only bind mount) so that the file cannot be put back
// at once: the sink writes on into the unlinked file, reports the error
// while running, and puts the file back once the parent is writable.
func TestSinkRestoresRemovedFileLater(t *testing.T) {
	const seconds = 8
	info, pkts := encode(t, seconds)
	parent := filepath.Join(t.TempDir(), "parent")
	dir := filepath.Join(parent, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "recording.mp4")
	s := mp4.New(mp4.Options{Path: path})
	tick := sinkClock(s, &info)
	var rep reports
	if err := s.Open(context.Background(), info, &rep); err != nil {
		t.Fatal(err)
	}
	mounted, removed := false, false
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", parent).Run()
		}
	})
	run := func(args ...string) {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v (the test needs root): %v: %s", args, err, out)
		}
	}
	for _, p := range pkts {
		tick(p)
		at := p.Time(&info)
		if !removed && at >= 2*time.Second {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			run("mount", "--bind", parent, parent)
			mounted, removed = true, true
			run("mount", "-o", "remount,bind,ro", parent)
		}
		if mounted && at >= 5*time.Second {
			run("umount", parent)
			mounted = false
		}
		if err := s.Write(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := rep.all()
	t.Logf("reports %+v", r)
	retrying := false
	for _, st := range r {
		if st.Running && st.Err != nil && strings.Contains(st.Err.Error(), "read-only file system") {
			retrying = true
		}
	}
	if !retrying || !r[len(r)-1].Running || r[len(r)-1].Err != nil {
		t.Errorf("reports %+v: want the failed restore reported while running, then running with no error", r)
	}
	ts := videoTimes(t, path)
	checkNoGap(t, path, ts)
	if len(ts) != seconds*fps {
		t.Errorf("%d video frames in the restored file, want all %d", len(ts), seconds*fps)
	}
}
