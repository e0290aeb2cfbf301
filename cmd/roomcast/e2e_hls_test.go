package main

import (
	"encoding/json"
	"fmt"
	"os"
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
	rec := startRoomcast(t, cleanEnv(), "record", "--room", "demo:", "--hls", "--hls-record", "--http",
		fmt.Sprintf("127.0.0.1:%d", port), "--resolution", "640x360", "--duration", "10s", "--out", out)

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
		rec.cmd.Process.Kill()
		rec.wait(t, 10*time.Second)
		t.Fatalf("status.json never showed a running live HLS stream\n%s", rec.stderr.String())
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

	if err := rec.wait(t, 30*time.Second); err != nil {
		t.Fatalf("roomcast: %v\n%s", err, rec.stderr.String())
	}
	pl := filepath.Join(out, "hls", "index.m3u8")
	b, err := os.ReadFile(pl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "#EXT-X-ENDLIST") || !strings.Contains(string(b), "#EXT-X-PLAYLIST-TYPE:VOD") {
		t.Errorf("the finished HLS recording is not VOD with ENDLIST:\n%s", b)
	}
	vod := ffprobe(t, pl)
	if d, _ := strconv.ParseFloat(vod.Format.Duration, 64); d < 9 || d > 11 {
		t.Errorf("HLS recording lasts %.2fs, want 10 ± 1 s", d)
	}
	st := readStatus(t, out)
	if st.HLSStreaming.Error != nil || st.HLSRecording.Error != nil || st.HLSRecording.Path == nil || *st.HLSRecording.Path != "hls/index.m3u8" {
		t.Errorf("final HLS state: %+v %+v", st.HLSStreaming, st.HLSRecording)
	}
}
