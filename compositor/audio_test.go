package compositor

import (
	"math"
	"sort"
	"testing"
	"time"
)

// With base(): 48 kHz, 10 fps, 200 ms latency. Output sample p carries media
// sample p - lat.
const (
	rate = 48000
	lat  = 9600
)

type signal func(i int) (l, r float32)

func sine(freq, amp float64) signal {
	return func(i int) (float32, float32) {
		v := amp * math.Sin(2*math.Pi*freq*float64(i)/rate)
		return float32(v), float32(v / 2)
	}
}

func dc(v float32) signal { return func(int) (float32, float32) { return v, v } }

// feed pushes sig for media samples [from, to) in chunks of chunk samples,
// each chunk at its exact time plus jitter(k).
func feed(r *rig, track string, sig signal, from, to, chunk int, jitter func(k int) time.Duration) {
	buf := make([]float32, 2*chunk)
	for k, s := 0, from; s < to; k, s = k+1, s+chunk {
		n := min(chunk, to-s)
		for i := 0; i < n; i++ {
			buf[2*i], buf[2*i+1] = sig(s + i)
		}
		at := time.Duration(s) * time.Second / rate
		if jitter != nil {
			at += jitter(k)
		}
		r.c.PushAudio(track, buf[:2*n], at)
	}
}

// media returns output channel ch at media sample i.
func (c *capture) media(i, ch int) float32 { return c.audio[2*(i+lat)+ch] }

func TestMixTwoSines(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	r.peer("B")
	r.peer("C") // never sends: must add nothing
	a, b := sine(440, 0.3), sine(1000, 0.25)
	feed(r, "A-mic", a, 0, rate, 960, nil)
	feed(r, "B-mic", b, 0, rate, 480, nil)
	r.run(t, 1500*ms)

	for i := -lat; i < 0; i++ {
		if v := r.out.media(i, 0); v != 0 {
			t.Fatalf("media sample %d = %v before anything was sent", i, v)
		}
	}
	for i := 0; i < rate; i++ {
		al, ar := a(i)
		bl, br := b(i)
		if gl, gr := r.out.media(i, 0), r.out.media(i, 1); math.Abs(float64(gl-(al+bl))) > 1e-6 || math.Abs(float64(gr-(ar+br))) > 1e-6 {
			t.Fatalf("media sample %d = (%v, %v), want (%v, %v)", i, gl, gr, al+bl, ar+br)
		}
	}
	for i := rate; i < rate+2*4800; i++ {
		if v := r.out.media(i, 0); v != 0 {
			t.Fatalf("media sample %d = %v after the sources stopped", i, v)
		}
	}
}

func TestMissingSourceIsSilence(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	r.peer("B")
	feed(r, "A-mic", dc(0.5), 0, rate*3/10, 960, nil)
	r.run(t, time.Second)
	for i := 0; i < len(r.out.audio)/2-lat; i++ {
		want := float32(0)
		if i < rate*3/10 {
			want = 0.5
		}
		if v := r.out.media(i, 1); v != want {
			t.Fatalf("media sample %d = %v, want %v", i, v, want)
		}
	}
}

func TestAudioAppearsAtItsTime(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	feed(r, "A-mic", dc(0.5), rate/2, rate*7/10, 960, nil) // 500..700 ms
	r.run(t, time.Second)
	first := -1
	for i := 0; i < len(r.out.audio)/2; i++ {
		if r.out.audio[2*i] != 0 {
			first = i
			break
		}
	}
	// 500 ms of media plus 200 ms of latency.
	if want := rate/2 + lat; first != want {
		t.Fatalf("first sound at output sample %d, want %d", first, want)
	}
}

func TestAudioJitterIsAbsorbed(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	s := sine(440, 0.5)
	// Chunk k arrives stamped up to ±1.5 ms off its true time.
	jit := func(k int) time.Duration { return time.Duration((k*7)%31-15) * 100 * time.Microsecond }
	feed(r, "A-mic", s, 0, rate, 960, jit)
	r.run(t, 1300*ms)
	// The first chunk anchors (stamped 1.5 ms early: 72 samples); the rest
	// follow it without gaps or overlaps.
	const shift = -72
	for i := 0; i < rate; i++ {
		l, _ := s(i)
		if got := r.out.media(i+shift, 0); got != l {
			t.Fatalf("media sample %d = %v, want %v (a gap or overlap)", i+shift, got, l)
		}
	}
}

func TestAudioGapAndBackwardJump(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	ms10 := rate / 100
	feed(r, "A-mic", dc(0.5), 0, 30*ms10, 960, nil)        // 0..300 ms
	feed(r, "A-mic", dc(0.25), 35*ms10, 50*ms10, 960, nil) // 50 ms gap, then 350..500 ms
	feed(r, "A-mic", dc(-0.5), 10*ms10, 20*ms10, 960, nil) // back to 100 ms: a new timeline
	r.run(t, time.Second)
	for _, tc := range []struct {
		from, to int
		want     float32
	}{
		{0, 10 * ms10, 0.5},
		{10 * ms10, 20 * ms10, -0.5},
		{20 * ms10, 60 * ms10, 0}, // the old timeline's rest is dropped
	} {
		for i := tc.from; i < tc.to; i++ {
			if v := r.out.media(i, 0); v != tc.want {
				t.Fatalf("media sample %d = %v, want %v", i, v, tc.want)
			}
		}
	}

	// Without the jump, the gap is silence and both sides are kept.
	r = newRig(t, base())
	r.peer("A")
	feed(r, "A-mic", dc(0.5), 0, 30*ms10, 960, nil)
	feed(r, "A-mic", dc(0.25), 35*ms10, 50*ms10, 960, nil)
	r.run(t, time.Second)
	for _, tc := range []struct {
		from, to int
		want     float32
	}{{0, 30 * ms10, 0.5}, {30 * ms10, 35 * ms10, 0}, {35 * ms10, 50 * ms10, 0.25}} {
		for i := tc.from; i < tc.to; i++ {
			if v := r.out.media(i, 0); v != tc.want {
				t.Fatalf("no jump: media sample %d = %v, want %v", i, v, tc.want)
			}
		}
	}
}

