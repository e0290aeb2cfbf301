package compositor

import (
	"math"
	"time"
)

const (
	// snapTolerance absorbs timestamp rounding and jitter: a chunk that
	// starts this close to where the previous one ended continues it
	// seamlessly instead of leaving a click-sized gap or overlap. Half an
	// Opus frame, so a lost 20 ms frame still leaves its silence in place.
	snapTolerance = 10 * time.Millisecond
	// reanchorJump is how far a chunk may land before where the source's
	// previous chunk ended before the source is taken to have restarted its
	// timeline: what it buffered ahead of the new chunk is thrown away rather
	// than played after it. Forward jumps are just silence (DTX, loss), and
	// what was buffered before them is still good.
	reanchorJump = 100 * time.Millisecond
	// aheadRoom is how far beyond the latency window a source may buffer:
	// audio normally arrives about the latency ahead of the output, and each
	// source costs 2 x 48000 x 4 bytes per second of room.
	aheadRoom = time.Second
)

// audioSource buffers one track's samples by their position on the job
// timeline, in a ring over absolute sample indexes: sample p lives at
// p mod cap. The mixer zeroes what it consumes, so whatever a source has not
// written reads as silence.
type audioSource struct {
	peer  string // whose it is, for the active speaker
	muted bool
	// meanSquare is the source's power over the last mixed window, for
	// the active speaker: silence is 0.
	meanSquare float64
	ring       []float32 // interleaved stereo, 2*capN values
	capN       int64
	next       int64 // where the previous chunk ended
	anchored   bool
}

func newAudioSource(capN int64) *audioSource {
	return &audioSource{ring: make([]float32, 2*capN), capN: capN}
}

// mixer sums sources over consecutive windows of the timeline.
type mixer struct {
	rate int
	pos  int64 // first sample of the next window to mix
	capN int64
	snap int64
	jump int64
}

func newMixer(rate int, latency time.Duration) mixer {
	m := mixer{
		rate: rate,
		pos:  -durToSamples(latency, rate),
		capN: durToSamples(latency+aheadRoom, rate),
		snap: durToSamples(snapTolerance, rate),
		jump: durToSamples(reanchorJump, rate),
	}
	return m
}

// push stores a chunk of interleaved stereo samples that starts at media time
// t. It returns how many samples it dropped as late (their window is already
// mixed) and as overflow (too far ahead to buffer).
func (m *mixer) push(s *audioSource, samples []float32, t time.Duration) (late, overflow int64) {
	n := int64(len(samples) / 2)
	if n == 0 {
		return 0, 0
	}
	pos := durToSamples(t, m.rate)
	if s.anchored {
		d := pos - s.next
		switch {
		case d >= -m.snap && d <= m.snap:
			pos = s.next
		case d < -m.jump:
			// The source's timeline went back (a reconnect, a new sender
			// clock): what it buffered ahead belongs to the old one.
			m.zero(s, pos, s.next)
		}
		// Gaps stay silent; overlaps are overwritten: the later chunk wins.
	}
	s.anchored = true
	s.next = pos + n

	start, end := pos, pos+n
	if start < m.pos {
		late = min(n, m.pos-start)
		start = m.pos
	}
	if limit := m.pos + m.capN; end > limit {
		overflow = min(n, end-limit)
		end = limit
	}
	for start < end {
		i := mod(start, m.capN)
		k := min(end-start, m.capN-i)
		off := 2 * (start - pos)
		copy(s.ring[2*i:2*(i+k)], samples[off:off+2*k])
		start += k
	}
	return late, overflow
}

// mix sums the sources over the next len(out)/2 samples into out and moves
// the window on. Muted sources are consumed but not heard.
func (m *mixer) mix(out []float32, sources map[string]*audioSource) {
	clear(out)
	n := int64(len(out) / 2)
	for _, s := range sources {
		var e float32
		for p := m.pos; p < m.pos+n; {
			i := mod(p, m.capN)
			k := min(m.pos+n-p, m.capN-i)
			src := s.ring[2*i : 2*(i+k)]
			if !s.muted {
				dst := out[2*(p-m.pos) : 2*(p-m.pos+k)]
				for j, v := range src {
					dst[j] += v
					e += v * v
				}
			}
			clear(src)
			p += k
		}
		s.meanSquare = 0
		if n > 0 {
			s.meanSquare = float64(e) / float64(2*n)
		}
	}
	m.pos += n
}

// zero silences s over [from, to), clipped to what the ring holds.
func (m *mixer) zero(s *audioSource, from, to int64) {
	from, to = max(from, m.pos), min(to, m.pos+m.capN)
	for from < to {
		i := mod(from, m.capN)
		k := min(to-from, m.capN-i)
		clear(s.ring[2*i : 2*(i+k)])
		from += k
	}
}

func mod(a, b int64) int64 { return ((a % b) + b) % b }

// durToSamples converts a duration to a sample index, rounding to nearest,
// without overflowing for long jobs.
func durToSamples(d time.Duration, rate int) int64 {
	neg := d < 0
	if neg {
		d = -d
	}
	s := int64(d/time.Second)*int64(rate) + (int64(d%time.Second)*int64(rate)+int64(time.Second)/2)/int64(time.Second)
	if neg {
		return -s
	}
	return s
}

const (
	limitThreshold = 0.9 // the limiter aims peaks at this
	clipKnee       = 0.9 // above this the soft clipper bends towards 1
)

// limiter keeps the mix inside [-1, 1] without hard clipping: a stereo-linked
// gain follows the peaks down quickly (1 ms) and recovers slowly (150 ms),
// and a tanh soft clipper catches what gets through during the attack. Below
// the threshold the signal passes untouched.
type limiter struct {
	gain    float32
	attack  float32
	release float32
}

func newLimiter(rate int) limiter {
	coef := func(sec float64) float32 { return float32(1 - math.Exp(-1/(sec*float64(rate)))) }
	return limiter{gain: 1, attack: coef(0.001), release: coef(0.150)}
}

func (l *limiter) process(buf []float32) {
	g := l.gain
	for i := 0; i+1 < len(buf); i += 2 {
		a, b := buf[i], buf[i+1]
		peak := max(abs32(a), abs32(b))
		target := float32(1)
		if peak > limitThreshold {
			target = limitThreshold / peak
		}
		if target < g {
			g += (target - g) * l.attack
		} else {
			g += (target - g) * l.release
		}
		buf[i] = softClip(a * g)
		buf[i+1] = softClip(b * g)
	}
	if g != g { // NaN input must not poison the state for good
		g = 1
	}
	l.gain = g
}

func softClip(x float32) float32 {
	ax := abs32(x)
	if ax <= clipKnee {
		return x
	}
	if ax != ax {
		return 0
	}
	y := float32(clipKnee + (1-clipKnee)*math.Tanh(float64((ax-clipKnee)/(1-clipKnee))))
	y = min(y, 1)
	if x < 0 {
		return -y
	}
	return y
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
