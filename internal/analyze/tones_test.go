package analyze

import (
	"math"
	"testing"
)

// beeps renders 60 ms tones at the given onsets into a mono signal.
func beeps(rate int, dur float64, tones map[float64][]float64) []float32 {
	out := make([]float32, int(dur*float64(rate)))
	for hz, onsets := range tones {
		for _, on := range onsets {
			for i := int(math.Ceil(on * float64(rate))); i < int((on+0.06)*float64(rate)) && i < len(out); i++ {
				out[i] += float32(0.3 * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
			}
		}
	}
	return out
}

func TestToneBankOnsets(t *testing.T) {
	const rate = 48000
	want := map[float64][]float64{
		1000: {0.2345, 1.2345, 2.2345},
		// The second beep overlaps the first 1 kHz one: each filter must
		// reject the other tone.
		2000: {0.7, 1.25, 2.9},
	}
	sig := beeps(rate, 3.5, want)
	for _, tc := range []struct {
		name  string
		chunk int
		gap   bool
	}{
		{"aac-sized frames", 1024, false},
		{"odd chunks", 777, false},
		// Samples 1.5..1.6 s are missing, timestamps jump: the bank fills
		// the gap with silence and later onsets keep their times.
		{"gap in the timeline", 1024, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newToneBank([]float64{1000, 2000}, rate)
			for i := 0; i < len(sig); i += tc.chunk {
				if tc.gap && i >= 72000 && i < 76800 {
					continue
				}
				end := min(i+tc.chunk, len(sig))
				b.add(sig[i:end], float64(i)/rate)
			}
			for k, tr := range b.tones {
				got := b.onsets(tr)
				exp := want[tr.hz]
				if len(got) != len(exp) {
					t.Fatalf("tone %d: onsets %v, want %v", k, got, exp)
				}
				for i := range got {
					if math.Abs(got[i]-exp[i]) > 0.0003 {
						t.Errorf("%.0f Hz onset %d = %.5f s, want %.5f ± 0.3 ms", tr.hz, i, got[i], exp[i])
					}
				}
			}
		})
	}
}

func TestFindTones(t *testing.T) {
	const rate = 48000
	// 1 kHz louder (more beeps) than 2.5 kHz; a faint broadband hiss on top.
	sig := beeps(rate, 4, map[float64][]float64{1000: {0.5, 1.5, 2.5, 3.5}, 2500: {0.8, 2.1}})
	seed := uint32(1)
	for i := range sig {
		seed = seed*1664525 + 1013904223
		sig[i] += float32(seed>>8)/float32(1<<24)*0.002 - 0.001
	}
	m := &audioMeter{}
	for i := 0; i < len(sig); i += 1024 {
		ch := sig[i:min(i+1024, len(sig))]
		m.add([][]float32{ch, ch}, float64(i)/rate, rate)
	}
	st := m.stats()
	if len(st.Tones) != 2 || math.Abs(st.Tones[0]-1000) > 3 || math.Abs(st.Tones[1]-2500) > 3 {
		t.Errorf("tones = %v, want [1000 2500]", st.Tones)
	}
	// A 0.3 sine is -13.5 dBFS RMS while it sounds; 6 beeps of 60 ms in 4 s.
	wantMean := 20 * math.Log10(0.3/math.Sqrt2*math.Sqrt(6*0.06/4))
	if math.Abs(st.MeanDbfs-wantMean) > 0.3 {
		t.Errorf("mean = %.2f dBFS, want %.2f", st.MeanDbfs, wantMean)
	}
	if got := st.MaxLevel(Window{From: 0, To: 0.45}); got > -50 {
		t.Errorf("level before the first beep = %.1f dBFS, want the hiss's (about -65)", got)
	}
	if got := st.MaxLevel(Window{From: 0.45, To: 0.6}); got < -20 {
		t.Errorf("level around the first beep = %.1f dBFS, want about -13.5", got)
	}
}

func TestPairEvents(t *testing.T) {
	flashes := []float64{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}
	for _, tc := range []struct {
		name      string
		beeps     []float64
		wantPairs int
		wantMean  float64
	}{
		{"aligned", []float64{0.5, 1.5, 2.5, 3.5, 4.5, 5.5}, 6, 0},
		{"late audio", []float64{0.58, 1.58, 2.58, 3.58, 4.58, 5.58}, 6, 80},
		// A missing beep leaves its flash unpaired rather than paired with
		// a neighbour a second away.
		{"missing beep", []float64{0.51, 1.51, 3.51, 4.51, 5.51}, 5, 10},
		// A click between beeps is nobody's nearest.
		{"extra click", []float64{0.5, 1.0, 1.5, 2.5, 3.5, 4.5, 5.5}, 6, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pairs := dropOutliers(pairEvents(flashes, tc.beeps))
			p := PeerSync{Pairs: pairs}
			p.stats()
			if len(pairs) != tc.wantPairs || math.Abs(p.MeanOffsetMs-tc.wantMean) > 1e-6 {
				t.Errorf("%d pairs, mean %.3f ms; want %d, %.0f ms: %+v", len(pairs), p.MeanOffsetMs, tc.wantPairs, tc.wantMean, pairs)
			}
		})
	}
}

func TestDriftRegression(t *testing.T) {
	// 2 ms of offset per second: 7200 ms/h, with ±0.5 ms jitter.
	var p PeerSync
	for i := 0; i < 20; i++ {
		ts := 0.5 + float64(i)
		p.Pairs = append(p.Pairs, SyncPair{Flash: ts, OffsetMs: 2*ts + 0.5*float64(i%2*2-1)})
	}
	p.stats()
	if math.Abs(p.DriftMsPerHour-7200) > 200 || p.DriftStdErrMsPerHour <= 0 || p.DriftStdErrMsPerHour > 200 {
		t.Errorf("drift %.0f ± %.0f ms/h, want 7200 with a small error", p.DriftMsPerHour, p.DriftStdErrMsPerHour)
	}
	if got := p.DriftVerdict(33.3); got != "FAIL" {
		t.Errorf("verdict %q, want FAIL", got)
	}
}
