package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/lktest"
	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/livekit"
)

// envPeersLong makes TestLiveKit25Peers run its room for 10 minutes (make
// chaos) rather than 24 s.
const envPeersLong = "ROOMCAST_PEERS_LONG"

// peersLateBound is the share of late output frames the 25-peer job may
// have. The job (25 decoders, a 1280x720p30 encode) shares two cores with
// livekit-server, the 25 publishers under the race detector and whatever
// else runs: the bound only catches a job that cannot keep up at all, and
// the share is logged.
const peersLateBound = 0.30

// peersRSSBound is the job's peak RSS bound, MiB.
const peersRSSBound = 900

// peerPalette gives each of the 25 peers a colour of its own: the levels
// 0, 128 and 255 per channel, less black (the canvas is near black) and
// white (labels). Any two are 128 apart, so a tile is told from its
// neighbours through two lossy encodes.
func peerPalette() [][3]int {
	var p [][3]int
	for _, r := range []int{0, 128, 255} {
		for _, g := range []int{0, 128, 255} {
			for _, b := range []int{0, 128, 255} {
				if (r == 0 && g == 0 && b == 0) || (r == 255 && g == 255 && b == 255) {
					continue
				}
				p = append(p, [3]int{r, g, b})
			}
		}
	}
	return p
}

// screenColour is the screen share's page: 110 or more from every peer's.
var screenColour = [3]int{64, 192, 192}

// peerClip encodes a 6 s clip of a solid colour and a tone: VP8 + Opus in
// WebM, or H.264 (constrained baseline) + Opus in Matroska.
func peerClip(t *testing.T, dir, name string, rgb [3]int, size string, fps, hz int, h264 bool) string {
	t.Helper()
	gop := fmt.Sprint(fps)
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=0x%02X%02X%02X:s=%s:r=%d:d=6", rgb[0], rgb[1], rgb[2], size, fps)}
	if hz > 0 {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=6", hz),
			"-c:a", "libopus", "-b:a", "24k", "-frame_duration", "20", "-ar", "48000", "-ac", "2")
	}
	out := filepath.Join(dir, name+".webm")
	if h264 {
		out = filepath.Join(dir, name+".mkv")
		args = append(args, "-c:v", "libx264", "-profile:v", "baseline", "-preset", "veryfast", "-tune", "zerolatency",
			"-bf", "0", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", "60k")
	} else {
		args = append(args, "-c:v", "libvpx", "-b:v", "60k", "-deadline", "realtime", "-cpu-used", "8",
			"-g", gop, "-keyint_min", gop, "-auto-alt-ref", "0", "-lag-in-frames", "0")
	}
	args = append(args, "-pix_fmt", "yuv420p", "-threads", "1", out)
	if b, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("making %s: %v\n%s", name, err, b)
	}
	return out
}

