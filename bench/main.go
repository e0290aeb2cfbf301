package main

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/roomcast/roomcast/worker"
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
	soakSeconds := flag.Int("soak", 3600, "length of the --fast soak room in seconds (0: skip)")
	only := flag.String("only", "", "run only this part: soak, latency, serve, rooms, fleet or audio (serve, rooms, fleet and audio update their sections of -results)")
	flag.Parse()
	log.SetFlags(0)

	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var rows []string
	var notes []string
	if *only == "latency" {
		n, err := latency(*bin, *dir)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(strings.Join(n, "\n"))
		return
	}
	if *only == "fleet" {
		res, err := fleetPart(ctx, *bin, *dir)
		if err != nil {
			log.Fatal(err)
		}
		sec := fleetSection(res)
		fmt.Print(sec)
		if err := spliceSection(*out, "## fleet", sec); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *only == "soak" {
		n, err := soak(ctx, *bin, *dir, *soakSeconds)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(strings.Join(n, "\n"))
		return
	}

	// Row 1: a 4-peer 720p30 room of 640x360 VP8 + Opus peers.
	peers, err := makePeers(ctx, *dir, 4, 640, 360, *seconds)
	if err != nil {
		log.Fatal(err)
	}
	manifest := filepath.Join(*dir, "room4.yaml")
	if err := writeManifest(manifest, peers); err != nil {
		log.Fatal(err)
	}
	if *only == "serve" {
		ng, err := startNginx(*dir)
		if err != nil {
			log.Fatal(err)
		}
		res, err := servePart(ctx, *bin, *dir, peers, manifest, *seconds, ng)
		ng.stop()
		if err != nil {
			log.Fatal(err)
		}
		sec := res.section()
		fmt.Print(sec)
		if err := spliceSection(*out, "## serve", sec); err != nil {
			log.Fatal(err)
		}
		return
	} else if *only == "rooms" {
		if err := roomsRows(ctx, *bin, *dir, peers, *seconds, *out); err != nil {
			log.Fatal(err)
		}
		return
	} else if *only == "audio" {
		sec, err := audioOnlySection(*bin, *dir, peers, manifest, *seconds)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(sec)
		if err := spliceSection(*out, "## audio-only", sec); err != nil {
			log.Fatal(err)
		}
		return
	} else if *only != "" {
		log.Fatalf("-only %q: want soak, latency, serve, rooms, fleet or audio", *only)
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

	// Output fan-out: the encoder runs once, so each extra output should
	// cost only its muxing and I/O.
	ng, err := startNginx(*dir)
	if err != nil {
		log.Fatal(err)
	}
	defer ng.stop()
	recordArgs := func(out string, extra ...string) []string {
		a := []string{"record", "--room", "file:" + manifest, "--resolution", "1280x720", "--fps", "30",
			"--duration", dur, "--out", filepath.Join(*dir, out), "--encoder-threads", "1", "--log-level", "warn"}
		return append(a, extra...)
	}
	one, err := measure("1 RTMP", *bin, recordArgs("rtmp1", "--record", "--rtmp", ng.url("a"))...)
	if err != nil {
		log.Fatal(err)
	}
	three, err := measure("3 RTMP", *bin, recordArgs("rtmp3", "--record", "--rtmp", ng.url("a"), "--rtmp", ng.url("b"), "--rtmp", ng.url("c"))...)
	if err != nil {
		log.Fatal(err)
	}
	all, err := measure("all outputs", *bin, recordArgs("all", "--record", "--rtmp", ng.url("d"), "--rtmp", ng.url("e"), "--rtmp", ng.url("f"),
		"--hls", "--hls-record", "--http", "127.0.0.1:0")...)
	if err != nil {
		log.Fatal(err)
	}
	outRows := []string{
		fmt.Sprintf("| MP4 + 1 RTMP | %.3f | — |", one.cpu.Seconds()/float64(*seconds)),
		fmt.Sprintf("| MP4 + 3 RTMP | %.3f | %+.1f%% |", three.cpu.Seconds()/float64(*seconds), pct(three.cpu, one.cpu)),
		fmt.Sprintf("| MP4 alone (row 1) | %.3f | — |", rc.cpu.Seconds()/float64(*seconds)),
		fmt.Sprintf("| MP4 + 3 RTMP + live HLS + HLS recording | %.3f | %+.1f%% against MP4 alone |", all.cpu.Seconds()/float64(*seconds), pct(all.cpu, rc.cpu)),
	}

	// A larger canvas, against ffmpeg again.
	ff1080, err := measure("ffmpeg 1080p", "ffmpeg", ffmpegGridArgs(peers, 1920, 1080, 30, *seconds, filepath.Join(*dir, "ff1080.mp4"))...)
	if err != nil {
		log.Fatal(err)
	}
	rc1080, err := measure("roomcast 1080p", *bin, "record", "--room", "file:"+manifest, "--record", "--resolution", "1920x1080",
		"--duration", dur, "--out", filepath.Join(*dir, "rc1080"), "--encoder-threads", "1", "--log-level", "warn")
	if err != nil {
		log.Fatal(err)
	}
	rows = append(rows, compare("4 peers → 1920x1080p30, "+dur+" (real time)", rc1080, ff1080, *seconds))

	// Many tiles: small peers, composed at 1080p30.
	for _, n := range []int{25, 49} {
		small, err := makePeers(ctx, *dir, n, 320, 180, 10)
		if err != nil {
			log.Fatal(err)
		}
		mf := filepath.Join(*dir, fmt.Sprintf("room%d.yaml", n))
		if err := writeManifest(mf, small); err != nil {
			log.Fatal(err)
		}
		ffn, err := measure(fmt.Sprintf("ffmpeg %d", n), "ffmpeg", ffmpegGridArgs(small, 1920, 1080, 30, 10, filepath.Join(*dir, fmt.Sprintf("ff%d.mp4", n)))...)
		if err != nil {
			log.Fatal(err)
		}
		rcn, err := measure(fmt.Sprintf("roomcast %d", n), *bin, "record", "--room", "file:"+mf, "--record", "--fast",
			"--resolution", "1920x1080", "--duration", "10s", "--out", filepath.Join(*dir, fmt.Sprintf("rc%d", n)),
			"--encoder-threads", "1", "--log-level", "warn")
		if err != nil {
			log.Fatal(err)
		}
		rows = append(rows, compare(fmt.Sprintf("%d peers 320x180 → 1920x1080p30, 10s (--fast)", n), rcn, ffn, 10))
		if n == 49 {
			n49, err := overlayNotes(*bin, *dir, mf, rcn)
			if err != nil {
				log.Fatal(err)
			}
			notes = append(notes, n49...)
		}
	}

	lat, err := latency(*bin, *dir)
	if err != nil {
		log.Fatal(err)
	}
	notes = append(notes, lat...)

	// serve, and how many real-time 720p30 jobs this machine keeps up
	// with, through serve and as record commands.
	srv, err := servePart(ctx, *bin, *dir, peers, manifest, *seconds, ng)
	if err != nil {
		log.Fatal(err)
	}

	// The same room live, over Janus and over LiveKit.
	liveRooms, err := roomsPart(ctx, *bin, *dir, peers, *seconds)
	if err != nil {
		log.Fatal(err)
	}

	// Placement and failover in a fleet of three nodes.
	fl, err := fleetPart(ctx, *bin, *dir)
	if err != nil {
		log.Fatal(err)
	}

	audioSec, err := audioOnlySection(*bin, *dir, peers, manifest, *seconds)
	if err != nil {
		log.Fatal(err)
	}

	if *soakSeconds > 0 {
		n, err := soak(ctx, *bin, *dir, *soakSeconds)
		if err != nil {
			log.Fatal(err)
		}
		notes = append(notes, n...)
	}

	report := renderReport(rows, notes)
	report += "\n## Outputs\n\nCPU-seconds per second of output, roomcast only, same 4-peer 720p30 room, real time. The encoder runs once; outputs only mux and send.\n\n| outputs | CPU-s/s | extra |\n|---|---|---|\n" + strings.Join(outRows, "\n") + "\n"
	report += "\n" + srv.section()
	report += "\n" + roomsSection(liveRooms, *seconds)
	report += "\n" + fleetSection(fl)
	report += "\n" + audioSec
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

func pct(a, b time.Duration) float64 { return (a.Seconds()/b.Seconds() - 1) * 100 }

// readStatus reads a job's status.json.
func readStatus(dir string) (worker.State, error) {
	var st worker.State
	b, err := os.ReadFile(filepath.Join(dir, "status.json"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s/status.json: %w", dir, err)
	}
	return st, nil
}

// overlayNotes measures, on the 49-tile room, what the grid preset's
// overlays (a name on every tile, the speaker's border) cost against the
// same grid without them, and whether 49 labelled tiles at 1080p30 keep
// real time (the room played at its own pace, not --fast).
func overlayNotes(bin, dir, manifest string, labelled run) ([]string, error) {
	plain := filepath.Join("testdata", "layouts", "grid-plain.json")
	rp, err := measure("roomcast 49 without overlays", bin, "record", "--room", "file:"+manifest, "--record", "--fast",
		"--resolution", "1920x1080", "--duration", "10s", "--out", filepath.Join(dir, "rc49plain"),
		"--encoder-threads", "1", "--log-level", "warn", "--layout-file", plain)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "rc49live")
	live, err := measure("roomcast 49 real time", bin, "record", "--room", "file:"+manifest, "--record",
		"--resolution", "1920x1080", "--duration", "10s", "--out", out, "--log-level", "warn")
	if err != nil {
		return nil, err
	}
	st, err := readStatus(out)
	if err != nil {
		return nil, err
	}
	late := 0.0
	if st.Stats.Frames > 0 {
		late = 100 * float64(st.Stats.LateFrames) / float64(st.Stats.Frames)
	}
	return []string{
		fmt.Sprintf("- overlays, 49 tiles at 1080p30 (--fast): %.2f CPU-s with the grid preset's names and border, %.2f without (testdata/layouts/grid-plain.json): **%+.1f%%** (target ≤ 2%%)",
			labelled.cpu.Seconds(), rp.cpu.Seconds(), pct(labelled.cpu, rp.cpu)),
		fmt.Sprintf("- 49 labelled tiles at 1080p30 in real time: %.2f CPU-s/s, %d frames, **%.1f%%** late (target: real time, ≤ 1%% late)",
			live.cpu.Seconds()/live.wall.Seconds(), st.Stats.Frames, late),
	}, nil
}
