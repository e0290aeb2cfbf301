package analyze

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/asticode/go-astiav"
)

// Audio measurement constants. Levels are RMS, in dBFS, over all channels.
const (
	// LevelWindow is the length of the windows whose levels are kept to
	// check silence windows, in seconds.
	LevelWindow = 0.05
	// DefaultSilenceDbfs is the level below which a window counts as silent.
	DefaultSilenceDbfs = -60.0
	// floorDbfs stands for digital silence, which has no finite level.
	floorDbfs = -120.0

	toneBlock = 4096 // samples per spectrum block for tone detection
	maxTones  = 8
)

// Window is a span of the file's timeline, in seconds.
type Window struct {
	From float64 `json:"from"`
	To   float64 `json:"to"`
}

// AudioStats are the measurements of one audio-only pass over a file.
type AudioStats struct {
	// Duration is the span covered by decoded audio, from the file's start.
	Duration float64
	// MeanDbfs is the RMS level of the whole file; PeakDbfs its largest
	// sample.
	MeanDbfs float64
	PeakDbfs float64
	// Levels holds the RMS level of each LevelWindow-long window from the
	// start of the file; windows before the first sample are at floorDbfs.
	Levels []float32 `json:"-"`
	// Tones are the frequencies, in Hz, of steady tones heard in the file,
	// strongest first: the beeps of a sync test room.
	Tones []float64
}

// MaxLevel returns the loudest window level within w, in dBFS. Windows past
// the end of the audio count as silent.
func (s *AudioStats) MaxLevel(w Window) float64 {
	lo := int(math.Floor(w.From / LevelWindow))
	hi := int(math.Ceil(w.To / LevelWindow))
	maxv := floorDbfs
	for i := max(lo, 0); i < hi && i < len(s.Levels); i++ {
		maxv = math.Max(maxv, float64(s.Levels[i]))
	}
	return maxv
}

