package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/worker"
)

// TestHLSLiveAndRecording runs a job with live HLS and an HLS recording:
// ffprobe reads the live stream at the URL status.json gives while the job
// runs, and the finished recording is a VOD playlist of the job's length.
func TestHLSLiveAndRecording(t *testing.T) {
	out := t.TempDir()
	port := rtmptest.FreePort(t)
	cmd := exec.Command(binPath, "record", "--room", "demo:", "--hls", "--hls-record", "--http",
		fmt.Sprintf("127.0.0.1:%d", port), "--resolution", "640x360", "--duration", "10s", "--out", out)
	cmd.Dir = repoRoot(t)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The live URL comes from status.json, as a backend would read it.
	var url string
	deadline := time.Now().Add(10 * time.Second)
	for url == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		b, err := os.ReadFile(filepath.Join(out, "status.json"))
		if err != nil {
			continue
		}
		var st worker.State
		if json.Unmarshal(b, &st) == nil && st.HLSStreaming.URL != nil && st.HLSStreaming.Running {
			url = *st.HLSStreaming.URL
		}
	}
	if url == "" {
		t.Fatalf("status.json never showed a running live HLS stream\n%s", stderr.String())
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/hls/", port); !strings.HasPrefix(url, want) || !strings.HasSuffix(url, "/index.m3u8") {
		t.Errorf("live URL %s, want %s<job-id>/index.m3u8", url, want)
	}
	live := ffprobe(t, url)
	codecs := map[string]bool{}
	for _, s := range live.Streams {
		codecs[s.CodecName] = true
		if s.CodecType == "video" && (s.Width != 640 || s.Height != 360) {
			t.Errorf("live video %dx%d", s.Width, s.Height)
		}
	}
	if !codecs["h264"] || !codecs["aac"] {
		t.Errorf("live stream codecs %v, want h264 and aac", codecs)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("roomcast: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("roomcast did not finish")
	}
	pl := filepath.Join(out, "hls", "index.m3u8")
	b, err := os.ReadFile(pl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "#EXT-X-ENDLIST") || !strings.Contains(string(b), "#EXT-X-PLAYLIST-TYPE:VOD") {
		t.Errorf("the finished HLS recording is not VOD with ENDLIST:\n%s", b)
	}
	rec := ffprobe(t, pl)
	if d, _ := strconv.ParseFloat(rec.Format.Duration, 64); d < 9 || d > 11 {
		t.Errorf("HLS recording lasts %.2fs, want 10 ± 1 s", d)
	}
	st := readStatus(t, out)
	if st.HLSStreaming.Error != nil || st.HLSRecording.Error != nil || st.HLSRecording.Path == nil || *st.HLSRecording.Path != "hls/index.m3u8" {
		t.Errorf("final HLS state: %+v %+v", st.HLSStreaming, st.HLSRecording)
	}
}