// TestLiveKit25Peers records a LiveKit room of 25 publishing peers, one of
// whom also shares a 1280x720 screen, at 1280x720p30 with the default
// layout: the share on the stage with a filmstrip while it runs, then, after
// it stops, all 25 cameras in the grid. Every peer's tile is found by its
// colour in the decoded output, the output keeps real time, and the job's
// late frames, CPU and memory are logged and loosely bounded.
func TestLiveKit25Peers(t *testing.T) {
	const peers = 25
	dur, shareFor := 24*time.Second, 13*time.Second
	camSize, camFPS := "160x90", 15
	if os.Getenv(envPeersLong) != "" {
		dur, shareFor = 10*time.Minute, 8*time.Minute
		camSize = "320x180"
	}
	rtmptest.NeedBinary(t, "ffmpeg")
	lk := startLiveKit(t)
	url := lk.URL("big")

	clips := t.TempDir()
	palette := peerPalette()
	files := make([]string, peers)
	var wg sync.WaitGroup
	for i := range peers {
		wg.Go(func() {
			// One in five on H.264, the rest VP8, each with its own tone.
			files[i] = peerClip(t, clips, fmt.Sprintf("p%02d", i), palette[i], camSize, camFPS, 300+40*i, i%5 == 4)
		})
	}
	var screen string
	wg.Go(func() { screen = peerClip(t, clips, "screen", screenColour, "1280x720", 5, 0, false) })
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pubs := make([]*livekit.Publisher, peers)
	errs := make([]error, peers)
	for i := range peers {
		opts := livekit.PublisherOptions{URL: url, APIKey: lktest.DevKey, APISecret: lktest.DevSecret,
			Identity: fmt.Sprintf("p%02d", i), Media: files[i], Loop: true}
		if i == peers-1 {
			opts.Screen = screen
		}
		p, err := livekit.NewPublisher(opts)
		if err != nil {
			t.Fatal(err)
		}
		pubs[i] = p
		t.Cleanup(func() { _ = p.Close() })
		wg.Go(func() { errs[i] = p.Start(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("publisher p%02d: %v", i, err)
		}
	}
	time.Sleep(time.Second)

	out := t.TempDir()
	recStart := time.Now()
	rec := startRoomcast(t, lkEnv(), "record", "--room", url, "--record", "--resolution", "1280x720", "--fps", "30",
		"--duration", dur.String(), "--out", out)

	// Wait for the job to start, then run the share for shareFor of it.
	var jobStart time.Time
	for deadline := time.Now().Add(30 * time.Second); jobStart.IsZero(); time.Sleep(100 * time.Millisecond) {
		if st, ok := tryStatus(out); ok && st.StartedAt != nil {
			jobStart = *st.StartedAt
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not start within 30 s\n%s", tail(rec.stderr.String(), 3000))
		}
	}
	select {
	case <-time.After(time.Until(jobStart.Add(shareFor))):
	case err := <-rec.done:
		rec.exit, rec.exited = err, true
		t.Fatalf("record ended while the share ran: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	if err := pubs[peers-1].Unpublish(room.SourceScreen, room.KindVideo); err != nil {
		t.Fatal(err)
	}
	shareEnd := time.Since(jobStart).Seconds()

	if err := rec.wait(t, dur+60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	wall := time.Since(recStart)
	for i, p := range pubs {
		if err := p.Err(); err != nil {
			t.Errorf("publisher p%02d stopped: %v", i, err)
		}
	}

	st := readStatus(t, out)
	if st.State != "stopped" || st.Error != nil || st.Recording.Error != nil {
		t.Fatalf("final state %s %+v, recording %+v: %s", st.State, st.Error, st.Recording, st.Reason)
	}
	if st.Peers != peers {
		t.Errorf("status shows %d peers at the end, want %d", st.Peers, peers)
	}
	mp4 := filepath.Join(out, "recording.mp4")
	ts := videoPacketTimes(t, mp4)
	want := int(dur.Seconds() * 30)
	if len(ts) < want-2 {
		t.Errorf("recording has %d frames, want %d", len(ts), want)
	}
	checkNoGap(t, "recording", ts, 1.0/30+0.002)
	if d := playableSeconds(t, mp4); d < dur.Seconds()-0.5 {
		t.Errorf("the recording plays %.1f s, want %.0f", d, dur.Seconds())
	}

	// While the share ran: the share on the stage, six cameras beneath.
	for _, at := range shareChecks(dur, shareEnd) {
		img := frameRGB(t, mp4, at, 1280, 720)
		if s := colourShare(img, screenColour, 50); s < 0.3 {
			t.Errorf("at %.1fs the screen share covers %.1f%% of the frame, want the stage (over 30%%)", at, 100*s)
		}
		if n := tilesShown(img, palette[:peers]); n < 6 {
			t.Errorf("at %.1fs %d cameras show beside the share, want the filmstrip's 6", at, n)
		}
	}
	// After it: everyone in the grid.
	for _, at := range []float64{shareEnd + 4, dur.Seconds() - 1.5} {
		img := frameRGB(t, mp4, at, 1280, 720)
		if s := colourShare(img, screenColour, 50); s > 0.005 {
			t.Errorf("at %.1fs the stopped share still covers %.1f%% of the frame", at, 100*s)
		}
		for i := range peers {
			if s := colourShare(img, palette[i], 50); s < 0.012 {
				t.Errorf("at %.1fs p%02d's tile (colour %v) covers %.2f%% of the frame, want a grid tile (about 3%%)", at, i, palette[i], 100*s)
			}
		}
	}

	// The figures.
	late := float64(st.Stats.LateFrames) / float64(max(1, st.Stats.Frames))
	ru := rec.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := rec.cmd.ProcessState.UserTime() + rec.cmd.ProcessState.SystemTime()
	rss := ru.Maxrss / 1024
	t.Logf("25 peers (%s p%d cameras, a 1280x720p5 share for %.1f s), %v at 1280x720p30: %d frames, %d late (%.2f%%), %d dropped, %d duplicated; "+
		"CPU %.1f s = %.2f cores over the process's %.1f s; peak RSS %d MiB",
		camSize, camFPS, shareEnd, dur, st.Stats.Frames, st.Stats.LateFrames, 100*late, st.Stats.DroppedFrames, st.Stats.DuplicatedFrames,
		cpu.Seconds(), cpu.Seconds()/wall.Seconds(), wall.Seconds(), rss)
	if late > peersLateBound {
		t.Errorf("%.1f%% of the frames were late, want under %.0f%%", 100*late, 100*peersLateBound)
	}
	if rss > peersRSSBound {
		t.Errorf("peak RSS %d MiB, want under %d", rss, peersRSSBound)
	}
}

// shareChecks are the times at which the share is looked for: a few
// seconds in (every track subscribed), and through a long run.
func shareChecks(dur time.Duration, shareEnd float64) []float64 {
	at := []float64{6, shareEnd - 2}
	if dur > time.Minute {
		at = []float64{10, shareEnd / 3, 2 * shareEnd / 3, shareEnd - 5}
	}
	return at
}

// tilesShown counts the palette colours that cover at least half a filmstrip
// tile (about 1.7% of the frame at 1280x720).
func tilesShown(img []byte, palette [][3]int) int {
	n := 0
	for _, c := range palette {
		if colourShare(img, c, 50) > 0.008 {
			n++
		}
	}
	return n
}
