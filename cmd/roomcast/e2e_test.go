package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/roomcast/roomcast/internal/analyze"
	"github.com/roomcast/roomcast/internal/syncbuf"
	"github.com/roomcast/roomcast/worker"
)

// The end-to-end tests run the real binary on the committed demo room and
// read its output with ffprobe and ffmpeg.

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roomcast-e2e-")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "roomcast")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building roomcast: %v\n%s", err, out)
		os.Exit(1)
	}
	// Beside it, as make build puts it: `roomcast serve` runs it.
	lean := exec.Command("go", "build", "-o", filepath.Join(dir, "roomcast-serve"), "../roomcast-serve")
	lean.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := lean.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building roomcast-serve: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// proc is a roomcast process a test started, in the repository's root.
// Its output may be read while it runs (a failing test logs it).
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncbuf.Buffer
	done           chan error
	exit           error
	exited         bool
}

// startRoomcast starts the binary with env; it is killed when the test ends.
func startRoomcast(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binPath, args...), done: make(chan error, 1)}
	p.cmd.Dir = repoRoot(t)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if !p.exited {
			<-p.done
		}
	})
	return p
}

// wait returns how the process exited, failing the test if it runs past d.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	if p.exited {
		return p.exit
	}
	select {
	case p.exit = <-p.done:
		p.exited = true
		return p.exit
	case <-time.After(d):
		t.Fatalf("roomcast %s did not finish within %v\n%s", p.cmd.Args[1], d, tail(p.stderr.String(), 3000))
		return nil
	}
}

// exitCode is the process's exit status; wait must have returned.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	if p.exit == nil {
		return 0
	}
	ee, ok := p.exit.(*exec.ExitError)
	if !ok {
		t.Fatalf("running roomcast: %v", p.exit)
	}
	return ee.ExitCode()
}

// runRoomcast runs the binary to its end, with the caller's environment
// less ROOMCAST_* variables.
func runRoomcast(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startRoomcast(t, cleanEnv(), args...)
	p.wait(t, 5*time.Minute)
	return p.stdout.String(), p.stderr.String(), p.exitCode(t)
}

// cleanEnv drops ROOMCAST_* variables of the caller, which would change the job.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ROOMCAST_") {
			env = append(env, kv)
		}
	}
	return env
}

type probe struct {
	Streams []struct {
		CodecType    string `json:"codec_type"`
		CodecName    string `json:"codec_name"`
		Profile      string `json:"profile"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		AvgFrameRate string `json:"avg_frame_rate"`
		RFrameRate   string `json:"r_frame_rate"`
		SampleRate   string `json:"sample_rate"`
		Channels     int    `json:"channels"`
		NbReadFrames string `json:"nb_read_frames"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string, extra ...string) probe {
	t.Helper()
	args := append([]string{"-v", "error", "-print_format", "json", "-show_streams", "-show_format"}, extra...)
	args = append(args, path)
	out, err := exec.Command("ffprobe", args...).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	return p
}

// videoPacketTimes lists the video packets' pts in seconds.
func videoPacketTimes(t *testing.T, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err == nil {
			ts = append(ts, v)
		}
	}
	return ts
}

// frameRGB decodes the frame shown at time sec as packed RGB.
func frameRGB(t *testing.T, path string, sec float64, w, h int) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-ss", fmt.Sprintf("%.3f", sec), "-i", path, "-frames:v", "1",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("decoding frame at %.2fs: %v", sec, err)
	}
	if len(out) != w*h*3 {
		t.Fatalf("frame at %.2fs: %d bytes, want %d", sec, len(out), w*h*3)
	}
	return out
}

// colourShare returns the share of pixels within dist of rgb.
func colourShare(img []byte, rgb [3]int, dist int) float64 {
	n, hit := 0, 0
	for i := 0; i+2 < len(img); i += 3 * 4 { // every 4th pixel is plenty
		n++
		dr, dg, db := int(img[i])-rgb[0], int(img[i+1])-rgb[1], int(img[i+2])-rgb[2]
		if dr*dr+dg*dg+db*db <= dist*dist {
			hit++
		}
	}
	return float64(hit) / float64(n)
}

func readStatus(t *testing.T, dir string) worker.State {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "status.json"))
	if err != nil {
		t.Fatalf("status.json: %v", err)
	}
	var s worker.State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("status.json: %v\n%s", err, b)
	}
	return s
}

func parseRate(s string) float64 {
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		v, _ := strconv.ParseFloat(s, 64)
		return v
	}
	a, _ := strconv.ParseFloat(n, 64)
	b, _ := strconv.ParseFloat(d, 64)
	if b == 0 {
		return 0
	}
	return a / b
}

func meanVolume(t *testing.T, path string, from, length float64) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-ss", fmt.Sprint(from), "-t", fmt.Sprint(length), "-i", path,
		"-vn", "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("volumedetect: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if i := strings.Index(l, "mean_volume:"); i >= 0 {
			f := strings.Fields(l[i+len("mean_volume:"):])
			v, _ := strconv.ParseFloat(f[0], 64)
			return v
		}
	}
	t.Fatalf("no mean_volume in %s", out)
	return 0
}