func TestMutedAudioIsSilent(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	feed(r, "A-mic", dc(0.5), 0, rate, 960, nil)
	r.out.hooks[4] = func() { r.c.SetMuted("A-mic", true) }
	r.out.hooks[6] = func() {
		r.c.SetMuted("A-mic", false)
		feed(r, "A-mic", dc(0.25), 6*4800, 8*4800, 960, nil) // frames 8 and 9
	}
	r.run(t, time.Second)
	// Frame n (4800 samples) carries media [(n-2)*4800, (n-1)*4800).
	want := []float32{0, 0, 0.5, 0.5, 0.5, 0, 0, 0, 0.25, 0.25}
	for n, w := range want {
		for _, i := range []int{0, 4799} {
			if v := r.out.audio[2*(n*4800+i)]; v != w {
				t.Errorf("frame %d sample %d = %v, want %v", n, i, v, w)
			}
		}
	}
}

func TestLimiterKeepsLoudMixInRange(t *testing.T) {
	r := newRig(t, base())
	s := sine(440, 0.9)
	for _, id := range []string{"A", "B", "C", "D"} {
		r.peer(id)
		feed(r, id+"-mic", s, 0, rate, 960, nil)
	}
	r.run(t, 1300*ms) // capture fails the test on any |x| > 1

	peak := float32(0)
	var ratios []float64
	for i := rate / 10; i < rate; i++ { // after the first attack
		out := r.out.media(i, 0)
		peak = max(peak, abs32(out))
		in, _ := s(i)
		if abs32(in) > 0.5 {
			ratios = append(ratios, float64(out/(4*in)))
		}
	}
	if peak < 0.8 || peak > 1 {
		t.Errorf("peak %v: want the loud mix limited to just under 1", peak)
	}
	// A smooth gain, not a clipper: the waveform is the input scaled.
	sort.Float64s(ratios)
	med := ratios[len(ratios)/2]
	lo, hi := ratios[len(ratios)/100], ratios[len(ratios)*99/100]
	if lo < med*0.9 || hi > med*1.1 {
		t.Errorf("gain varies %.3f..%.3f around %.3f: the waveform is distorted", lo, hi, med)
	}
}

func TestLimiterUnit(t *testing.T) {
	l := newLimiter(rate)
	quiet := []float32{0.1, -0.2, 0.85, -0.89, 0, 0.5}
	buf := append([]float32(nil), quiet...)
	l.process(buf)
	for i := range buf {
		if buf[i] != quiet[i] {
			t.Fatalf("quiet sample %d changed: %v -> %v", i, quiet[i], buf[i])
		}
	}
	wild := []float32{100, -100, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 2, 1.5, -3}
	l.process(wild)
	for i, v := range wild {
		if !(v >= -1 && v <= 1) {
			t.Fatalf("sample %d = %v after the limiter", i, v)
		}
	}
	buf = append(buf[:0], quiet...)
	for k := 0; k < 100; k++ { // recovers within ~150 ms
		buf = append(buf[:0], make([]float32, 960)...)
		l.process(buf)
	}
	if l.gain < 0.99 || l.gain != l.gain {
		t.Errorf("gain %v did not recover after the burst", l.gain)
	}
}

func TestLateAndOverflowAudioCounted(t *testing.T) {
	r := newRig(t, base())
	r.peer("A")
	// Frame 5 has mixed media up to 400 ms; 10 ms at 100 ms is too late.
	r.out.hooks[5] = func() { feed(r, "A-mic", dc(0.5), rate/10, rate/10+480, 480, nil) }
	// Ten seconds ahead cannot be buffered.
	feed(r, "A-mic", dc(0.5), 10*rate, 10*rate+480, 480, nil)
	r.run(t, 800*ms)
	s := r.c.Stats()
	if s.LateAudio != 480 || s.OverflowAudio != 480 {
		t.Errorf("late %d, overflow %d; want 480 and 480", s.LateAudio, s.OverflowAudio)
	}
	for i, v := range r.out.audio {
		if v != 0 {
			t.Fatalf("sample %d = %v from a late or overflowing push", i/2, v)
		}
	}
}

func TestDurToSamples(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{time.Second, 48000},
		{500 * time.Millisecond, 24000},
		{10 * time.Microsecond, 0},
		{11 * time.Microsecond, 1}, // 0.528 rounds up
		{-200 * time.Millisecond, -9600},
		{100 * time.Hour, 100 * 3600 * 48000},
	} {
		if got := durToSamples(tc.d, 48000); got != tc.want {
			t.Errorf("durToSamples(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
