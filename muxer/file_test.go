package muxer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/roomcast/roomcast/muxer/mp4"
	"github.com/roomcast/roomcast/muxer/output"
)

// recorder wires an encoder, a fanout and a file sink as the worker does.
type recorder struct {
	enc *Encoder
	fan *Fanout
	src *source
}

func newRecorder(path string, w, h, fps int) (*recorder, error) {
	src, err := newSource(w, h, fps)
	if err != nil {
		return nil, err
	}
	var fan *Fanout
	enc, err := NewEncoder(EncoderConfig{Width: w, Height: h, FPS: fps, VideoBitrate: 1_000_000},
		PacketWriterFunc(func(p *output.Packet) { fan.WritePacket(p) }))
	if err != nil {
		return nil, err
	}
	fan = NewFanout(enc.Info(), nil)
	// Generous bounds: the tests feed faster than real time and must not
	// lose packets to the queue limits.
	if err := fan.Add(context.Background(), "record", mp4.New(mp4.Options{Path: path}), QueueOptions{MaxDelay: time.Hour, MaxPackets: 100_000}); err != nil {
		return nil, err
	}
	return &recorder{enc: enc, fan: fan, src: src}, nil
}

// tick writes frame i and the audio of its 1/fps.
func (r *recorder) tick(i int) error {
	f, err := r.src.video(i)
	if err != nil {
		return err
	}
	if err := r.enc.WriteVideo(f, int64(i)); err != nil {
		return err
	}
	per := 48000 / r.src.fps
	return r.enc.WriteAudio(r.src.sine(per), int64(i*per))
}

func TestRecordingEndToEnd(t *testing.T) {
	const fps, seconds = 30, 5
	path := filepath.Join(t.TempDir(), "recording.mp4")
	r, err := newRecorder(path, 640, 360, fps)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < seconds*fps; i++ {
		if err := r.tick(i); err != nil {
			t.Fatal(err)
		}
	}
	defer r.src.frame.Free()
	if err := r.enc.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.fan.Close(ctx); err != nil {
		t.Fatal(err)
	}
	st := r.fan.States()["record"]
	es := r.enc.Stats()
	if !st.Done || st.Err != nil || st.Running || st.Dropped != 0 || st.Bytes != es.VideoBytes+es.AudioBytes {
		t.Errorf("output state %+v, encoder produced %d bytes", st, es.VideoBytes+es.AudioBytes)
	}

	pr := ffprobe(t, path, "-show_streams", "-show_format", "-show_packets")
	v := pr.stream(t, "video")
	if v.CodecName != "h264" || v.Width != 640 || v.Height != 360 || v.AvgFrameRate != "30/1" || v.RFrameRate != "30/1" {
		t.Errorf("video stream %+v", v)
	}
	a := pr.stream(t, "audio")
	if a.CodecName != "aac" || a.Profile != "LC" || a.SampleRate != "48000" || a.Channels != 2 {
		t.Errorf("audio stream %+v", a)
	}
	vp := pr.packets("video")
	if len(vp) != seconds*fps {
		t.Errorf("%d video packets, want %d", len(vp), seconds*fps)
	}
	var keys []string
	for i, p := range vp {
		if p.Duration != vp[0].Duration || p.Duration <= 0 {
			t.Errorf("video packet %d lasts %d, packet 0 %d: not CFR", i, p.Duration, vp[0].Duration)
		}
		if strings.Contains(p.Flags, "K") {
			keys = append(keys, p.PTSTime)
		}
	}
	if want := []string{"0.000000", "2.000000", "4.000000"}; fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("keyframes at %v, want %v", keys, want)
	}
	if d, err := strconv.ParseFloat(pr.Format.Duration, 64); err != nil || math.Abs(d-seconds) > 2.0/fps {
		t.Errorf("duration %q, want %d s ± 2 frames", pr.Format.Duration, seconds)
	}

	// The whole file decodes without an error, and the audio is the tone.
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("decoding the recording: %v: %s", err, out)
	}
	if mean := meanVolume(t, path); mean < -12 || mean > -6 {
		// A 0.5-amplitude sine has an RMS of -9 dBFS.
		t.Errorf("audio mean volume %.1f dB, want about -9", mean)
	}
}

