package analyze

import (
	"bytes"
	"context"
	"math"
	"testing"
)

func TestAnalyzeSync(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name      string
		clip      clip
		offsetMs  float64 // expected mean offset of both peers
		tolMs     float64
		driftMsH  float64 // expected drift, ms per hour
		driftTolH float64
		offsetOK  bool
		opts      SyncOptions
	}{
		{name: "aligned", clip: clip{w: 640, h: 360, dur: 8, colorA: "gray", colorB: "gray"}, offsetMs: 0, tolMs: 5, driftTolH: 3000, offsetOK: true},
		{name: "fixed grid and tones", clip: clip{w: 640, h: 360, dur: 5, colorA: "gray", colorB: "gray"}, tolMs: 5, driftTolH: 5000, offsetOK: true,
			opts: SyncOptions{Cols: 2, Rows: 1, Tones: []float64{2000, 1000}}},
		{name: "audio late 80ms", clip: clip{w: 640, h: 360, dur: 8, colorA: "gray", colorB: "gray", delayMs: 80}, offsetMs: 80, tolMs: 5, driftTolH: 3000},
		// asetrate at 0.998 stretches the audio timeline by 1/0.998: the
		// offset grows by 2.004 ms a second, 40 ms over 20 s.
		{name: "drift", clip: clip{w: 320, h: 180, dur: 20, colorA: "gray", colorB: "gray", rate: 0.998}, offsetMs: 20, tolMs: 8, driftMsH: 7214, driftTolH: 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.clip.make(t, dir, tc.name+".mp4")
			rep, err := AnalyzeSync(context.Background(), path, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := rep.WriteText(&buf, testing.Verbose()); err != nil {
				t.Fatal(err)
			}
			t.Logf("\n%s", buf.String())
			if len(rep.Peers) != 2 {
				t.Fatalf("found %d peers, want 2", len(rep.Peers))
			}
			want := []struct {
				hz float64
				x  int
			}{{1000, 0}, {2000, tc.clip.w / 2}}
			for i, p := range rep.Peers {
				if math.Abs(p.ToneHz-want[i].hz) > 15 {
					t.Errorf("%s tone = %.0f Hz, want %.0f", p.Name, p.ToneHz, want[i].hz)
				}
				if math.Abs(float64(p.Region.X-want[i].x)) > 10 || math.Abs(float64(p.Region.W-tc.clip.w/2)) > 10 {
					t.Errorf("%s region = %s, want the tile at x=%d, %d wide", p.Name, p.Region, want[i].x, tc.clip.w/2)
				}
				// Every flash from 0.5 s on is paired.
				period := []float64{1.0, 1.3}[i]
				wantPairs := int((tc.clip.dur-0.5-0.1)/period) + 1
				if len(p.Pairs) < wantPairs-1 {
					t.Errorf("%s: %d pairs, want %d", p.Name, len(p.Pairs), wantPairs)
				}
				if math.Abs(p.MeanOffsetMs-tc.offsetMs) > tc.tolMs {
					t.Errorf("%s mean offset = %.1f ms, want %.0f ± %.0f", p.Name, p.MeanOffsetMs, tc.offsetMs, tc.tolMs)
				}
				if math.Abs(p.DriftMsPerHour-tc.driftMsH) > tc.driftTolH {
					t.Errorf("%s drift = %.0f ms/h, want %.0f ± %.0f", p.Name, p.DriftMsPerHour, tc.driftMsH, tc.driftTolH)
				}
				if got := p.OffsetOK(OffsetGoalMs); got != tc.offsetOK {
					t.Errorf("%s OffsetOK = %v, want %v", p.Name, got, tc.offsetOK)
				}
			}
		})
	}
}
