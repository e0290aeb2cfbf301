package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/analyze"
	"github.com/roomcast/roomcast/internal/janustest"
)

// The Janus end-to-end tests run Janus, the publishers and the recorder
// inside a network namespace the test makes (janustest): Janus offers no
// loopback candidates.

func startJanusServer(t *testing.T) *janustest.Server {
	t.Helper()
	s, err := janustest.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("janus:\n%s", tail(s.Logs(), 3000))
		}
		s.Close()
	})
	return s
}

func janusRoom(t *testing.T, s *janustest.Server, r janustest.Room) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.CreateRoom(ctx, r); err != nil {
		t.Fatal(err)
	}
	return s.URL(r.ID)
}

// janusPublish starts `roomcast publish` inside Janus's namespace.
func janusPublish(t *testing.T, s *janustest.Server, url, display, media string) *proc {
	t.Helper()
	return nsRoomcast(t, s, "publish", "--room", url, "--identity", display, "--media", media, "--loop")
}

// nsRoomcast starts the binary inside the server's namespace; it is killed
// when the test ends.
func nsRoomcast(t *testing.T, s *janustest.Server, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: s.NS.Command(binPath, args...), done: make(chan error, 1)}
	p.cmd.Dir = repoRoot(t)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() && args[0] == "publish" {
			t.Logf("publisher %s:\n%s", args[4], tail(p.stderr.String(), 1500))
		}
	})
	return p
}

// stop kills the process (ip netns exec runs it in its own place, so the
// pid is the process's) and waits for it.
func (p *proc) stop() {
	_ = p.cmd.Process.Kill()
	if !p.exited {
		p.exit = <-p.done
		p.exited = true
	}
}

// interrupt stops the process as a user would, so it leaves the room.
func (p *proc) interrupt() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case p.exit = <-p.done:
		p.exited = true
	case <-time.After(5 * time.Second):
		p.stop()
	}
}

// regionShare is colourShare over the rectangle [x0,x1)x[y0,y1) of a w-wide
// frame.
func regionShare(img []byte, w, x0, y0, x1, y1 int, rgb [3]int) float64 {
	var sub bytes.Buffer
	for y := y0; y < y1; y++ {
		sub.Write(img[(y*w+x0)*3 : (y*w+x1)*3])
	}
	return colourShare(sub.Bytes(), rgb, 60)
}

// TestJanusRoom records a Janus VideoRoom room: alice (VP8, red) and carol
// (H.264, blue) publish before the recorder joins, vic (VP9, cyan) joins
// late and carol leaves early. Each shows in the tile the grid gives it, in
// join order (alice before carol: peers already there when the recorder
// joins go by name); the recorder stays out of listparticipants.
func TestJanusRoom(t *testing.T) {
	s := startJanusServer(t)
	url := janusRoom(t, s, janustest.Room{ID: 4242, Description: "e2e"})
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	janusPublish(t, s, url, "alice", filepath.Join(peers, "alice.webm"))
	time.Sleep(300 * time.Millisecond) // alice first, so she is the first tile
	carol := janusPublish(t, s, url, "carol", filepath.Join(peers, "carol.mkv"))
	time.Sleep(time.Second)

	out := t.TempDir()
	recStart := time.Now()
	rec := nsRoomcast(t, s, "record", "--room", url, "--record", "--resolution", "640x360", "--duration", "14s", "--out", out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("recorder:\n%s", tail(rec.stderr.String(), 6000))
		}
	})
	time.Sleep(4 * time.Second)
	vicAt := time.Since(recStart).Seconds()
	janusPublish(t, s, url, "vic", filepath.Join(peers, "codec-vp9.webm"))
	time.Sleep(2500 * time.Millisecond)

	// Hidden: while it records, the room lists the three publishers only.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ps, err := s.ListParticipants(ctx, 4242, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Display)
	}
	if len(ps) != 3 {
		t.Errorf("listparticipants shows %v, want alice, carol and vic only (the recorder is hidden)", names)
	}

	time.Sleep(2 * time.Second)
	carolLeft := time.Since(recStart).Seconds()
	carol.interrupt()

	if err := rec.wait(t, 60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	st := readStatus(t, out)
	if st.State != "stopped" || st.Error != nil {
		t.Fatalf("final state %s %+v: %s", st.State, st.Error, st.Reason)
	}
	if strings.Contains(st.Room, "pin") {
		t.Errorf("state shows the room as %q", st.Room)
	}
	mp4 := filepath.Join(out, "recording.mp4")
	red, blue, cyan := [3]int{255, 0, 0}, [3]int{0, 0, 255}, [3]int{0, 255, 255}
	type want struct {
		rgb            [3]int
		x0, y0, x1, y1 int
	}
	check := func(at float64, what string, ws []want, absent ...[3]int) {
		t.Helper()
		img := frameRGB(t, mp4, at, 640, 360)
		for _, w := range ws {
			if sh := regionShare(img, 640, w.x0, w.y0, w.x1, w.y1, w.rgb); sh < 0.2 {
				t.Errorf("at %.1fs (%s): colour %v fills %.0f%% of its tile (%d,%d)-(%d,%d), want most of it", at, what, w.rgb, sh*100, w.x0, w.y0, w.x1, w.y1)
			}
		}
		for _, a := range absent {
			if sh := colourShare(img, a, 60); sh > 0.005 {
				t.Errorf("at %.1fs (%s): colour %v shows on %.1f%% of the frame, want none", at, what, a, sh*100)
			}
		}
	}
	// Two tiles side by side, then a 2x2 grid whose last row is centred,
	// then two again.
	check(vicAt-1, "alice and carol", []want{{red, 20, 100, 300, 260}, {blue, 340, 100, 620, 260}}, cyan)
	check(carolLeft-0.8, "all three", []want{{red, 100, 20, 300, 160}, {blue, 340, 20, 540, 160}, {cyan, 220, 200, 420, 340}})
	check(13.3, "carol gone", []want{{red, 20, 100, 300, 260}, {cyan, 340, 100, 620, 260}}, blue)
	if st.Peers != 2 {
		t.Errorf("status shows %d peers at the end, want 2", st.Peers)
	}
}