func TestRecordDemoGolden(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := runRoomcast(t, "record", "--room", "file:testdata/rooms/demo.yaml", "--record",
		"--resolution", "1280x720", "--fps", "30", "--duration", "10s", "--out", out, "--fast")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, filepath.Join(out, "recording.mp4")) {
		t.Errorf("stdout does not say where the MP4 is: %q", stdout)
	}
	mp4 := filepath.Join(out, "recording.mp4")
	p := ffprobe(t, mp4)
	var sawV, sawA bool
	for _, s := range p.Streams {
		switch s.CodecType {
		case "video":
			sawV = true
			if s.CodecName != "h264" || s.Width != 1280 || s.Height != 720 {
				t.Errorf("video %s %dx%d, want h264 1280x720", s.CodecName, s.Width, s.Height)
			}
			if parseRate(s.AvgFrameRate) != 30 || parseRate(s.RFrameRate) != 30 {
				t.Errorf("frame rate avg %s r %s, want 30", s.AvgFrameRate, s.RFrameRate)
			}
		case "audio":
			sawA = true
			if s.CodecName != "aac" || s.Profile != "LC" || s.SampleRate != "48000" || s.Channels != 2 {
				t.Errorf("audio %s %s %s Hz %d ch, want aac LC 48000 2", s.CodecName, s.Profile, s.SampleRate, s.Channels)
			}
		}
	}
	if !sawV || !sawA {
		t.Fatalf("streams: video %v audio %v", sawV, sawA)
	}
	// Constant frame rate: 300 frames, evenly spaced, ±2 frames in total.
	ts := videoPacketTimes(t, mp4)
	if len(ts) < 298 || len(ts) > 302 {
		t.Errorf("%d video frames, want 300±2", len(ts))
	}
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d < 1.0/30-0.002 || d > 1.0/30+0.002 {
			t.Errorf("frame %d comes %.4fs after the one before; want 1/30 s", i, d)
			break
		}
	}
	if d, _ := strconv.ParseFloat(p.Format.Duration, 64); d < 10-2.0/30 || d > 10+3.0/30 {
		t.Errorf("duration %.3fs, want 10s ±2 frames", d)
	}
	if v := meanVolume(t, mp4, 1, 8); v < -40 {
		t.Errorf("audio mean volume %.1f dB: silent", v)
	}

	// Each peer's tile shows that peer; the late joiner appears after it
	// joins, and the leaver's tile is gone after it leaves.
	facts := demoFacts(t)
	for _, at := range []float64{2, 5, 9} {
		img := frameRGB(t, mp4, at, 1280, 720)
		for _, pf := range facts {
			// The output runs 200 ms behind the room; allow 0.5 s.
			present := at >= pf.join+0.5 && (pf.leave == 0 || at < pf.leave)
			share := colourShare(img, pf.rgb, 60)
			switch {
			case present && share < 0.04:
				t.Errorf("at %.0fs peer %s should be tiled, but only %.1f%% of the frame has its colour", at, pf.name, share*100)
			case !present && share > 0.005:
				t.Errorf("at %.0fs peer %s should not be tiled, but %.1f%% of the frame has its colour", at, pf.name, share*100)
			}
		}
	}
	// The same recording against the golden expectations kept in testdata,
	// as a user's CI would check it with `roomcast verify`.
	expPath := filepath.Join(repoRoot(t), "testdata/expect/demo.yaml")
	exp, err := analyze.LoadExpect(expPath)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := analyze.Verify(context.Background(), mp4, exp, analyze.VerifyOptions{BaseDir: filepath.Dir(expPath)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		var b strings.Builder
		rep.WriteTable(&b)
		t.Errorf("golden expectations not met:\n%s", b.String())
	}

	st := readStatus(t, out)
	if st.State != worker.Stopped || st.Recording.Error != nil || st.Recording.Running || st.StoppedAt == nil || st.Recording.Bytes == 0 {
		t.Errorf("final status: %+v", st)
	}
}

type peerFact struct {
	name        string
	rgb         [3]int
	join, leave float64
}

// demoFacts reads the demo peers' colours from testdata/peers/peers.yaml and
// their join and leave times from testdata/rooms/demo.yaml.
func demoFacts(t *testing.T) []peerFact {
	t.Helper()
	var facts struct {
		Peers []struct {
			Name       string
			Background struct{ RGB [3]int }
		}
	}
	var room struct {
		Peers []struct {
			Name        string
			Join, Leave string
		}
	}
	readYAML(t, filepath.Join(repoRoot(t), "testdata/peers/peers.yaml"), &facts)
	readYAML(t, filepath.Join(repoRoot(t), "testdata/rooms/demo.yaml"), &room)
	var out []peerFact
	for _, p := range room.Peers {
		f := peerFact{name: p.Name}
		f.join = seconds(t, p.Join)
		if p.Leave != "" {
			f.leave = seconds(t, p.Leave)
		}
		found := false
		for _, q := range facts.Peers {
			if q.Name == p.Name {
				f.rgb, found = q.Background.RGB, true
			}
		}
		if !found {
			t.Fatalf("peers.yaml has no colour for %s", p.Name)
		}
		out = append(out, f)
	}
	if len(out) != 4 {
		t.Fatalf("demo room has %d peers, want 4", len(out))
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func seconds(t *testing.T, s string) float64 {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d.Seconds()
}