var meanVolumeRE = regexp.MustCompile(`mean_volume: (-?[0-9.]+) dB`)

func meanVolume(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-i", path, "-map", "0:a", "-af", "volumedetect", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("volumedetect: %v: %s", err, out)
	}
	m := meanVolumeRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no mean_volume in %s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

func TestFileSinkOpenFailsOnBadPath(t *testing.T) {
	var c collector
	enc, err := NewEncoder(EncoderConfig{Width: 64, Height: 64, FPS: 30, VideoBitrate: 100_000}, &c)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	s := mp4.New(mp4.Options{Path: filepath.Join(t.TempDir(), "missing", "rec.mp4")})
	err = s.Open(context.Background(), enc.Info(), output.ReporterFunc(func(output.SinkState) {}))
	if err == nil || !strings.Contains(err.Error(), "rec.mp4") {
		t.Errorf("Open = %v, want an error naming the file", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after failed Open: %v", err)
	}
}

const crashChildEnv = "ROOMCAST_MUXER_CRASH_CHILD"

// crashChild records to path in real time for 6 s; the parent kills it
// before it finishes. It prints "recording" when the first frame goes in.
func crashChild(path string) int {
	astiav.SetLogLevel(astiav.LogLevelError)
	const fps = 30
	r, err := newRecorder(path, 320, 240, fps)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("recording")
	start := time.Now()
	for i := 0; i < 6*fps; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / fps)))
		if err := r.tick(i); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	r.enc.Close()
	r.fan.Close(context.Background())
	return 0
}

// TestRecordingSurvivesSIGKILL kills a recording process mid-job and checks
// that the file it leaves plays up to shortly before the kill.
func TestRecordingSurvivesSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "killed.mp4")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "recording\n" {
		t.Fatalf("child said %q, %v; stderr: %s", line, err, stderr.String())
	}
	start := time.Now()
	time.Sleep(5 * time.Second)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred cleanup, no trailer
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if err := cmd.Wait(); err == nil {
		t.Fatalf("child exited cleanly before the kill; stderr: %s", stderr.String())
	}

	// Without a trailer there is no index; ffprobe walks the fragments.
	// Counting the packets it finds gives the playable duration.
	pr := ffprobe(t, path, "-show_streams", "-show_packets", "-show_format")
	vp, ap := pr.packets("video"), pr.packets("audio")
	playable := time.Duration(len(vp)) * time.Second / 30
	t.Logf("killed after %v: %d video, %d audio packets (%v playable)", elapsed.Round(time.Millisecond), len(vp), len(ap), playable)
	if playable < elapsed-3*time.Second {
		t.Errorf("playable %v, want at least %v", playable, elapsed-3*time.Second)
	}
	// ffprobe's format duration also works without the index: it comes
	// from the fragments it walked.
	if d, err := strconv.ParseFloat(pr.Format.Duration, 64); err != nil || math.Abs(d-playable.Seconds()) > 0.1 {
		t.Errorf("format duration %q, packets give %v", pr.Format.Duration, playable)
	}
	if len(vp) == 0 || !strings.Contains(vp[0].Flags, "K") {
		t.Fatal("recording does not start with a keyframe")
	}
	if audioDur := time.Duration(len(ap)) * 1024 * time.Second / 48000; audioDur < playable-time.Second {
		t.Errorf("audio covers %v of %v", audioDur, playable)
	}
	// What is there decodes: the frames ffmpeg gets out of the file match
	// the packets ffprobe counted.
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(string(out))); n != len(vp) {
		t.Errorf("decoded %d frames of %d packets", n, len(vp))
	}
}
