package speaker

import (
	"math"
	"time"
)

// Defaults of a Detector.
const (
	// DefaultDwell is how long the stage stays with a speaker at least.
	DefaultDwell = 1500 * time.Millisecond
	// DefaultMinSpeech is how long someone must be the loudest, without a
	// break, to take the stage: longer than a cough or a laugh.
	DefaultMinSpeech = 500 * time.Millisecond
	// DefaultThreshold is the level, in dBFS, below which a peer is silent.
	DefaultThreshold = -50.0
	// smoothing is the time constant of each peer's level: it bridges the
	// gaps between syllables.
	smoothing = 150 * time.Millisecond
)

// Detector follows the active speaker. The zero value is not ready: use
// New. It is used from one goroutine.
type Detector struct {
	dwell, minSpeech time.Duration
	threshold        float64

	levels    map[string]float64 // smoothed, dBFS
	target    map[string]float64 // this update's levels; reused
	current   string
	since     time.Duration // when current took the stage
	candidate string
	candSince time.Duration
	last      time.Duration
	started   bool
}

// New returns a Detector; zero arguments take the defaults.
func New(dwell, minSpeech time.Duration, threshold float64) *Detector {
	if dwell <= 0 {
		dwell = DefaultDwell
	}
	if minSpeech <= 0 {
		minSpeech = DefaultMinSpeech
	}
	if threshold == 0 {
		threshold = DefaultThreshold
	}
	return &Detector{dwell: dwell, minSpeech: minSpeech, threshold: threshold, levels: map[string]float64{}, target: map[string]float64{}}
}

// Level is one peer's level at one moment.
type Level struct {
	PeerID string
	// DBFS is the peer's level in decibels relative to full scale (0 is
	// the loudest; silence is -inf, or anything below the threshold).
	DBFS float64
}

// Update takes the levels at time now (a peer missing from levels is
// silent) and returns the active speaker: "" until someone has spoken, and
// then the last one to take the stage, through silences. Times must not go
// backwards.
func (d *Detector) Update(now time.Duration, levels []Level) string {
	dt := now - d.last
	if !d.started {
		dt, d.started = smoothing, true
	}
	d.last = now
	silent := d.threshold - 20
	clear(d.target)
	for _, l := range levels {
		v := max(l.DBFS, silent)
		if prev, ok := d.target[l.PeerID]; ok {
			v = max(v, prev) // a peer with two tracks: the louder
		}
		d.target[l.PeerID] = v
		if _, ok := d.levels[l.PeerID]; !ok {
			d.levels[l.PeerID] = silent
		}
	}
	a := 1 - math.Exp(-float64(dt)/float64(smoothing))
	loudest, top := "", d.threshold
	for id, v := range d.levels {
		t, ok := d.target[id]
		if !ok {
			t = silent
		}
		v += a * (t - v)
		d.levels[id] = v
		if v > top || (v == top && id < loudest) {
			loudest, top = id, v
		}
	}
	switch {
	case loudest == "" || loudest == d.current:
		d.candidate = ""
	case loudest != d.candidate:
		d.candidate, d.candSince = loudest, now
	}
	if d.candidate != "" && now-d.candSince >= d.minSpeech && (d.current == "" || now-d.since >= d.dwell) {
		d.current, d.since, d.candidate = d.candidate, now, ""
	}
	return d.current
}

// Speaking reports whether peer is above the threshold now: for a speaking
// highlight, which follows the voice without the stage's hysteresis.
func (d *Detector) Speaking(peer string) bool {
	v, ok := d.levels[peer]
	return ok && v > d.threshold
}

// Forget drops a peer that left; if it held the stage, the stage is free.
func (d *Detector) Forget(peer string) {
	delete(d.levels, peer)
	if d.current == peer {
		d.current = ""
	}
	if d.candidate == peer {
		d.candidate = ""
	}
}

// RMS is the level of interleaved samples in [-1, 1], in dBFS.
func RMS(samples []float32) float64 {
	if len(samples) == 0 {
		return math.Inf(-1)
	}
	var e float64
	for _, s := range samples {
		e += float64(s) * float64(s)
	}
	return DBFS(e / float64(len(samples)))
}

// DBFS converts a mean square to dBFS.
func DBFS(meanSquare float64) float64 {
	if meanSquare <= 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(meanSquare)
}
