package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// run is one measured child process.
type run struct {
	label  string
	wall   time.Duration
	cpu    time.Duration // user + system
	maxRSS int64         // KiB
}

func measure(label string, name string, args ...string) (run, error) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return run{}, fmt.Errorf("%s: %v\n%s", label, err, tail(stderr.String(), 2000))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return run{}, errors.New("no rusage on this platform")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return run{label: label, wall: wall, cpu: cpu, maxRSS: ru.Maxrss}, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func main() {
	bin := flag.String("roomcast", "bin/roomcast", "the roomcast binary")
	dir := flag.String("dir", "bench/.cache", "where inputs and outputs go")
	seconds := flag.Int("seconds", 20, "room length")
	out := flag.String("results", "bench/results.md", "results file")
	flag.Parse()
	log.SetFlags(0)

	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var rows []string
	var notes []string

	// Row 1: a 4-peer 720p30 room of 640x360 VP8 + Opus peers.
	peers, err := makePeers(ctx, *dir, 4, 640, 360, *seconds)
	if err != nil {
		log.Fatal(err)
	}
	manifest := filepath.Join(*dir, "room4.yaml")
	if err := writeManifest(manifest, peers); err != nil {
		log.Fatal(err)
	}
	dur := fmt.Sprintf("%ds", *seconds)
	rc, err := measure("roomcast 4-peer 720p30", *bin, "record", "--room", "file:"+manifest, "--record",
		"--resolution", "1280x720", "--fps", "30", "--duration", dur, "--out", filepath.Join(*dir, "rc4"),
		"--encoder-threads", "1", "--log-level", "warn")
	if err != nil {
		log.Fatal(err)
	}
	ff, err := measure("ffmpeg 4-peer 720p30", "ffmpeg", ffmpegGridArgs(peers, 1280, 720, 30, *seconds, filepath.Join(*dir, "ff4.mp4"))...)
	if err != nil {
		log.Fatal(err)
	}
	rows = append(rows, compare("4 peers 640x360 VP8+Opus → 1280x720p30, "+dur+" (real time)", rc, ff, *seconds))

	rcFast, err := measure("roomcast --fast", *bin, "record", "--room", "file:"+manifest, "--record", "--fast",
		"--resolution", "1280x720", "--fps", "30", "--duration", dur, "--out", filepath.Join(*dir, "rc4fast"),
		"--encoder-threads", "1", "--log-level", "warn")
	if err != nil {
		log.Fatal(err)
	}
	rows = append(rows, compare("same room, roomcast --fast", rcFast, ff, *seconds))
	notes = append(notes, fmt.Sprintf("--fast finished %ds of room in %.1fs of wall time (%.1fx real time).",
		*seconds, rcFast.wall.Seconds(), float64(*seconds)/rcFast.wall.Seconds()))

	report := renderReport(rows, notes)
	fmt.Print(report)
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		log.Fatal(err)
	}
}

func compare(name string, rc, ff run, seconds int) string {
	return fmt.Sprintf("| %s | %.2f | %.2f | **%.2fx** | %.0f | %.0f | **%.2fx** |",
		name, rc.cpu.Seconds()/float64(seconds), ff.cpu.Seconds()/float64(seconds), rc.cpu.Seconds()/ff.cpu.Seconds(),
		float64(rc.maxRSS)/1024, float64(ff.maxRSS)/1024, float64(rc.maxRSS)/float64(ff.maxRSS))
}

func renderReport(rows, notes []string) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# roomcast benchmark\n\n%s, %s, %d CPUs, %s/%s, %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, cpuModel())
	b.WriteString("Each row runs roomcast and ffmpeg's CLI on the same inputs in the same run. CPU is user+system seconds per second of output; RSS is the peak resident set. Targets: CPU ≤ 1.2x, RSS ≤ 1.5x ffmpeg's.\n\n")
	b.WriteString("| case | roomcast CPU-s/s | ffmpeg CPU-s/s | CPU ratio | roomcast RSS MiB | ffmpeg RSS MiB | RSS ratio |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		b.WriteString(r + "\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}
