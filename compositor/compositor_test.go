package compositor

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

const (
	cw, ch = 640, 360
	ms     = time.Millisecond
)

// base is a small, slow configuration: frame n at 10 fps shows media time
// n*100ms - 200ms.
func base() Config {
	return Config{Width: cw, Height: ch, FPS: 10, Latency: 200 * ms, Layout: plainDoc("grid", false)}
}

func TestComposeTiles(t *testing.T) {
	r := newRig(t, base())
	for _, id := range []string{"A", "B", "C", "D"} {
		r.peer(id)
	}
	colA, colB := yuv{150, 60, 200}, yuv{80, 200, 90}
	// A is 320x360 with 2:1 pixels: 16:9 on screen, so it fills its tile's
	// width.
	a := solid(t, 320, 360, astiav.PixelFormatYuv420P, colA)
	a.SetSampleAspectRatio(astiav.NewRational(2, 1))
	r.c.PushVideo("A-cam", a, 0)
	r.c.PushVideo("B-cam", solid(t, 480, 640, astiav.PixelFormatYuv420P, colB), 0)
	// C is full-range; the canvas is limited range.
	r.c.PushVideo("C-cam", solid(t, 320, 320, astiav.PixelFormatYuvj420P, yuv{128, 200, 60}), 0)
	colC := yuv{126, 191, 68}
	// D is yuv420p flagged full range: the same conversion.
	d := solid(t, 320, 180, astiav.PixelFormatYuv420P, yuv{128, 200, 60})
	d.SetColorRange(astiav.ColorRangeJpeg)
	r.c.AddTrack(room.TrackInfo{ID: "E-screen", PeerID: "D", Kind: room.KindVideo, Source: room.SourceScreen})
	r.c.PushVideo("E-screen", d, 0)
	r.run(t, 500*ms)

	rects := arrange(plainDoc("grid", false), cw, ch, "", "A", "B", "C", "D", "D/E-screen")
	ids := []string{"A", "B", "C", "D", "D"}
	f0 := r.out.pic(t, 0)
	for i, id := range ids {
		x, y := centre(rects[i])
		wantColor(t, "frame 0 (before any picture is due) "+id, f0.at(x, y), yuv(placeholderColor(id)))
	}
	wantColor(t, "frame 0 corner", f0.at(0, 0), background)

	f := r.out.pic(t, 4)
	at := func(i, dx int) yuv { _, y := centre(rects[i]); return f.at(rects[i].Min.X+dx, y) }
	atC := func(i int) yuv { x, y := centre(rects[i]); return f.at(x, y) }
	wantColor(t, "A centre", atC(0), colA)
	wantColor(t, "A near its left edge (sample aspect ratio honoured)", at(0, 4), colA)
	wantColor(t, "B centre", atC(1), colB)
	wantColor(t, "B's letterbox bar", at(1, 10), background)
	wantColor(t, "C centre (full range converted)", atC(2), colC)
	wantColor(t, "C's letterbox bar", at(2, 10), background)
	wantColor(t, "D without video", atC(3), yuv(placeholderColor("D")))
	wantColor(t, "D's full-range yuv420p screen share", atC(4), colC)
	_, y := centre(rects[0])
	wantColor(t, "gap between A and B", f.at(rects[0].Max.X, y), background)
	if s := r.c.Stats(); s.Frames != 5 || s.Tiles != 5 || s.VideoSources != 5 || s.AudioSources != 4 || s.Peers != 4 {
		t.Errorf("stats %+v", s)
	}
}

func TestPlaceholderColors(t *testing.T) {
	seen := map[[3]byte]string{}
	for i := 0; i < 40; i++ {
		id := fmt.Sprintf("peer-%d", i)
		c := placeholderColor(id)
		if c != placeholderColor(id) {
			t.Fatalf("%s: colour not deterministic", id)
		}
		if c[0] < 90 || c[0] > 150 {
			t.Errorf("%s: luma %d is not mid", id, c[0])
		}
		if d := int(c[1]-128)*int(c[1]-128) + int(c[2]-128)*int(c[2]-128); d < 40*40 {
			t.Errorf("%s: %v is too grey", id, c)
		}
		seen[c] = id
	}
	if len(seen) < 20 {
		t.Errorf("40 peers got only %d colours", len(seen))
	}
}

