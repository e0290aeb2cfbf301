package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// outputLatency is the compositor's: output time T shows media time
// T - outputLatency (worker.Options.Latency's default).
const outputLatency = 200 * time.Millisecond

// latency runs the demo room in real time to an `ffmpeg -listen` ingest and
// measures:
//   - start latency: from the record command's start to the RTMP publish
//     (the first media follows at once) and to the first frame that shows
//     a peer's video;
//   - added latency: how long after a frame's capture in the room the ingest
//     has received it. The file room captures media time m at the job's
//     start plus m, and the frame with RTMP timestamp ts shows media time
//     ts - outputLatency; ffmpeg logs each frame (showinfo) as it decodes
//     it, at wall time W: added = W - (start + ts - 0.2 s), decode included.
func latency(bin, dir string) ([]string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/latency", port)
	// showinfo logs each frame as ffmpeg decodes it, with its timestamp,
	// which -copyts keeps on the job's timeline.
	ff := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-fflags", "nobuffer", "-flags", "low_delay",
		"-listen", "1", "-timeout", "30", "-f", "flv", "-copyts", "-i", url, "-map", "0:v", "-vf", "showinfo", "-f", "null", "-")
	stdout, err := ff.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := ff.Start(); err != nil {
		return nil, err
	}
	defer ff.Process.Kill()
	type sample struct {
		at time.Time
		ts time.Duration
	}
	samples := make(chan sample, 4096)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			i := strings.Index(line, "pts_time:")
			if i < 0 || !strings.Contains(line, "Parsed_showinfo") {
				continue
			}
			f := strings.Fields(line[i+len("pts_time:"):])
			if len(f) == 0 {
				continue
			}
			if sec, err := strconv.ParseFloat(f[0], 64); err == nil {
				select {
				case samples <- sample{time.Now(), time.Duration(sec * float64(time.Second))}:
				default:
				}
			}
		}
		close(samples)
	}()
	// Wait until ffmpeg listens, without connecting: it serves exactly one
	// connection.
	want := fmt.Sprintf(":%04X ", port)
	for i := 0; i < 200; i++ {
		b, _ := os.ReadFile("/proc/net/tcp")
		if strings.Contains(string(b), want) {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	out := filepath.Join(dir, "latency")
	rc := exec.Command(bin, "record", "--room", "demo:", "--rtmp", url, "--resolution", "1280x720",
		"--duration", "12s", "--out", out, "--log-format", "json", "--log-level", "info")
	logs, err := rc.StderrPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := rc.Start(); err != nil {
		return nil, err
	}
	var published, firstVideo time.Time
	sc := bufio.NewScanner(logs)
	for sc.Scan() {
		var l struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "rtmp publishing" && published.IsZero():
			published = l.Time
		case strings.Contains(l.Msg, "first frame with a peer's video") && firstVideo.IsZero():
			firstVideo = l.Time
		}
	}
	if err := rc.Wait(); err != nil {
		return nil, fmt.Errorf("latency run: %w", err)
	}
	st, err := readStatus(out)
	if err != nil || st.StartedAt == nil {
		return nil, fmt.Errorf("latency run status: %v", err)
	}
	ff.Process.Kill()
	var added []float64
	for s := range samples {
		if s.at.Before(published) {
			continue
		}
		d := s.at.Sub(st.StartedAt.Add(s.ts - outputLatency))
		added = append(added, d.Seconds()*1000)
	}
	var notes []string
	if !published.IsZero() {
		notes = append(notes, fmt.Sprintf("start latency to the RTMP ingest (command start → publish confirmed, first media right after): **%.0f ms**", published.Sub(start).Seconds()*1000))
	}
	if !firstVideo.IsZero() {
		notes = append(notes, fmt.Sprintf("start latency to the first encoded frame showing a peer's video (file room, real time): **%.0f ms** (of which %.0f ms is the output latency that lets late packets make their frame)",
			firstVideo.Sub(start).Seconds()*1000, outputLatency.Seconds()*1000))
	}
	if len(added) > 0 {
		sort.Float64s(added)
		notes = append(notes, fmt.Sprintf("added latency, capture in the room → received at the RTMP ingest: median **%.0f ms**, 90th percentile %.0f ms, over %d samples (includes the %.0f ms output latency)",
			added[len(added)/2], added[len(added)*9/10], len(added), outputLatency.Seconds()*1000))
	}
	return notes, nil
}
