package analyze

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// goodExpect describes defaultClip: peer A's tile on the left, B's on the
// right; at 0.8 s neither flashes. b.png and a.mp4 (peer A's source clip)
// are made next to it by the test.
const goodExpect = `
version: 1
streams:
  video: {codec: h264, width: 1280, height: 720, fps: 30}
  audio: {codec: aac, profile: LC, sampleRate: 48000, channels: 2}
duration: {seconds: 6, tolerance: 0.3}
audio:
  notSilent: true
  meanDbfs: {min: -30, max: -5}
  silence:
    - {from: 0, to: 0.45}
layout:
  - {peer: A, at: 0.8, region: {x: 40, y: 40, w: 560, h: 640}, rgb: "#3060c0"}
  - {peer: B, at: 800ms, region: {x: 0.55, y: 0.05, w: 0.4, h: 0.9, relative: true}, rgb: [192, 96, 48]}
  - {peer: B, at: 0.8, region: {x: 680, y: 40, w: 560, h: 640}, reference: {image: b.png, minPsnr: 30}}
  - {peer: A, at: 0.8, region: {x: 0, y: 0, w: 640, h: 720}, reference: {clip: a.mp4, at: 1.2, minPsnr: 30}}
sync:
  maxOffsetMs: 40
  minPeers: 2
`

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	good := defaultClip().make(t, dir, "good.mp4")
	runFFmpeg(t, "-f", "lavfi", "-i", "color=c=0xC06030:s=320x360", "-frames:v", "1", filepath.Join(dir, "b.png"))
	// Peer A's source: the left tile of a two-tile clip is not a whole
	// frame, so render A alone, full frame.
	runFFmpeg(t, "-f", "lavfi", "-i", "color=c=0x3060C0:s=320x360:r=30:d=2",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", filepath.Join(dir, "a.mp4"))
	exp, err := ParseExpect([]byte(goodExpect))
	if err != nil {
		t.Fatal(err)
	}
	opts := VerifyOptions{BaseDir: dir}
	ctx := context.Background()

	t.Run("good", func(t *testing.T) {
		rep, err := Verify(ctx, good, exp, opts)
		if err != nil {
			t.Fatal(err)
		}
		logReport(t, rep)
		if !rep.OK() {
			t.Errorf("good recording failed: %+v", rep.Failed())
		}
		if len(rep.Checks) != 18 {
			t.Errorf("%d checks, want 18", len(rep.Checks))
		}
	})

	t.Run("example file", func(t *testing.T) {
		ex, err := LoadExpect("../../testdata/expect/two-peers.yaml")
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(ctx, good, ex, VerifyOptions{BaseDir: "../../testdata/expect"})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			logReport(t, rep)
			t.Errorf("testdata/expect/two-peers.yaml fails on the clip it describes: %+v", rep.Failed())
		}
	})

	// MPEG-TS (as in HLS recordings) has no index: a seek for a layout
	// check lands between keyframes, and the frame must still be found.
	t.Run("mpegts", func(t *testing.T) {
		ts := filepath.Join(dir, "good.ts")
		runFFmpeg(t, "-i", good, "-c", "copy", "-f", "mpegts", ts)
		rep, err := Verify(ctx, ts, exp, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			logReport(t, rep)
			t.Errorf("the same recording in MPEG-TS fails: %+v", rep.Failed())
		}
	})

	// Each deviation fails its own checks, with the measured value in the
	// report, and leaves unrelated ones passing.
	for _, tc := range []struct {
		name     string
		make     func(t *testing.T) string
		wantFail map[string]string     // check name prefix -> text in Measured
		wantNear map[string][2]float64 // check name prefix -> first number in Measured, ± tolerance
		wantPass []string
	}{{
		name: "wrong resolution",
		make: func(t *testing.T) string {
			c := defaultClip()
			c.w, c.h = 960, 540
			return c.make(t, dir, "small.mp4")
		},
		wantFail: map[string]string{"streams.video.width": "960", "streams.video.height": "540", "layout[0]": "outside the 960x540 frame"},
		wantPass: []string{"layout[1]", "duration", "sync.maxOffsetMs", "sync.minPeers"},
	}, {
		name: "short",
		make: func(t *testing.T) string {
			out := filepath.Join(dir, "short.mp4")
			runFFmpeg(t, "-i", good, "-t", "4", "-c", "copy", out)
			return out
		},
		wantFail: map[string]string{"duration": "4.0"},
		wantPass: []string{"streams.video.width", "layout[0]", "sync.maxOffsetMs", "audio.notSilent"},
	}, {
		name: "missing peer",
		make: func(t *testing.T) string {
			c := defaultClip()
			c.colorB, c.noFlashB = "0x30C060", true
			return c.make(t, dir, "missing.mp4")
		},
		wantFail: map[string]string{"layout[1] (B)": "rgb #", "layout[2] (B)": "PSNR", "sync.minPeers": "1 peers"},
		wantPass: []string{"layout[0]", "layout[3]", "sync.maxOffsetMs", "duration"},
	}, {
		name: "audio shifted 100ms",
		make: func(t *testing.T) string {
			out := filepath.Join(dir, "shifted.mp4")
			runFFmpeg(t, "-i", good, "-itsoffset", "0.1", "-i", good, "-map", "0:v", "-map", "1:a", "-c", "copy", out)
			return out
		},
		// -c copy keeps the AAC priming samples behind the new edit list,
		// so the real shift is 99.4 ms.
		wantFail: map[string]string{"sync.maxOffsetMs": "ms"},
		wantNear: map[string][2]float64{"sync.maxOffsetMs": {100, 5}},
		wantPass: []string{"sync.minPeers", "layout[0]", "audio.silence[0]", "duration", "audio.meanDbfs"},
	}, {
		name: "silent audio",
		make: func(t *testing.T) string {
			out := filepath.Join(dir, "silent.mp4")
			runFFmpeg(t, "-i", good, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-map", "0:v", "-map", "1:a",
				"-c:v", "copy", "-c:a", "aac", "-shortest", out)
			return out
		},
		wantFail: map[string]string{"audio.notSilent": "silent", "audio.meanDbfs": "silent", "sync": "no beep tones"},
		wantPass: []string{"streams.audio.codec", "streams.audio.channels", "layout[0]", "audio.silence[0]"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Verify(ctx, tc.make(t), exp, opts)
			if err != nil {
				t.Fatal(err)
			}
			logReport(t, rep)
			for prefix, text := range tc.wantFail {
				c, ok := findCheck(rep, prefix)
				switch {
				case !ok:
					t.Errorf("no check %q", prefix)
				case c.Pass:
					t.Errorf("%s passed (measured %q), want a failure", c.Name, c.Measured)
				case !strings.Contains(c.Measured, text):
					t.Errorf("%s measured %q, want it to mention %q", c.Name, c.Measured, text)
				}
			}
			for prefix, near := range tc.wantNear {
				c, _ := findCheck(rep, prefix)
				var v float64
				if _, err := fmt.Sscan(c.Measured, &v); err != nil || math.Abs(v-near[0]) > near[1] {
					t.Errorf("%s measured %q, want %g ± %g", prefix, c.Measured, near[0], near[1])
				}
			}
			for _, prefix := range tc.wantPass {
				if c, ok := findCheck(rep, prefix); !ok || !c.Pass {
					t.Errorf("%s: want a passing check, got %+v", prefix, c)
				}
			}
			if rep.OK() {
				t.Error("report is OK, want failures")
			}
		})
	}

	t.Run("update", func(t *testing.T) {
		// Starting from the hand-written file: layout checks are kept and
		// re-measured, the rest is measured afresh.
		upd, rep, err := Update(ctx, good, exp, opts)
		if err != nil {
			t.Fatal(err)
		}
		logReport(t, rep)
		if !rep.OK() {
			t.Errorf("update's own report fails: %+v", rep.Failed())
		}
		b, err := upd.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("updated file:\n%s", b)
		path := filepath.Join(dir, "updated.yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		back, err := LoadExpect(path)
		if err != nil {
			t.Fatal(err)
		}
		if back.Streams.Video.Width != 1280 || back.Streams.Audio.SampleRate != 48000 || back.Sync == nil || back.Sync.MinPeers != 2 {
			t.Errorf("updated file lacks measured values: %+v %+v %+v", back.Streams.Video, back.Streams.Audio, back.Sync)
		}
		if len(back.Layout) != 4 || back.Layout[0].RGB == nil || back.Layout[2].Reference == nil {
			t.Fatalf("layout checks not kept: %+v", back.Layout)
		}
		if d := distance(rgbF(*back.Layout[0].RGB), rgbF(Color{0x30, 0x60, 0xc0})); d > 10 {
			t.Errorf("re-measured colour %s is %.1f away from peer A's", back.Layout[0].RGB, d)
		}
		rep2, err := Verify(ctx, good, back, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !rep2.OK() || len(rep2.Checks) != len(rep.Checks) {
			logReport(t, rep2)
			t.Errorf("updated file does not pass on its own recording: %+v", rep2.Failed())
		}
		// And it is not so loose that a broken recording passes.
		rep3, err := Verify(ctx, filepath.Join(dir, "shifted.mp4"), back, opts)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := findCheck(rep3, "sync.maxOffsetMs"); c.Pass {
			t.Errorf("updated file passes the shifted recording: %+v", c)
		}
	})

	t.Run("update without a previous file", func(t *testing.T) {
		upd, rep, err := Update(ctx, good, nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || upd.Layout != nil || upd.Sync == nil || upd.Audio == nil || !upd.Audio.NotSilent {
			logReport(t, rep)
			t.Errorf("unexpected update: %+v", upd)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := AnalyzeSync(cctx, good, SyncOptions{Tones: []float64{1000}})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})

	t.Run("unreadable reference is an error", func(t *testing.T) {
		bad := *exp
		bad.Layout = []LayoutCheck{{At: 1, Region: Region{W: 10, H: 10}, Reference: &Reference{Image: "missing.png", MinPSNR: 20}}}
		if _, err := Verify(ctx, good, &bad, opts); err == nil || !strings.Contains(err.Error(), "missing.png") {
			t.Errorf("err = %v, want one naming missing.png", err)
		}
	})
}

func rgbF(c Color) [3]float64 { return [3]float64{float64(c[0]), float64(c[1]), float64(c[2])} }

func findCheck(r *Report, prefix string) (Check, bool) {
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			return c, true
		}
	}
	return Check{}, false
}

func logReport(t *testing.T, r *Report) {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", b.String())
}

func TestVerifyMissingFile(t *testing.T) {
	_, err := Verify(context.Background(), filepath.Join(t.TempDir(), "nope.mp4"), &Expect{}, VerifyOptions{})
	if err == nil || !strings.Contains(err.Error(), "nope.mp4") {
		t.Errorf("err = %v, want one naming the file", err)
	}
}