func TestMutedVideoShowsPlaceholder(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	red, green := yuv{82, 90, 240}, yuv{145, 54, 34}
	r.c.PushVideo("A-cam", solid(t, 64, 36, astiav.PixelFormatYuv420P, red), 0)
	g := solid(t, 64, 36, astiav.PixelFormatYuv420P, green)
	r.out.hooks[4] = func() { r.c.SetMuted("A-cam", true) }
	r.out.hooks[5] = func() { r.c.SetMuted("A-cam", false) }
	r.out.hooks[6] = func() { r.c.PushVideo("A-cam", g, 500*ms) }
	r.run(t, 800*ms)

	ph := yuv(placeholderColor("A"))
	for _, tc := range []struct {
		n    int64
		want yuv
		why  string
	}{
		{4, red, "before the mute"},
		{5, ph, "muted"},
		{6, ph, "unmuted, nothing new yet: the old picture must not come back"},
		{7, green, "a new frame after the unmute"},
	} {
		wantColor(t, fmt.Sprintf("frame %d, %s", tc.n, tc.why), r.out.pic(t, tc.n).at(cw/2, ch/2), tc.want)
	}
}

func TestRemovePeerRelayout(t *testing.T) {
	r := newRig(t, base())
	cols := map[string]yuv{"A": {150, 60, 200}, "B": {80, 200, 90}, "C": {200, 100, 160}}
	for _, id := range []string{"A", "B", "C"} {
		r.peer(id)
		r.c.PushVideo(id+"-cam", solid(t, 160, 90, astiav.PixelFormatYuv420P, cols[id]), 0)
	}
	r.out.hooks[4] = func() { r.c.RemovePeer("B") }
	r.run(t, 600*ms)

	three := gridRects(3, cw, ch)
	f := r.out.pic(t, 4)
	for i, id := range []string{"A", "B", "C"} {
		x, y := centre(three[i])
		wantColor(t, "before: "+id, f.at(x, y), cols[id])
	}
	two := gridRects(2, cw, ch)
	f = r.out.pic(t, 5)
	for i, id := range []string{"A", "C"} {
		x, y := centre(two[i])
		wantColor(t, "after: "+id, f.at(x, y), cols[id])
	}
	// B's old place is now A's or C's, or background, never B.
	x, y := centre(three[1])
	if near(f.at(x, y), cols["B"], 10) {
		t.Errorf("B still shown at %d,%d after it left", x, y)
	}
	// The third row is gone: the bottom of the canvas is background.
	wantColor(t, "below the new grid", f.at(cw/2, ch-2), background)
	if s := r.c.Stats(); s.Tiles != 2 || s.VideoSources != 2 || s.AudioSources != 2 {
		t.Errorf("stats after RemovePeer: %+v", s)
	}
}

// shade is the colour a test source shows at step k, distinct per step.
func shade(k int) yuv { return yuv{byte(30 + (k*7)%190), 128, byte(60 + (k*13)%130)} }

func TestStalledSourceKeepsLastFrame(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	r.peer("B")
	colA := yuv{150, 60, 200}
	r.c.PushVideo("A-cam", solid(t, 160, 90, astiav.PixelFormatYuv420P, colA), 0)
	// B sends a new picture for every output frame, just in time; A never
	// sends again.
	for k := int64(1); k < 30; k++ {
		f := solid(t, 160, 90, astiav.PixelFormatYuv420P, shade(int(k)))
		r.out.hooks[k] = func() { r.c.PushVideo("B-cam", f, time.Duration(k+1)*100*ms-200*ms) }
	}
	r.run(t, 3*time.Second)

	rects := gridRects(2, cw, ch)
	ax, ay := centre(rects[0])
	bx, by := centre(rects[1])
	for n := int64(2); n < 30; n++ {
		p := r.out.pic(t, n)
		wantColor(t, fmt.Sprintf("frame %d A", n), p.at(ax, ay), colA)
		// Pushed after frame n-1 for frame n's media time.
		wantColor(t, fmt.Sprintf("frame %d B", n), p.at(bx, by), shade(int(n-1)))
	}
	if len(r.out.vpts) != 30 {
		t.Errorf("%d frames, want 30", len(r.out.vpts))
	}
	// B is new in every frame that shows video: none repeats.
	if d := r.c.Stats().DuplicatedFrames; d != 0 {
		t.Errorf("%d duplicated frames, want 0", d)
	}
}