// TestJanusLipSync records two peers that flash and beep together through
// Janus, and checks A/V sync as TestLipSync does for the file room.
func TestJanusLipSync(t *testing.T) {
	s := startJanusServer(t)
	url := janusRoom(t, s, janustest.Room{ID: 77})
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	janusPublish(t, s, url, "a", filepath.Join(peers, "sync-a.webm"))
	time.Sleep(300 * time.Millisecond)
	janusPublish(t, s, url, "b", filepath.Join(peers, "sync-b.webm"))
	time.Sleep(time.Second)
	out := t.TempDir()
	rec := nsRoomcast(t, s, "record", "--room", url, "--record", "--resolution", "640x360", "--duration", "10s", "--out", out)
	if err := rec.wait(t, 60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
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
}

// TestJanusRestart kills Janus mid-job and starts it again; the room is
// made again and alice publishes again, as a deployment's own tooling
// would. The recorder reconnects and shows her again.
func TestJanusRestart(t *testing.T) {
	s := startJanusServer(t)
	room := janustest.Room{ID: 99}
	url := janusRoom(t, s, room)
	alice := filepath.Join(repoRoot(t), "testdata", "peers", "alice.webm")
	p := janusPublish(t, s, url, "alice", alice)
	time.Sleep(time.Second)
	out := t.TempDir()
	recStart := time.Now()
	rec := nsRoomcast(t, s, "record", "--room", url, "--record", "--resolution", "320x180", "--duration", "16s", "--out", out)
	time.Sleep(4 * time.Second)
	s.Kill()
	p.stop()
	time.Sleep(1500 * time.Millisecond)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	janusRoom(t, s, room)
	janusPublish(t, s, url, "alice", alice)
	back := time.Since(recStart).Seconds()
	if err := rec.wait(t, 60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	st := readStatus(t, out)
	if st.State != "stopped" || st.Error != nil {
		t.Fatalf("final state %s %+v: %s\n%s", st.State, st.Error, st.Reason, tail(rec.stderr.String(), 3000))
	}
	mp4 := filepath.Join(out, "recording.mp4")
	red := [3]int{255, 0, 0}
	if sh := colourShare(frameRGB(t, mp4, 3, 320, 180), red, 60); sh < 0.2 {
		t.Errorf("before the restart alice fills %.0f%% of the frame", sh*100)
	}
	if sh := colourShare(frameRGB(t, mp4, math.Min(back+6, 15.5), 320, 180), red, 60); sh < 0.2 {
		t.Errorf("after the restart alice fills %.0f%% of the frame; the recorder did not come back\n%s", sh*100, tail(rec.stderr.String(), 3000))
	}
	if !strings.Contains(rec.stderr.String(), "reconnected") {
		t.Logf("stderr:\n%s", tail(rec.stderr.String(), 2000))
	}
}

// TestJanusSimulcastTile: a publisher sends three simulcast layers, each
// its own colour (high red, middle green, low blue). Recorded small, its
// tile gets the low layer; recorded large, the high one: the worker tells
// the connector each tile's size, which picks the substream.
func TestJanusSimulcastTile(t *testing.T) {
	s := startJanusServer(t)
	url := janusRoom(t, s, janustest.Room{ID: 31, VideoCodec: "vp8"})
	dir := t.TempDir()
	var layers []string
	for _, l := range []struct{ name, size, colour string }{{"h", "640x360", "red"}, {"m", "320x180", "lime"}, {"l", "160x90", "blue"}} {
		p := filepath.Join(dir, l.name+".webm")
		cmd := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c="+l.colour+":size="+l.size+":rate=15:duration=4",
			"-c:v", "libvpx", "-g", "15", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", p)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, b)
		}
		layers = append(layers, p)
	}
	nsRoomcast(t, s, "publish", "--room", url, "--identity", "sim", "--simulcast", strings.Join(layers, ","), "--loop")
	time.Sleep(time.Second)
	for _, tc := range []struct {
		size string
		w, h int
		rgb  [3]int
		what string
	}{
		{"320x180", 320, 180, [3]int{0, 0, 255}, "the low layer"},
		{"1280x720", 1280, 720, [3]int{255, 0, 0}, "the high layer"},
	} {
		out := t.TempDir()
		rec := nsRoomcast(t, s, "record", "--room", url, "--record", "--resolution", tc.size, "--duration", "6s", "--out", out)
		if err := rec.wait(t, 60*time.Second); err != nil {
			t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
		}
		img := frameRGB(t, filepath.Join(out, "recording.mp4"), 5, tc.w, tc.h)
		if sh := colourShare(img, tc.rgb, 60); sh < 0.3 {
			t.Errorf("recorded at %s, the tile shows %.0f%% of %s's colour %v, want most of the frame\n%s", tc.size, sh*100, tc.what, tc.rgb, tail(rec.stderr.String(), 2000))
		}
	}
}
