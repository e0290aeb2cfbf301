package main

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/roomcast/roomcast/internal/analyze"
)

// TestLipSync records the sync room, whose peers flash and beep together
// (1 kHz every 1.0 s, 2 kHz every 1.3 s), and checks that audio and video
// stay within 40 ms of each other in the output, for both peers. It covers
// the file room's RTP timestamps and sender reports, the pipeline's SR
// mapping, the compositor's clock and the encoder's audio priming.
func TestLipSync(t *testing.T) {
	for _, fast := range []bool{true, false} {
		name := "realtime"
		if fast {
			name = "fast"
		}
		t.Run(name, func(t *testing.T) {
			out := t.TempDir()
			args := []string{"record", "--room", "file:testdata/rooms/sync.yaml", "--record", "--resolution", "1280x720",
				"--duration", "9s", "--out", out}
			if fast {
				args = append(args, "--fast")
			}
			if _, stderr, code := runRoomcast(t, args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			rep, err := analyze.AnalyzeSync(context.Background(), filepath.Join(out, "recording.mp4"),
				analyze.SyncOptions{Tones: []float64{1000, 2000}, Cols: 2, Rows: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Peers) != 2 {
				t.Fatalf("found %d flashing peers with beeps, want 2", len(rep.Peers))
			}
			for _, p := range rep.Peers {
				if len(p.Pairs) < 5 {
					t.Errorf("peer %s (%.0f Hz): only %d flash/beep pairs", p.Name, p.ToneHz, len(p.Pairs))
				}
				if math.Abs(p.MaxOffsetMs) > 40 {
					t.Errorf("peer %s (%.0f Hz): A/V offset up to %.1f ms (mean %.1f), want within 40 ms", p.Name, p.ToneHz, p.MaxOffsetMs, p.MeanOffsetMs)
				}
				t.Logf("peer %s (%.0f Hz): %d pairs, mean offset %.1f ms, max %.1f ms", p.Name, p.ToneHz, len(p.Pairs), p.MeanOffsetMs, p.MaxOffsetMs)
			}
		})
	}
}

// TestLoopedFileStaysInSync: a file whose audio steps back at every loop
// (the sync clip stream-copied six times) must not drift: overlapping audio
// is dropped, not sent late. Before the fix this drifted 20 ms per loop.
func TestLoopedFileStaysInSync(t *testing.T) {
	dir := t.TempDir()
	looped := filepath.Join(dir, "looped.webm")
	src := filepath.Join(repoRoot(t), "testdata", "peers", "sync-a.webm")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-stream_loop", "5", "-i", src, "-c", "copy", looped).CombinedOutput(); err != nil {
		t.Fatalf("looping the clip: %v\n%s", err, out)
	}
	manifest := filepath.Join(dir, "room.yaml")
	if err := os.WriteFile(manifest, []byte("peers:\n  - name: a\n    media: looped.webm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if _, stderr, code := runRoomcast(t, "record", "--room", "file:"+manifest, "--record", "--fast", "--resolution", "320x180",
		"--duration", "58s", "--out", out); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep, err := analyze.AnalyzeSync(context.Background(), filepath.Join(out, "recording.mp4"),
		analyze.SyncOptions{Tones: []float64{1000}, Cols: 1, Rows: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Peers) != 1 || len(rep.Peers[0].Pairs) < 50 {
		t.Fatalf("sync analysis found %+v", rep.Peers)
	}
	p := rep.Peers[0]
	if math.Abs(p.MaxOffsetMs) > 20 || p.StdDevMs > 5 {
		t.Errorf("over 58 s of a looped file: offset mean %.1f ms, max %.1f ms, spread %.1f ms; want within 20 ms and steady",
			p.MeanOffsetMs, p.MaxOffsetMs, p.StdDevMs)
	}
	t.Logf("looped file: %d pairs, offset mean %.1f ms, max %.1f ms, drift %.0f ± %.0f ms/h", len(p.Pairs), p.MeanOffsetMs, p.MaxOffsetMs, p.DriftMsPerHour, p.DriftStdErrMsPerHour)
}
