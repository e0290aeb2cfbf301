package analyze

import (
	"math"
	"sort"
)

// envStep is the spacing of tone envelope points, in seconds.
const envStep = 0.001

// toneBank tracks the amplitude envelopes of a few tones through a stream of
// mono samples with sliding single-bin DFTs: per sample and tone, one complex
// multiply and a running sum, cheap enough for hours of audio.
//
// An envelope point's time is the centre of its window. For a tone that
// starts at t0 the amplitude then ramps from zero to full across
// [t0-W/2, t0+W/2], crossing half of full exactly at t0 whatever W is: the
// half-amplitude crossing is the onset, without a bias to correct.
type toneBank struct {
	rate  int
	win   int // window length in samples
	hop   int // samples per envelope point
	tones []*toneTrack

	t0    float64 // time of sample 0
	n     int64   // samples seen, including inserted silence
	start bool
}

type toneTrack struct {
	hz   float64
	rot  complex128 // per-sample rotation e^{-iω}
	osc  complex128 // current e^{-iωn}
	ring []complex128
	sum  complex128
	env  []float32 // amplitude per envelope point
}

// newToneBank makes a bank for the given tones. The window is 5 ms, longer
// when tones are close, so that each one's filter rejects its neighbours: a
// rectangular window's first null is 1/W away.
func newToneBank(tones []float64, rate int) *toneBank {
	win := 0.005
	sorted := append([]float64(nil), tones...)
	sort.Float64s(sorted)
	for i := 1; i < len(sorted); i++ {
		if sep := sorted[i] - sorted[i-1]; sep > 0 {
			win = math.Max(win, 1.5/sep)
		}
	}
	win = math.Min(win, 0.025)
	b := &toneBank{rate: rate, win: int(math.Round(win * float64(rate))), hop: max(1, int(math.Round(envStep*float64(rate))))}
	for _, hz := range tones {
		s, c := math.Sincos(-2 * math.Pi * hz / float64(rate))
		b.tones = append(b.tones, &toneTrack{hz: hz, rot: complex(c, s), osc: 1, ring: make([]complex128, b.win)})
	}
	return b
}

// add feeds samples whose first one is at time t. Gaps in the timeline are
// filled with silence and overlaps dropped, so that envelope point k always
// sits at pointTime(k).
func (b *toneBank) add(mono []float32, t float64) {
	if !b.start {
		b.t0, b.start = t, true
	}
	expect := b.t0 + float64(b.n)/float64(b.rate)
	skip := 0
	if d := int(math.Round((t - expect) * float64(b.rate))); d > 0 {
		for i := 0; i < d; i++ {
			b.push(0)
		}
	} else if d < 0 {
		skip = min(-d, len(mono))
	}
	for _, v := range mono[skip:] {
		b.push(float64(v))
	}
}

func (b *toneBank) push(v float64) {
	slot := int(b.n % int64(b.win))
	for _, tr := range b.tones {
		p := complex(v, 0) * tr.osc
		tr.sum += p - tr.ring[slot]
		tr.ring[slot] = p
		tr.osc *= tr.rot
	}
	b.n++
	if b.n%1024 == 0 {
		// Keep the oscillators on the unit circle despite rounding.
		for _, tr := range b.tones {
			tr.osc /= complex(cmplxAbs(tr.osc), 0)
		}
	}
	if b.n%int64(b.hop) == 0 {
		scale := 2 / float64(b.win)
		for _, tr := range b.tones {
			tr.env = append(tr.env, float32(cmplxAbs(tr.sum)*scale))
		}
	}
}

func cmplxAbs(c complex128) float64 { return math.Hypot(real(c), imag(c)) }

// pointTime returns the time of envelope point k: the centre of the window
// that ends at its last sample.
func (b *toneBank) pointTime(k float64) float64 {
	last := (k+1)*float64(b.hop) - 1
	return b.t0 + (last-float64(b.win-1)/2)/float64(b.rate)
}

// onsets returns the start times of the beeps of one tone.
func (b *toneBank) onsets(tr *toneTrack) []float64 {
	env := tr.env
	if len(env) == 0 {
		return nil
	}
	sorted := append([]float32(nil), env...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	floor := float64(sorted[len(sorted)/2])
	top := float64(sorted[len(sorted)-1])
	// A beep rises well above the envelope's median (the tone is mostly
	// off) and reaches a fair share of the loudest beep.
	low := math.Max(floor*4, top*0.1)
	if top <= 1e-5 || low >= top {
		return nil
	}
	minLen := int(math.Ceil(0.015 / envStep)) // shorter bursts are clicks, not beeps
	mergeGap := int(math.Ceil(0.010 / envStep))

	type burst struct{ from, to int }
	var bursts []burst
	for k := 0; k < len(env); k++ {
		if float64(env[k]) < low {
			continue
		}
		end := k
		for end < len(env) && float64(env[end]) >= low {
			end++
		}
		if n := len(bursts); n > 0 && k-bursts[n-1].to <= mergeGap {
			bursts[n-1].to = end
		} else {
			bursts = append(bursts, burst{k, end})
		}
		k = end
	}
	var out []float64
	var peaks []float64
	for _, bu := range bursts {
		if bu.to-bu.from < minLen {
			continue
		}
		// The plateau is a high percentile of the burst rather than its
		// maximum, which coding artefacts can overshoot.
		vals := append([]float32(nil), env[bu.from:bu.to]...)
		sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
		plateau := float64(vals[len(vals)*3/4])
		half := float32(plateau / 2)
		k := bu.from
		for k > 0 && env[k-1] >= half {
			k--
		}
		for k < bu.to && env[k] < half {
			k++
		}
		// Linear interpolation between the points either side of the
		// crossing gives sub-millisecond precision on the window's ramp.
		pos := float64(k)
		if k > 0 && env[k] > env[k-1] {
			pos = float64(k-1) + float64(half-env[k-1])/float64(env[k]-env[k-1])
		}
		out = append(out, b.pointTime(pos))
		peaks = append(peaks, plateau)
	}
	// Drop the faint bursts: leakage of loud neighbours, not beeps.
	if len(peaks) > 0 {
		sp := append([]float64(nil), peaks...)
		sort.Float64s(sp)
		med := sp[len(sp)/2]
		kept := out[:0]
		for i, t := range out {
			if peaks[i] >= 0.3*med {
				kept = append(kept, t)
			}
		}
		out = kept
	}
	return out
}
