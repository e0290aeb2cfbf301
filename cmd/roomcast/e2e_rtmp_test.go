package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
)

// TestRTMPThreeURLs streams the demo room to three ingests at once while
// recording: nginx-rtmp, which is killed mid-stream and restarted; ffmpeg
// -listen, which runs on; and a URL where nothing listens.
func TestRTMPThreeURLs(t *testing.T) {
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	lis := rtmptest.StartFFmpegListen(t, "live", "KEYLISTEN42")
	dead := rtmptest.FreePort(t)
	keys := []string{"KEYNGINX17", "KEYLISTEN42", "KEYDEAD99"}
	urls := []string{
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, keys[0]),
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", lis.Port, keys[1]),
		fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", dead, keys[2]),
	}
	out := t.TempDir()
	args := []string{"record", "--room", "demo:", "--record", "--resolution", "640x360", "--duration", "14s",
		"--out", out, "--log-format", "json", "--log-level", "debug"}
	for _, u := range urls {
		args = append(args, "--rtmp", u)
	}
	rec := startRoomcast(t, cleanEnv(), args...)

	time.Sleep(4 * time.Second)
	ng.Kill()
	time.Sleep(3 * time.Second)
	restartedAt := time.Now()
	ng.Start()

	if err := rec.wait(t, 40*time.Second); err != nil {
		t.Fatalf("roomcast: %v\n%s", err, tail(rec.stderr.String(), 4000))
	}
	endedAt := time.Now()

	st := readStatus(t, out)
	if len(st.RTMPStreaming.Outputs) != 3 {
		t.Fatalf("status lists %d RTMP outputs: %+v", len(st.RTMPStreaming.Outputs), st.RTMPStreaming)
	}
	nginxOut, listenOut, deadOut := st.RTMPStreaming.Outputs[0], st.RTMPStreaming.Outputs[1], st.RTMPStreaming.Outputs[2]
	if nginxOut.Retries == 0 || nginxOut.Bytes == 0 {
		t.Errorf("the restarted ingest: retries %d bytes %d; want retries > 0", nginxOut.Retries, nginxOut.Bytes)
	}
	if listenOut.Error != nil || listenOut.Retries != 0 || listenOut.Bytes == 0 {
		t.Errorf("the healthy ingest: %+v", listenOut)
	}
	if deadOut.Error == nil || deadOut.Bytes != 0 {
		t.Errorf("the dead ingest reports no error: %+v", deadOut)
	}
	if st.Recording.Error != nil || st.State != "stopped" {
		t.Errorf("job %s, recording %+v", st.State, st.Recording)
	}

	// The archive and the healthy ingest ran on with no gap.
	if ts := videoPacketTimes(t, filepath.Join(out, "recording.mp4")); len(ts) < 14*30-2 {
		t.Errorf("archive has %d frames, want 420", len(ts))
	} else {
		checkNoGap(t, "archive", ts, 1.0/30+0.002)
	}
	if err := lis.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	lts := videoPacketTimes(t, lis.Out)
	checkNoGap(t, "ffmpeg -listen ingest", lts, 0.1)
	if n := len(lts); n == 0 || lts[n-1]-lts[0] < 12 {
		t.Errorf("ffmpeg -listen got %d frames spanning %.1fs, want about 14 s", n, lts[max(n-1, 0)])
	}

	// The restarted nginx got the stream again within 2 s of coming back:
	// its second recording covers (nearly) everything from then to the end.
	ng.Stop()
	recs := ng.Recordings()
	if len(recs) < 2 {
		t.Fatalf("nginx recorded %d streams, want 2 (before and after its restart)", len(recs))
	}
	last := recs[len(recs)-1]
	rts := videoPacketTimes(t, last)
	if len(rts) == 0 {
		t.Fatalf("the recording after the restart has no video")
	}
	covered := rts[len(rts)-1] - rts[0]
	window := endedAt.Sub(restartedAt).Seconds()
	if covered < window-2.5 {
		t.Errorf("after the restart nginx received %.1fs of the last %.1fs: reconnected too late", covered, window)
	}
	t.Logf("restarted ingest received %.1fs of the %.1fs after its restart; retries %d", covered, window, nginxOut.Retries)

	// Stream keys appear nowhere.
	status, _ := os.ReadFile(filepath.Join(out, "status.json"))
	for _, k := range keys {
		for name, text := range map[string]string{"stderr": rec.stderr.String(), "stdout": rec.stdout.String(), "status.json": string(status)} {
			if strings.Contains(text, k) {
				t.Errorf("%s contains the stream key %s", name, k)
			}
		}
	}
}

func checkNoGap(t *testing.T, name string, ts []float64, maxGap float64) {
	t.Helper()
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d > maxGap || d <= 0 {
			t.Errorf("%s: frame %d at %.3fs comes %.3fs after the previous one", name, i, ts[i], d)
			return
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