// Silences returns the runs of windows below threshold that last at least
// minLen seconds.
func (s *AudioStats) Silences(threshold, minLen float64) []Window {
	var out []Window
	start := -1
	flush := func(end int) {
		if start >= 0 && float64(end-start)*LevelWindow >= minLen {
			out = append(out, Window{From: float64(start) * LevelWindow, To: math.Min(float64(end)*LevelWindow, s.Duration)})
		}
		start = -1
	}
	for i, l := range s.Levels {
		if float64(l) < threshold {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(s.Levels))
	return out
}

// MeasureAudio decodes the first audio stream of path and measures its level,
// per-window levels and the tones it holds.
func MeasureAudio(ctx context.Context, path string) (*AudioStats, error) {
	in, err := openInput(path, false, true)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if in.audio == nil {
		return nil, fmt.Errorf("%s: no audio stream", path)
	}
	m := &audioMeter{}
	var buf [][]float32
	err = in.run(ctx, nil, func(f *astiav.Frame, t float64) error {
		buf, err = audioSamples(f, buf)
		if err != nil {
			return fmt.Errorf("%s at %.3fs: %w", path, t, err)
		}
		m.add(buf, t, f.SampleRate())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if m.samples == 0 {
		return nil, fmt.Errorf("%s: the audio stream has no samples", path)
	}
	return m.stats(), nil
}

// audioMeter accumulates the loudness, window levels and spectrum of the
// audio it is fed.
type audioMeter struct {
	samples int64 // per channel
	sumSq   float64
	peak    float64
	count   int64 // samples over all channels
	end     float64

	winSum   []float64 // sum of squares per level window
	winCount []int64

	rate    int
	fft     *fft
	hann    []float64
	block   []float64 // mono samples waiting for a full spectrum block
	scratch []complex128
	power   []float64 // summed power spectrum
	blocks  int
}

func (m *audioMeter) add(ch [][]float32, t float64, rate int) {
	n := len(ch[0])
	if n == 0 || rate <= 0 {
		return
	}
	if m.rate == 0 {
		m.rate = rate
		m.fft = newFFT(toneBlock)
		m.hann = make([]float64, toneBlock)
		for i := range m.hann {
			m.hann[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(toneBlock))
		}
		m.scratch = make([]complex128, toneBlock)
		m.power = make([]float64, toneBlock/2)
	}
	m.samples += int64(n)
	m.end = math.Max(m.end, t+float64(n)/float64(rate))
	inv := 1 / float64(len(ch))
	for i := 0; i < n; i++ {
		var mono, sq float64
		for _, c := range ch {
			v := float64(c[i])
			mono += v
			sq += v * v
			if a := math.Abs(v); a > m.peak {
				m.peak = a
			}
		}
		m.sumSq += sq
		w := int((t + float64(i)/float64(rate)) / LevelWindow)
		if w >= 0 {
			for len(m.winSum) <= w {
				m.winSum = append(m.winSum, 0)
				m.winCount = append(m.winCount, 0)
			}
			m.winSum[w] += sq
			m.winCount[w] += int64(len(ch))
		}
		m.block = append(m.block, mono*inv)
		if len(m.block) == toneBlock {
			m.spectrum()
		}
	}
	m.count += int64(n * len(ch))
}

// spectrum adds the power spectrum of the waiting block to the sum.
func (m *audioMeter) spectrum() {
	for i, v := range m.block {
		m.scratch[i] = complex(v*m.hann[i], 0)
	}
	m.block = m.block[:0]
	m.fft.transform(m.scratch)
	for i := range m.power {
		re, im := real(m.scratch[i]), imag(m.scratch[i])
		m.power[i] += re*re + im*im
	}
	m.blocks++
}

func dbfs(rms float64) float64 {
	if rms <= 0 {
		return floorDbfs
	}
	return math.Max(20*math.Log10(rms), floorDbfs)
}

func (m *audioMeter) stats() *AudioStats {
	s := &AudioStats{
		Duration: m.end,
		MeanDbfs: dbfs(math.Sqrt(m.sumSq / float64(m.count))),
		PeakDbfs: dbfs(m.peak),
		Levels:   make([]float32, len(m.winSum)),
	}
	for i := range m.winSum {
		l := floorDbfs
		if m.winCount[i] > 0 {
			l = dbfs(math.Sqrt(m.winSum[i] / float64(m.winCount[i])))
		}
		s.Levels[i] = float32(l)
	}
	if m.blocks > 0 {
		s.Tones = findTones(m.power, m.rate)
	}
	return s
}

// findTones picks the narrow peaks of a summed power spectrum. A beep
// repeated through the file stands far above the spectrum's median, while
// the codec's noise and broadband sounds do not form narrow peaks.
func findTones(power []float64, rate int) []float64 {
	n := len(power)
	sorted := append([]float64(nil), power...)
	sort.Float64s(sorted)
	median := sorted[n/2]
	top := sorted[n-1]
	if top <= 0 {
		return nil
	}
	type peak struct{ hz, p float64 }
	var peaks []peak
	binHz := float64(rate) / float64(2*n)
	for i := 5; i < n-5; i++ {
		p := power[i]
		if p <= power[i-1] || p < power[i+1] {
			continue
		}
		// 20 dB above the median, within 40 dB of the strongest peak, and
		// narrow: a Hann window spreads a pure tone over ±2 bins only.
		if p < 100*median || p < top*1e-4 || power[i-5] > p/20 || power[i+5] > p/20 {
			continue
		}
		// Parabolic interpolation on the log power refines the frequency
		// to a fraction of a bin.
		a, b, c := math.Log(power[i-1]+1e-30), math.Log(p+1e-30), math.Log(power[i+1]+1e-30)
		d := 0.0
		if den := a - 2*b + c; den < 0 {
			d = 0.5 * (a - c) / den
		}
		peaks = append(peaks, peak{hz: (float64(i) + d) * binHz, p: p})
	}
	sort.Slice(peaks, func(i, j int) bool { return peaks[i].p > peaks[j].p })
	var tones []float64
	for _, pk := range peaks {
		if len(tones) == maxTones {
			break
		}
		tones = append(tones, math.Round(pk.hz))
	}
	return tones
}
