package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/worker"
)

// startRealTime starts a real-time demo recording that would run for a minute.
func startRealTime(t *testing.T, out string) *proc {
	t.Helper()
	return startRoomcast(t, cleanEnv(), "record", "--room", "demo:", "--record", "--resolution", "640x360",
		"--duration", "60s", "--out", out)
}

// playableSeconds decodes the file to the end and returns the last video
// frame's time: what a player would get out of it.
func playableSeconds(t *testing.T, path string) float64 {
	t.Helper()
	ts := videoPacketTimes(t, path)
	if len(ts) == 0 {
		t.Fatalf("%s has no readable video", path)
	}
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 && strings.Contains(string(out), "Invalid data") {
		t.Fatalf("%s does not decode: %v %s", path, err, out)
	}
	return ts[len(ts)-1]
}

// TestSIGKILLLeavesPlayableMP4: a job killed mid-way leaves an archive that
// plays up to its last fragment and an HLS recording that plays up to its
// last segment.
// hlsEnd says how an HLS recording's playlist must end.
type hlsEnd int

const (
	hlsCut    hlsEnd = iota // no ENDLIST: its process was killed
	hlsEnded                // ENDLIST: finalized
	hlsEither               // either (a process that may have finalized)
)

// playableHLSSeconds decodes the HLS recording in dir to its end, failing
// the test on a decode error, and returns the span of its video. A
// playlist without ENDLIST reads to a player as a live stream, which it
// waits on for more, so a copy that ends is read instead.
func playableHLSSeconds(t *testing.T, dir string, want hlsEnd) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.m3u8"))
	if err != nil {
		t.Fatalf("the HLS recording's playlist: %v", err)
	}
	has := bytes.Contains(b, []byte("#EXT-X-ENDLIST"))
	if want != hlsEither && has != (want == hlsEnded) {
		t.Errorf("the HLS recording's playlist has ENDLIST %v, want %v:\n%s", has, want == hlsEnded, b)
	}
	playlist := filepath.Join(dir, "index.m3u8")
	if !has {
		playlist = filepath.Join(dir, "killed.m3u8")
		if err := os.WriteFile(playlist, append(b, "#EXT-X-ENDLIST\n"...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ts := videoPacketTimes(t, playlist)
	if len(ts) == 0 {
		t.Fatalf("the HLS recording %s has no readable video", playlist)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", playlist, "-f", "null", "-").CombinedOutput(); err != nil {
		t.Errorf("the HLS recording %s does not decode to its end: %v\n%s", playlist, err, out)
	}
	return ts[len(ts)-1] - ts[0]
}

func TestSIGKILLLeavesPlayableMP4(t *testing.T) {
	out := t.TempDir()
	start := time.Now()
	rec := startRoomcast(t, cleanEnv(), "record", "--room", "demo:", "--record", "--hls-record", "--resolution", "640x360",
		"--duration", "60s", "--out", out)
	time.Sleep(7 * time.Second)
	elapsed := time.Since(start).Seconds()
	if err := rec.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 10*time.Second)
	got := playableSeconds(t, filepath.Join(out, "recording.mp4"))
	if got < elapsed-3 {
		t.Errorf("after SIGKILL at %.1fs the MP4 plays %.1fs; want at least %.1fs", elapsed, got, elapsed-3)
	}
	// The HLS recording loses at most the segment being written (2 s) on
	// top of what the start took.
	span := playableHLSSeconds(t, filepath.Join(out, "hls"), hlsCut)
	if span < elapsed-5 {
		t.Errorf("after SIGKILL at %.1fs the HLS recording plays %.1fs; want at least %.1fs", elapsed, span, elapsed-5)
	}
	t.Logf("killed at %.1fs; the MP4 plays %.2fs, the HLS recording %.2fs", elapsed, got, span)
}

func TestSIGINTFinalizes(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			rec := startRealTime(t, out)
			time.Sleep(4 * time.Second)
			if err := rec.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// It must exit within 20 s of the signal, and cleanly.
			if err := rec.wait(t, 20*time.Second); err != nil {
				t.Fatalf("exit after %s: %v\n%s", sig, err, rec.stderr.String())
			}
			mp4 := filepath.Join(out, "recording.mp4")
			p := ffprobe(t, mp4)
			d, _ := strconv.ParseFloat(p.Format.Duration, 64)
			if d < 3 || d > 6 {
				t.Errorf("finalized duration %.2fs, want about 4 s", d)
			}
			st := readStatus(t, out)
			if st.State != worker.Stopped || st.Reason == "" || st.Recording.Bytes == 0 {
				t.Errorf("status after %s: state %s reason %q bytes %d", sig, st.State, st.Reason, st.Recording.Bytes)
			}
		})
	}
}

func TestBadInputs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"odd resolution", []string{"--room", "demo:", "--record", "--resolution", "1281x720"}, []string{"resolution", "1281x720", "even"}},
		{"resolution shape", []string{"--room", "demo:", "--record", "--resolution", "720p"}, []string{"--resolution", "WIDTHxHEIGHT"}},
		{"four rtmp", []string{"--room", "demo:", "--rtmp", "rtmp://h/a/SECRET1", "--rtmp", "rtmp://h/a/SECRET2", "--rtmp", "rtmp://h/a/SECRET3", "--rtmp", "rtmp://h/a/SECRET4"}, []string{"limit is 3"}},
		{"nothing to do", []string{"--room", "demo:"}, []string{"nothing to do"}},
		{"no room", []string{"--record"}, []string{"meetingUrl is required"}},
		{"unknown scheme", []string{"--room", "zoom://x", "--record"}, []string{"unknown scheme"}},
		{"bad fps", []string{"--room", "demo:", "--record", "--fps", "120"}, []string{"fps", "1..60"}},
		{"bad duration", []string{"--room", "demo:", "--record", "--duration", "ten"}, []string{"--duration", "not a duration"}},
		{"bad layout", []string{"--room", "demo:", "--record", "--layout", "mosaic"}, []string{"layout", "grid, pip, screenshare, single, speaker"}},
		{"fast live", []string{"--room", "livekit://127.0.0.1:7880/x", "--record", "--fast"}, []string{"--fast", "file"}},
		{"missing manifest", []string{"--room", "file:nope/room.yaml", "--record"}, []string{"nope/room.yaml"}},
		{"unknown flag", []string{"--room", "demo:", "--recrod"}, []string{"unknown flag", "--recrod"}},
		{"bad hls variant", []string{"--room", "demo:", "--record", "--hls-variant", "foo"}, []string{"foo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"record", "--out", t.TempDir()}, tc.args...)
			_, stderr, code := runRoomcast(t, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if strings.Contains(stderr, "SECRET") {
				t.Errorf("stderr leaks a stream key:\n%s", stderr)
			}
		})
	}
}
