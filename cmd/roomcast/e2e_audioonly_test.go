package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/analyze"
	"github.com/roomcast/roomcast/internal/rtmptest"
)

// demoTones are the demo peers' tones (testdata/peers/peers.yaml): alice,
// bob, carol, dave.
var demoTones = []float64{300, 500, 700, 900}

// checkDemoTones decodes path's audio and checks that every demo peer's
// tone is in it.
func checkDemoTones(t *testing.T, path string) {
	t.Helper()
	st, err := analyze.MeasureAudio(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if st.MeanDbfs < -40 {
		t.Errorf("%s: mean level %.1f dBFS: silent", path, st.MeanDbfs)
	}
	for _, want := range demoTones {
		found := false
		for _, hz := range st.Tones {
			found = found || math.Abs(hz-want) <= 3
		}
		if !found {
			t.Errorf("%s: no %.0f Hz tone among %v", path, want, st.Tones)
		}
	}
}

// streamKinds lists a file's (or URL's) streams as type/codec.
func streamKinds(p probe) string {
	var k []string
	for _, s := range p.Streams {
		k = append(k, s.CodecType+"/"+s.CodecName)
	}
	return strings.Join(k, ",")
}

// TestAudioOnlyRecord records the demo room with --audio-only: the archive
// is recording.m4a with one AAC stream holding every peer's tone, the HLS
// recording's segments hold audio alone, the peers' video tracks are still
// written to their own files (never decoded), and the state says there is
// no video.
func TestAudioOnlyRecord(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := runRoomcast(t, "record", "--room", "demo:", "--audio-only", "--record", "--hls-record", "--tracks",
		"--duration", "4s", "--fast", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	m4a := filepath.Join(out, "recording.m4a")
	if !strings.Contains(stdout, m4a) {
		t.Errorf("stdout does not say where the M4A is: %q", stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "recording.mp4")); err == nil {
		t.Error("an audio-only job wrote recording.mp4")
	}
	p := ffprobe(t, m4a)
	if len(p.Streams) != 1 {
		t.Fatalf("recording.m4a has streams %s, want one AAC stream", streamKinds(p))
	}
	if s := p.Streams[0]; s.CodecType != "audio" || s.CodecName != "aac" || s.Profile != "LC" || s.SampleRate != "48000" || s.Channels != 2 {
		t.Errorf("recording.m4a stream %+v, want AAC-LC 48 kHz stereo", s)
	}
	if d, _ := strconv.ParseFloat(p.Format.Duration, 64); math.Abs(d-4) > 0.03 {
		t.Errorf("recording.m4a lasts %.3fs, want 4 s", d)
	}
	checkDemoTones(t, m4a)

	// The HLS recording: audio alone, in every segment.
	pl := filepath.Join(out, "hls", "index.m3u8")
	b, err := os.ReadFile(pl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Errorf("the HLS recording is not finished:\n%s", b)
	}
	var segs []string
	for _, ln := range strings.Split(string(b), "\n") {
		if ln = strings.TrimSpace(ln); ln != "" && !strings.HasPrefix(ln, "#") {
			segs = append(segs, ln)
		}
	}
	if len(segs) < 2 {
		t.Errorf("%d HLS segments in 4 s, want 2:\n%s", len(segs), b)
	}
	for _, s := range segs {
		if k := streamKinds(ffprobe(t, filepath.Join(out, "hls", s))); k != "audio/aac" {
			t.Errorf("HLS segment %s has streams %s, want audio/aac alone", s, k)
		}
	}
	if d, _ := strconv.ParseFloat(ffprobe(t, pl).Format.Duration, 64); math.Abs(d-4) > 0.3 {
		t.Errorf("the HLS recording lasts %.2fs, want 4 s", d)
	}

	// Video tracks were not decoded, but --tracks still wrote them.
	for _, cam := range []string{"alice-cam", "dave-cam"} {
		files, _ := filepath.Glob(filepath.Join(out, "tracks", cam+"-*.webm"))
		if len(files) != 1 {
			t.Fatalf("tracks/%s-*.webm: %v", cam, files)
		}
		vp := ffprobe(t, files[0], "-count_frames")
		if len(vp.Streams) != 1 || vp.Streams[0].CodecName != "vp8" {
			t.Errorf("%s: streams %s, want vp8", files[0], streamKinds(vp))
		} else if n, _ := strconv.Atoi(vp.Streams[0].NbReadFrames); n < 90 {
			t.Errorf("%s: %d frames, want about 120", files[0], n)
		}
	}

	st := readStatus(t, out)
	if !st.AudioOnly || st.Recording.Path != "recording.m4a" || st.Recording.Error != nil || st.Recording.Bytes == 0 || st.State != "stopped" {
		t.Errorf("final state: audioOnly %v, %s, recording %+v", st.AudioOnly, st.State, st.Recording)
	}
	if s := st.Stats; s.Frames != 0 || s.FPS != 0 || s.LateFrames != 0 || s.FirstVideoSeconds != nil || math.Abs(s.Elapsed-4) > 0.05 || s.EncodedBytes == 0 {
		t.Errorf("stats of an audio-only job: %+v", s)
	}
}

// TestAudioOnlyRTMP streams the demo room with --audio-only to nginx-rtmp:
// nginx takes the AAC-only FLV, a player reading the relayed stream
// (ffprobe) finds one AAC stream, and nginx's own recording of it is
// audio alone with every peer's tone.
func TestAudioOnlyRTMP(t *testing.T) {
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/AUDIOKEY5", ng.Port)
	out := t.TempDir()
	rec := startRoomcast(t, cleanEnv(), "record", "--room", "demo:", "--audio-only", "--rtmp", url, "--duration", "8s", "--out", out)

	// A player joins the relay once the publish runs.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := os.ReadFile(filepath.Join(out, "status.json")); err == nil && strings.Contains(string(st), `"running": true`) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_streams", "-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe of the relayed stream: %v", err)
	}
	var relayed probe
	if err := json.Unmarshal(b, &relayed); err != nil {
		t.Fatal(err)
	}
	if k := streamKinds(relayed); k != "audio/aac" {
		t.Errorf("the relayed stream has %s, want audio/aac alone", k)
	}

	if err := rec.wait(t, 30*time.Second); err != nil {
		t.Fatalf("roomcast: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	st := readStatus(t, out)
	if len(st.RTMPStreaming.Outputs) != 1 || st.RTMPStreaming.Outputs[0].Error != nil || st.RTMPStreaming.Outputs[0].Bytes == 0 {
		t.Errorf("final RTMP state %+v", st.RTMPStreaming)
	}
	ng.WaitPublishesEnded(1, 5*time.Second)
	ng.Stop()
	recs := ng.Recordings()
	if len(recs) != 1 {
		t.Fatalf("nginx recordings: %v", recs)
	}
	p := ffprobe(t, recs[0])
	if k := streamKinds(p); k != "audio/aac" {
		t.Errorf("nginx's recording has %s, want audio/aac alone", k)
	}
	if d, _ := strconv.ParseFloat(p.Format.Duration, 64); math.Abs(d-8) > 0.5 {
		t.Errorf("nginx's recording lasts %.2fs, want 8 s", d)
	}
	checkDemoTones(t, recs[0])
}

// TestAudioOnlyRefusesThumbnails: thumbnails of a job without a picture
// are a usage error that names both settings.
func TestAudioOnlyRefusesThumbnails(t *testing.T) {
	_, stderr, code := runRoomcast(t, "record", "--room", "demo:", "--audio-only", "--record", "--thumbnails", "10s", "--out", t.TempDir())
	if code != 2 || !strings.Contains(stderr, "thumbnails") || !strings.Contains(stderr, "audioOnly") {
		t.Errorf("exit %d, stderr %q: want 2 and an error naming thumbnails and audioOnly", code, stderr)
	}
}
