package main

// Audio-only jobs: what mixing the audio alone costs against the video
// job on the same room, and against ffmpeg's CLI doing the same mix.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// audioOnlySection records the bench's 4-peer room for seconds: the
// 720p30 video job and the --audio-only job in real time, the audio-only
// job with --fast, and ffmpeg's CLI mixing the same four Opus tracks into
// AAC (amix, no video decoded), and renders the "## audio-only" section.
func audioOnlySection(bin, dir string, peers []string, manifest string, seconds int) (string, error) {
	dur := fmt.Sprintf("%ds", seconds)
	args := func(out string, extra ...string) []string {
		a := []string{"record", "--room", "file:" + manifest, "--record", "--duration", dur,
			"--out", filepath.Join(dir, out), "--encoder-threads", "1", "--log-level", "warn"}
		return append(a, extra...)
	}
	video, err := measure("roomcast video", bin, args("ao-video", "--resolution", "1280x720", "--fps", "30")...)
	if err != nil {
		return "", err
	}
	audio, err := measure("roomcast audio-only", bin, args("ao-audio", "--audio-only")...)
	if err != nil {
		return "", err
	}
	fast, err := measure("roomcast audio-only --fast", bin, args("ao-fast", "--audio-only", "--fast")...)
	if err != nil {
		return "", err
	}
	ff, err := measure("ffmpeg amix", "ffmpeg", ffmpegMixArgs(peers, seconds, filepath.Join(dir, "ff-audio.m4a"))...)
	if err != nil {
		return "", err
	}
	s := float64(seconds)
	var b strings.Builder
	b.WriteString("## audio-only\n\n")
	fmt.Fprintf(&b, "The bench's 4-peer room (640x360 VP8 + Opus files), %s. `--audio-only` decodes the four Opus tracks, mixes them and encodes AAC into recording.m4a; the video tracks are read and dropped, not decoded. ffmpeg's CLI does the same mix (amix of the four Opus tracks, AAC 128k into an M4A, no video decoded), as fast as it can. CPU is user+system seconds per second of output.\n\n", dur)
	b.WriteString("| job | CPU-s/s | RSS MiB | against the video job | against ffmpeg's mix |\n|---|---|---|---|---|\n")
	row := func(name string, r run) {
		fmt.Fprintf(&b, "| %s | %.3f | %.0f | %.1f%% | %.2fx |\n", name, r.cpu.Seconds()/s, float64(r.maxRSS)/1024,
			100*r.cpu.Seconds()/video.cpu.Seconds(), r.cpu.Seconds()/ff.cpu.Seconds())
	}
	row("roomcast, video 1280x720p30 (real time)", video)
	row("roomcast --audio-only (real time)", audio)
	row("roomcast --audio-only --fast", fast)
	fmt.Fprintf(&b, "| ffmpeg amix → AAC | %.3f | %.0f | %.1f%% | 1.00x |\n", ff.cpu.Seconds()/s, float64(ff.maxRSS)/1024, 100*ff.cpu.Seconds()/video.cpu.Seconds())
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "\nAn audio-only job costs **%.1f%%** of the video job's CPU on the same room. The --fast row is the mix's own cost; in real time, pacing the file room's eight tracks (the video tracks' packets are still read) adds kernel time for the wake-ups, which the video job pays too. Measured %s, load average %s.\n",
		100*audio.cpu.Seconds()/video.cpu.Seconds(), time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.Join(strings.Fields(string(load))[:3], " "))
	return b.String(), nil
}

// ffmpegMixArgs is the audio-only job for ffmpeg's CLI: the peers' Opus
// tracks mixed (amix, unnormalized, as roomcast sums) into AAC-LC 128k,
// 48 kHz stereo, in an M4A. -vn keeps the video from being decoded.
func ffmpegMixArgs(peers []string, seconds int, out string) []string {
	args := []string{"-y", "-hide_banner", "-loglevel", "error"}
	for _, p := range peers {
		args = append(args, "-vn", "-i", p)
	}
	var f strings.Builder
	for i := range peers {
		fmt.Fprintf(&f, "[%d:a]", i)
	}
	fmt.Fprintf(&f, "amix=inputs=%d:normalize=0[a]", len(peers))
	return append(args, "-filter_complex", f.String(), "-map", "[a]", "-t", fmt.Sprint(seconds),
		"-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", out)
}