// TestDuplicatedFrames counts the frames that repeat the last picture: a
// source at half the output rate, then one that stalls.
func TestDuplicatedFrames(t *testing.T) {
	r := newRig(t, base()) // 10 fps, 200 ms latency
	r.peer("A")
	// 5 fps for 2 s of media, then nothing: frames 2..21 show a new
	// picture every other frame, frames 22..39 repeat the last one.
	r.c.PushVideo("A-cam", solid(t, 64, 36, astiav.PixelFormatYuv420P, shade(0)), 0)
	for k := int64(1); k < 10; k++ {
		// Pushed just in time, as a live source sends: a queue that
		// overflows would drop pictures and make more repeats.
		f := solid(t, 64, 36, astiav.PixelFormatYuv420P, shade(int(k)))
		r.out.hooks[2*k] = func() { r.c.PushVideo("A-cam", f, time.Duration(k)*200*ms) }
	}
	r.run(t, 4*time.Second)
	if st := r.c.Stats(); st.DuplicatedFrames != 10+18 || st.DroppedFrames != 0 {
		t.Errorf("%d duplicated frames (%d dropped), want 28: 10 at half rate, 18 stalled", st.DuplicatedFrames, st.DroppedFrames)
	}
}

func TestFrameTiming(t *testing.T) {
	for _, tc := range []struct {
		fps     int
		latency time.Duration
		first   int64 // first frame that shows the picture pushed at t=1s
	}{
		{10, 200 * ms, 12},
		{30, 200 * ms, 36},
		{25, 500 * ms, 38},
		{30, 1000 * ms, 60},
	} {
		t.Run(fmt.Sprintf("%dfps/%v", tc.fps, tc.latency), func(t *testing.T) {
			cfg := base()
			cfg.FPS, cfg.Latency = tc.fps, tc.latency
			r := newRig(t, cfg)
			r.out.keep = func(n int64) bool { return n == tc.first || n == tc.first-1 }
			r.peer("A")
			red, blue := yuv{82, 90, 240}, yuv{41, 240, 110}
			r.c.PushVideo("A-cam", solid(t, 64, 36, astiav.PixelFormatYuv420P, red), 0)
			r.c.PushVideo("A-cam", solid(t, 64, 36, astiav.PixelFormatYuv420P, blue), time.Second)
			r.run(t, time.Duration(tc.first+1)*time.Second/time.Duration(tc.fps))
			wantColor(t, "frame before", r.out.pic(t, tc.first-1).at(cw/2, ch/2), red)
			wantColor(t, "first frame at 1s+latency", r.out.pic(t, tc.first).at(cw/2, ch/2), blue)
		})
	}
}

func TestRunEmitsExactFrames(t *testing.T) {
	for _, tc := range []struct {
		fps, rate int
		until     time.Duration
		frames    int
	}{
		{30, 48000, 10 * time.Second, 300},
		{7, 48000, 10 * time.Second, 70},
		{25, 44100, 2 * time.Second, 50},
		{30, 48000, 1001 * ms, 31},
	} {
		t.Run(fmt.Sprintf("%dfps/%d/%v", tc.fps, tc.rate, tc.until), func(t *testing.T) {
			cfg := base()
			cfg.FPS, cfg.SampleRate = tc.fps, tc.rate
			r := newRig(t, cfg)
			r.out.keep = func(int64) bool { return false }
			r.run(t, tc.until)
			checkCFR(t, r.out, 0, tc.frames, tc.fps, tc.rate)
			if r.clk.Now() >= tc.until {
				t.Errorf("clock at %v: Run slept past its last frame", r.clk.Now())
			}
			// A second Run continues the same timeline.
			r.run(t, tc.until+time.Second)
			checkCFR(t, r.out, 0, tc.frames+tc.fps, tc.fps, tc.rate)
		})
	}
}

