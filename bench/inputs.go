package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// makePeers encodes n VP8 + Opus peers (a moving test pattern tinted per
// peer, and a tone), once; later runs reuse them.
func makePeers(ctx context.Context, dir string, n, w, h, seconds int) ([]string, error) {
	var out []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("peer%d-%dx%d-%ds.webm", i, w, h, seconds))
		out = append(out, p)
		if _, err := os.Stat(p); err == nil {
			continue
		}
		args := []string{"-y", "-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30,hue=h=%d", w, h, i*70),
			"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000", 300+200*i),
			"-t", fmt.Sprint(seconds), "-c:v", "libvpx", "-b:v", "600k", "-deadline", "realtime", "-cpu-used", "8", "-g", "60",
			"-c:a", "libopus", "-b:a", "48k", "-ac", "2", p + ".tmp.webm"}
		cmd := exec.CommandContext(ctx, "ffmpeg", args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("making %s: %v: %s", p, err, b)
		}
		if err := os.Rename(p+".tmp.webm", p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func writeManifest(path string, peers []string) error {
	var b strings.Builder
	b.WriteString("peers:\n")
	for i, p := range peers {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  - name: peer%d\n    media: %s\n    join: 0s\n", i, abs)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// ffmpegGridArgs is the same job for ffmpeg's CLI: decode, scale each peer
// into its cell, xstack to the canvas, amix, libx264 veryfast on one thread
// with roomcast's rate control, AAC into an MP4.
func ffmpegGridArgs(peers []string, w, h, fps, seconds int, out string) []string {
	n := len(peers)
	cols := 1
	for cols*cols < n {
		cols++
	}
	rows := (n + cols - 1) / cols
	cw, ch := w/cols/2*2, h/rows/2*2
	args := []string{"-y", "-hide_banner", "-loglevel", "error"}
	for _, p := range peers {
		args = append(args, "-i", p)
	}
	var f strings.Builder
	var layout []string
	for i := range peers {
		fmt.Fprintf(&f, "[%d:v]scale=%d:%d:force_original_aspect_ratio=decrease,pad=%d:%d:(ow-iw)/2:(oh-ih)/2,fps=%d[v%d];", i, cw, ch, cw, ch, fps, i)
		layout = append(layout, fmt.Sprintf("%d_%d", (i%cols)*cw, (i/cols)*ch))
	}
	for i := range peers {
		fmt.Fprintf(&f, "[v%d]", i)
	}
	fmt.Fprintf(&f, "xstack=inputs=%d:layout=%s:fill=0x202020,pad=%d:%d[v];", n, strings.Join(layout, "|"), w, h)
	for i := range peers {
		fmt.Fprintf(&f, "[%d:a]", i)
	}
	fmt.Fprintf(&f, "amix=inputs=%d:normalize=0[a]", n)
	br := w * h * fps * 9 / 100
	args = append(args, "-filter_complex", f.String(), "-map", "[v]", "-map", "[a]", "-t", fmt.Sprint(seconds),
		"-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-threads", "1",
		"-g", fmt.Sprint(2*fps), "-b:v", fmt.Sprint(br), "-maxrate", fmt.Sprint(br), "-bufsize", fmt.Sprint(2*br),
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", out)
	return args
}
