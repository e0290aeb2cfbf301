package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/roomcast/roomcast/internal/analyze"
)

// soak records a long room of two flash-and-beep peers in --fast mode and
// reports RSS over time, the frame count and each peer's A/V drift.
func soak(ctx context.Context, bin, dir string, seconds int) ([]string, error) {
	var peers []string
	for _, name := range []string{"sync-a", "sync-b"} {
		p := filepath.Join(dir, fmt.Sprintf("%s-%ds.webm", name, seconds))
		peers = append(peers, p)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		src := filepath.Join("testdata", "peers", name+".webm")
		// Loop the 10 s clip by stream copy: both streams loop together, so
		// every flash keeps its beep, and nothing is re-encoded.
		cmd := exec.CommandContext(ctx, "ffmpeg", "-y", "-hide_banner", "-loglevel", "error", "-stream_loop", "-1", "-i", src,
			"-t", strconv.Itoa(seconds), "-c", "copy", p+".tmp.webm")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("making %s: %v: %s", p, err, b)
		}
		if err := os.Rename(p+".tmp.webm", p); err != nil {
			return nil, err
		}
	}
	mf := filepath.Join(dir, "soak.yaml")
	if err := writeManifest(mf, peers); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "soak")
	cmd := exec.CommandContext(ctx, bin, "record", "--room", "file:"+mf, "--record", "--fast", "--resolution", "320x180",
		"--duration", fmt.Sprintf("%ds", seconds), "--out", out, "--log-level", "warn")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var samples []string
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var rssMin, rssMax int64
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("soak run: %w", err)
			}
			break wait
		case <-tick.C:
			kb := rssKiB(cmd.Process.Pid)
			if kb == 0 {
				continue
			}
			if rssMin == 0 || kb < rssMin {
				rssMin = kb
			}
			rssMax = max(rssMax, kb)
			samples = append(samples, fmt.Sprintf("%.0fs:%d", time.Since(start).Seconds(), kb/1024))
		}
	}
	wall := time.Since(start)
	if n := len(samples); n > 15 {
		thin := make([]string, 0, 16)
		for i := 0; i < 15; i++ {
			thin = append(thin, samples[i*n/15])
		}
		samples = append(thin, samples[n-1])
	}
	st, err := readStatus(out)
	if err != nil {
		return nil, err
	}
	rep, err := analyze.AnalyzeSync(ctx, filepath.Join(out, "recording.mp4"), analyze.SyncOptions{Tones: []float64{1000, 2000}, Cols: 2, Rows: 1})
	if err != nil {
		return nil, fmt.Errorf("analyzing the soak recording: %w", err)
	}
	notes := []string{
		fmt.Sprintf("%d s room in --fast (2 looped flash/beep peers, 320x240 VP8 + Opus, composed at 320x180): %.0f s of wall time; %d frames written (want %d); RSS %d–%d MiB over the run (samples, wall s:MiB: %s)",
			seconds, wall.Seconds(), st.Stats.Frames, seconds*30, rssMin/1024, rssMax/1024, strings.Join(samples, " ")),
	}
	for _, p := range rep.Peers {
		notes = append(notes, fmt.Sprintf("soak peer %.0f Hz: %d flash/beep pairs, A/V offset mean %.1f ms (max %.1f ms), drift %.2f ± %.2f ms/hour",
			p.ToneHz, len(p.Pairs), p.MeanOffsetMs, p.MaxOffsetMs, p.DriftMsPerHour, p.DriftStdErrMsPerHour))
	}
	return notes, nil
}

func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
	}
	return 0
}