// checkCFR asserts frames from..to-1 were written with consecutive pts and
// exactly the audio samples that belong to them.
func checkCFR(t *testing.T, out *capture, from, to, fps, rate int) {
	t.Helper()
	if len(out.vpts) != to || len(out.apts) != to {
		t.Fatalf("%d video and %d audio writes, want %d", len(out.vpts), len(out.apts), to)
	}
	var total int64
	for i := from; i < to; i++ {
		if out.vpts[i] != int64(i) {
			t.Fatalf("video write %d has pts %d", i, out.vpts[i])
		}
		if out.apts[i] != total {
			t.Fatalf("audio write %d has pts %d, want %d", i, out.apts[i], total)
		}
		lo, hi := rate/fps, (rate+fps-1)/fps
		if out.alen[i] < lo || out.alen[i] > hi {
			t.Fatalf("audio write %d has %d samples, want %d..%d", i, out.alen[i], lo, hi)
		}
		total += int64(out.alen[i])
	}
	if want := int64(to) * int64(rate) / int64(fps); total != want {
		t.Fatalf("%d samples over %d frames, want %d", total, to, want)
	}
}

// TestLiveFeeder runs a pipeline-like goroutine that pushes a picture and
// audio for every 1/30 s of the virtual clock, concurrently with Run.
func TestLiveFeeder(t *testing.T) {
	cfg := base()
	cfg.FPS = 30
	r := newRig(t, cfg)
	r.peer("A")
	const frames = 60
	pics := make([]*astiav.Frame, frames+10)
	for k := range pics {
		pics[k] = solid(t, 320, 180, astiav.PixelFormatYuv420P, shade(k))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Hold for the feeder now so the clock cannot leave without it, and once
	// more for Run until it holds the clock itself (it has once frame 0 is
	// written): else a feeder scheduled first runs the clock ahead alone and
	// its pictures overflow the queue before Run reads any.
	r.clk.Hold()
	r.clk.Hold()
	r.out.hooks[0] = r.clk.Release
	done := make(chan error, 1)
	go func() {
		defer r.clk.Release()
		chunk := make([]float32, 2*1600)
		for k := range pics {
			at := time.Duration(k) * time.Second / 30
			if err := r.clk.SleepUntil(ctx, at); err != nil {
				done <- err
				return
			}
			r.c.PushVideo("A-cam", pics[k], at)
			for i := range chunk {
				chunk[i] = float32(k) / 100
			}
			r.c.PushAudio("A-mic", chunk, at)
		}
		done <- nil
	}()
	if err := r.c.Run(ctx, frames*time.Second/30); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Frame n shows media time n/30 - 0.2 s: the feeder's step n-6.
	for n := int64(6); n < frames; n++ {
		wantColor(t, fmt.Sprintf("frame %d", n), r.out.pic(t, n).at(cw/2, ch/2), shade(int(n-6)))
	}
	for n := 0; n < frames; n++ {
		want := float32(0)
		if n >= 6 {
			want = float32(n-6) / 100
		}
		for _, i := range []int{0, 1599} {
			if got := r.out.audio[2*(n*1600+i)]; got != want {
				t.Fatalf("frame %d audio sample %d = %v, want %v", n, i, got, want)
			}
		}
	}
}

func TestLateTicksOnRealClock(t *testing.T) {
	cfg := base()
	cfg.FPS = 50
	out := newCapture(t)
	out.keep = func(int64) bool { return false }
	out.slow = func(n int64) {
		if n == 2 {
			time.Sleep(120 * ms)
		}
	}
	c, err := New(cfg, mediaclock.NewReal(), out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Run(context.Background(), 300*ms); err != nil {
		t.Fatal(err)
	}
	checkCFR(t, out, 0, 15, 50, 48000)
	if s := c.Stats(); s.LateTicks < 3 || s.Frames != 15 {
		t.Errorf("stats %+v: want every frame and at least 3 late ticks", s)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	r := newRig(t, base())
	ctx, cancel := context.WithCancel(context.Background())
	r.out.hooks[3] = cancel
	if err := r.c.Run(ctx, 0); err != context.Canceled {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if len(r.out.vpts) != 4 {
		t.Errorf("%d frames after cancelling at the 4th", len(r.out.vpts))
	}
}

func TestOutputErrorStopsRun(t *testing.T) {
	r := newRig(t, base())
	r.out.videoErr = fmt.Errorf("encoder gone")
	err := r.c.Run(context.Background(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "encoder gone") || !strings.Contains(err.Error(), "frame 0") {
		t.Fatalf("Run returned %v", err)
	}
}

// TestSpeakerLayoutSwitch: the room's speaker updates move the stage, with
// the detector's hysteresis: C takes it after half a second of speech,
// keeps it through silence, and a 300 ms cough from B does not take it.
func TestSpeakerLayoutSwitch(t *testing.T) {
	r := newRig(t, base()) // 10 fps
	cols := map[string]yuv{"A": {150, 60, 200}, "B": {80, 200, 90}, "C": {200, 100, 160}}
	for _, id := range []string{"A", "B", "C"} {
		r.peer(id)
		r.c.PushVideo(id+"-cam", solid(t, 160, 90, astiav.PixelFormatYuv420P, cols[id]), 0)
	}
	r.out.hooks[3] = func() {
		r.c.SetLayout(plainDoc("speaker", false))
		r.c.SetActiveSpeakers([]room.Speaker{{PeerID: "C", TrackID: "C-mic", Level: 80}, {PeerID: "A", Level: 10}})
	}
	r.out.hooks[12] = func() { r.c.SetActiveSpeakers(nil) }
	r.out.hooks[30] = func() { r.c.SetActiveSpeakers([]room.Speaker{{PeerID: "B", Level: 90}}) }
	r.out.hooks[33] = func() { r.c.SetActiveSpeakers(nil) }
	r.run(t, 4500*ms)

	// The stage as the compositor's engine saw it: first nobody, then C.
	e := layout.NewEngine(plainDoc("speaker", false))
	nobody := arrangeOn(e, cw, ch, "", peers(3)...)
	withC := arrangeOn(e, cw, ch, "C", peers(3)...)
	stage := func(main int) []image.Rectangle {
		if main == 2 {
			return withC
		}
		return nobody
	}
	for _, tc := range []struct {
		frame int64
		main  int // whose tile is large
		why   string
	}{
		{6, 0, "C has spoken for 0.2 s: no one holds the stage, the first peer shows large"},
		{10, 2, "C has spoken for more than 0.5 s"},
		{25, 2, "silence keeps C"},
		{34, 2, "a 300 ms cough from B"},
		{44, 2, "long after the cough"},
	} {
		rects := stage(tc.main)
		if rects[tc.main].Dx() < cw/2 {
			t.Fatalf("stage tile %v is not the large one", rects[tc.main])
		}
		f := r.out.pic(t, tc.frame)
		for i, id := range []string{"A", "B", "C"} {
			x, y := centre(rects[i])
			wantColor(t, fmt.Sprintf("frame %d (%s) %s", tc.frame, tc.why, id), f.at(x, y), cols[id])
		}
	}
}

// TestSpeakerFromAudio: in a room that sends no speaker updates (a file
// room), the decoded audio decides who speaks.
func TestSpeakerFromAudio(t *testing.T) {
	cfg := base()
	cfg.Layout = plainDoc("speaker", false)
	r := newRig(t, cfg)
	cols := map[string]yuv{"A": {150, 60, 200}, "B": {80, 200, 90}}
	for _, id := range []string{"A", "B"} {
		r.peer(id)
		r.c.PushVideo(id+"-cam", solid(t, 160, 90, astiav.PixelFormatYuv420P, cols[id]), 0)
	}
	// B talks (a 440 Hz tone at -12 dBFS) for 2 s; A is silent.
	tone := make([]float32, 2*48000*2)
	for i := range len(tone) / 2 {
		v := float32(0.25 * math.Sin(2*math.Pi*440*float64(i)/48000))
		tone[2*i], tone[2*i+1] = v, v
	}
	r.c.PushAudio("B-mic", tone, 0)
	r.run(t, 2*time.Second)

	rects := arrange(plainDoc("speaker", false), cw, ch, "B", "A", "B")
	f := r.out.pic(t, 19)
	for i, id := range []string{"A", "B"} {
		x, y := centre(rects[i])
		wantColor(t, "frame 19 "+id, f.at(x, y), cols[id])
	}
}

func TestScreenShareGetsOwnTile(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	r.peer("B")
	r.c.AddTrack(room.TrackInfo{ID: "A-screen", PeerID: "A", Kind: room.KindVideo, Source: room.SourceScreen})
	colA, colB, colS := yuv{150, 60, 200}, yuv{80, 200, 90}, yuv{200, 100, 160}
	r.c.PushVideo("A-cam", solid(t, 160, 90, astiav.PixelFormatYuv420P, colA), 0)
	r.c.PushVideo("B-cam", solid(t, 160, 90, astiav.PixelFormatYuv420P, colB), 0)
	r.c.PushVideo("A-screen", solid(t, 1920, 1080, astiav.PixelFormatYuv420P, colS), 0)
	r.out.hooks[3] = func() { r.c.SetLayout(plainDoc("screenshare", true)) }
	r.out.hooks[5] = func() { r.c.RemoveTrack("A-screen") }
	r.run(t, 700*ms)

	check := func(n int64, rects []image.Rectangle, cols []yuv) {
		t.Helper()
		f := r.out.pic(t, n)
		for i, c := range cols {
			x, y := centre(rects[i])
			wantColor(t, fmt.Sprintf("frame %d tile %d", n, i), f.at(x, y), c)
		}
	}
	tiles := []string{"A", "A/A-screen", "B"}
	check(3, arrange(plainDoc("grid", false), cw, ch, "", tiles...), []yuv{colA, colS, colB})
	check(4, arrange(plainDoc("screenshare", true), cw, ch, "", tiles...), []yuv{colA, colS, colB})
	// Share over: the screen layout falls back to a grid of the cameras.
	check(6, gridRects(2, cw, ch), []yuv{colA, colB})
}

func TestTrackBeforePeerAndUnknownIDs(t *testing.T) {
	r := newRig(t, base())
	r.c.AddTrack(room.TrackInfo{ID: "x-cam", PeerID: "X", Kind: room.KindVideo, Source: room.SourceRegular})
	col := yuv{150, 60, 200}
	r.c.PushVideo("x-cam", solid(t, 64, 36, astiav.PixelFormatYuv420P, col), 0)
	// None of these may panic or change the picture.
	r.c.PushVideo("nope", solid(t, 64, 36, astiav.PixelFormatYuv420P, yuv{}), 0)
	r.c.PushAudio("nope", make([]float32, 10), 0)
	r.c.SetMuted("nope", true)
	r.c.RemoveTrack("nope")
	r.c.RemovePeer("nope")
	r.c.UpdatePeer(room.Peer{ID: "X", Name: "late name"})
	r.run(t, 300*ms)
	wantColor(t, "track added before its peer", r.out.pic(t, 2).at(cw/2, ch/2), col)
}

func TestNoPeersIsBackground(t *testing.T) {
	r := newRig(t, base())
	r.run(t, 200*ms)
	f := r.out.pic(t, 1)
	for _, p := range []image.Point{{0, 0}, {cw / 2, ch / 2}, {cw - 1, ch - 1}} {
		wantColor(t, fmt.Sprint("empty canvas at ", p), f.at(p.X, p.Y), background)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Width = 1281 }, "Config.Width 1281 is odd"},
		{func(c *Config) { c.Width = 0 }, "Config.Width 0 is out of range"},
		{func(c *Config) { c.Height = 721 }, "Config.Height 721 is odd"},
		{func(c *Config) { c.FPS = 0 }, "Config.FPS 0"},
		{func(c *Config) { c.SampleRate = 100 }, "Config.SampleRate 100"},
		{func(c *Config) { c.Latency = -time.Second }, "Config.Latency -1s"},
	} {
		cfg := Config{Width: 1280, Height: 720, FPS: 30}
		tc.edit(&cfg)
		_, err := New(cfg, mediaclock.NewVirtual(), newCapture(t))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
	if _, err := New(Config{Width: 1280, Height: 720, FPS: 30}, nil, newCapture(t)); err == nil || !strings.Contains(err.Error(), "clock") {
		t.Errorf("nil clock: %v", err)
	}
	c, err := New(Config{Width: 1280, Height: 720, FPS: 30}, mediaclock.NewVirtual(), newCapture(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Latency != DefaultLatency || c.cfg.SampleRate != 48000 || c.cfg.Logger == nil {
		t.Errorf("defaults not applied: %+v", c.cfg)
	}
	c.Close()
	c.Close()
	if err := c.Run(context.Background(), time.Second); err == nil {
		t.Errorf("Run after Close succeeded")
	}
}

// TestNoSpillIntoNeighbours draws tiles of every small width next to a
// painted neighbour: swscale's block writes past the destination width must
// not reach it.
func TestNoSpillIntoNeighbours(t *testing.T) {
	src := solid(t, 1920, 1080, astiav.PixelFormatYuv420P, yuv{200, 50, 60})
	for w := 2; w <= 70; w += 2 {
		canvas := solid(t, 128, 64, astiav.PixelFormatYuv420P, background)
		tl := &tile{rect: image.Rect(10, 10, 10+w, 40), frame: src, seq: 1}
		if err := tl.draw(canvas, [3]byte(background)); err != nil {
			t.Fatal(err)
		}
		planes, ls := videoPlanes(t, canvas)
		p := &picture{w: 128, h: 64, planes: planes, strides: ls}
		in := fit(1920, 1080, astiav.NewRational(0, 1), tl.rect)
		x, y := centre(in)
		wantColor(t, fmt.Sprintf("width %d inside", w), p.at(x, y), yuv{200, 50, 60})
		for dx := 0; dx < 32; dx++ {
			if got := p.at(10+w+dx, 20); got != background {
				t.Fatalf("width %d: pixel %d right of the tile is %v", w, dx, got)
			}
		}
		tl.frame = nil // owned by the test
		tl.free()
	}
}

func TestSourceSizeChangeRedrawsBars(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	red, blue := yuv{82, 90, 240}, yuv{41, 240, 110}
	r.c.PushVideo("A-cam", solid(t, 1280, 720, astiav.PixelFormatYuv420P, red), 0)
	r.c.PushVideo("A-cam", solid(t, 480, 640, astiav.PixelFormatYuvj420P, blue), 500*ms)
	r.run(t, 800*ms)
	wantColor(t, "wide picture near the left edge", r.out.pic(t, 6).at(20, ch/2), red)
	wantColor(t, "tall picture's bar", r.out.pic(t, 7).at(20, ch/2), background)
	if got := r.out.pic(t, 7).at(cw/2, ch/2); near(got, red, 10) {
		t.Errorf("centre still red after the new picture")
	}
}

func TestSteadyStateAllocations(t *testing.T) {
	cfg := base()
	c, err := New(cfg, mediaclock.NewVirtual(), discard{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range []string{"A", "B", "C"} {
		c.AddPeer(room.Peer{ID: id})
		c.AddTrack(room.TrackInfo{ID: id + "-cam", PeerID: id, Kind: room.KindVideo, Source: room.SourceRegular})
		c.AddTrack(room.TrackInfo{ID: id + "-mic", PeerID: id, Kind: room.KindAudio})
	}
	pics := []*astiav.Frame{
		solid(t, 320, 180, astiav.PixelFormatYuv420P, shade(1)),
		solid(t, 320, 180, astiav.PixelFormatYuv420P, shade(2)),
	}
	chunk := make([]float32, 2*4800)
	step := func() {
		at := c.frameTime(c.n)
		for _, id := range [][2]string{{"A-cam", "A-mic"}, {"B-cam", "B-mic"}, {"C-cam", "C-mic"}} {
			c.PushVideo(id[0], pics[c.n%2], at)
			c.PushAudio(id[1], chunk, at)
		}
		if err := c.tick(at); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		step()
	}
	if a := testing.AllocsPerRun(20, step); a > 0 {
		t.Errorf("%v allocations per frame with three peers on the steady path", a)
	}
}

type discard struct{}

func (discard) WriteVideo(*astiav.Frame, int64) error { return nil }
func (discard) WriteAudio([]float32, int64) error     { return nil }

// TestFirstVideoFrame: the first output frame that shows a peer's video is
// the one at the frame's time plus the latency, not before.
func TestFirstVideoFrame(t *testing.T) {
	c, err := New(Config{Width: 320, Height: 180, FPS: 10, SampleRate: 48000, Latency: 200 * time.Millisecond}, mediaclock.NewVirtual(), newCapture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.AddPeer(room.Peer{ID: "p"})
	c.AddTrack(room.TrackInfo{ID: "v", PeerID: "p", Kind: room.KindVideo, Source: room.SourceRegular})
	if got := c.Stats().FirstVideoFrame; got != -1 {
		t.Fatalf("before any frame: %d", got)
	}
	f := solid(t, 64, 64, astiav.PixelFormatYuv420P, yuv{200, 100, 100})
	c.PushVideo("v", f, 500*time.Millisecond)
	if err := c.Run(context.Background(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// Frame 7 (0.7 s) shows media time 0.5 s.
	if got := c.Stats().FirstVideoFrame; got != 7 {
		t.Fatalf("FirstVideoFrame = %d, want 7", got)
	}
}

// TestOnTileSize: the compositor says what size each video track is shown
// at, and says it again when a re-layout changes it.
func TestOnTileSize(t *testing.T) {
	type size struct{ w, h int }
	var mu sync.Mutex
	got := map[string][]size{}
	clk := mediaclock.NewVirtual()
	c, err := New(Config{Width: 640, Height: 360, FPS: 10, SampleRate: 48000, Layout: noGap(),
		OnTileSize: func(id string, w, h int) {
			mu.Lock()
			got[id] = append(got[id], size{w, h})
			mu.Unlock()
		}}, clk, newCapture(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []string{"a", "b"} {
		c.AddPeer(room.Peer{ID: p})
		c.AddTrack(room.TrackInfo{ID: p + "/v", PeerID: p, Kind: room.KindVideo, Source: room.SourceRegular})
	}
	if err := c.Run(context.Background(), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c.RemovePeer("b")
	if err := c.Run(context.Background(), 600*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if a := got["a/v"]; len(a) != 2 || a[0] != (size{320, 360}) || a[1] != (size{640, 360}) {
		t.Errorf("a/v sizes %v, want [{320 360} {640 360}]", a)
	}
	if b := got["b/v"]; len(b) != 1 || b[0] != (size{320, 360}) {
		t.Errorf("b/v sizes %v, want [{320 360}]", b)
	}
}

// TestLiveLayoutChange: a layout set while the job runs shows in the very
// next frame, whole: no frame in between, no torn one.
func TestLiveLayoutChange(t *testing.T) {
	r := newRig(t, base())
	cols := map[string]yuv{"A": {150, 60, 200}, "B": {80, 200, 90}, "C": {200, 100, 160}}
	for _, id := range []string{"A", "B", "C"} {
		r.peer(id)
		r.c.PushVideo(id+"-cam", solid(t, 160, 90, astiav.PixelFormatYuv420P, cols[id]), 0)
	}
	r.out.hooks[5] = func() { r.c.SetLayout(plainDoc("speaker", false)) }
	r.run(t, time.Second)
	grid := gridRects(3, cw, ch)
	stage := arrange(plainDoc("speaker", false), cw, ch, "", peers(3)...)
	for _, tc := range []struct {
		frame int64
		rects []image.Rectangle
	}{{5, grid}, {6, stage}, {9, stage}} {
		f := r.out.pic(t, tc.frame)
		for i, id := range []string{"A", "B", "C"} {
			x, y := centre(tc.rects[i])
			wantColor(t, fmt.Sprintf("frame %d %s", tc.frame, id), f.at(x, y), cols[id])
		}
	}
}

// noGap is the grid without gaps.
func noGap() *layout.Document {
	d, err := layout.Parse([]byte(`{"gap": 0, "fit": "contain", "video_layout": {"grid": {"video_sources": ["*"], "max_columns": 7, "max_rows": 7}}}`), layout.FormatJSON)
	if err != nil {
		panic(err)
	}
	return d
}
