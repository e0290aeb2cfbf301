package compositor

import (
	"math"
	"strings"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/mediaclock"
)

// TestAudioOnlyMixesAlone runs an audio-only compositor, with no size or
// rate given, over peers that have cameras too: it writes no video at all,
// ignores the cameras' frames, and mixes the microphones exactly as a
// video compositor does, 40 ms per tick.
func TestAudioOnlyMixesAlone(t *testing.T) {
	r := newRig(t, Config{AudioOnly: true, Latency: 200 * ms})
	r.peer("A")
	r.peer("B")
	r.c.PushVideo("A-cam", solid(t, 64, 64, astiav.PixelFormatYuv420P, yuv{150, 60, 200}), 0)
	a, b := sine(440, 0.3), sine(1000, 0.25)
	feed(r, "A-mic", a, 0, rate, 960, nil)
	feed(r, "B-mic", b, 0, rate, 480, nil)
	r.run(t, 1500*ms)

	if len(r.out.vpts) != 0 {
		t.Fatalf("%d video frames written by an audio-only compositor", len(r.out.vpts))
	}
	for i, n := range r.out.alen {
		if n != rate/DefaultAudioTicks || r.out.apts[i] != int64(i*rate/DefaultAudioTicks) {
			t.Fatalf("tick %d: %d samples at %d, want %d at %d", i, n, r.out.apts[i], rate/DefaultAudioTicks, i*rate/DefaultAudioTicks)
		}
	}
	for i := 0; i < rate; i++ {
		al, ar := a(i)
		bl, br := b(i)
		if gl, gr := r.out.media(i, 0), r.out.media(i, 1); math.Abs(float64(gl-(al+bl))) > 1e-6 || math.Abs(float64(gr-(ar+br))) > 1e-6 {
			t.Fatalf("media sample %d = (%v, %v), want (%v, %v)", i, gl, gr, al+bl, ar+br)
		}
	}
	st := r.c.Stats()
	if st.Frames != 0 || st.VideoSources != 0 || st.AudioSources != 2 || st.Peers != 2 || st.FirstVideoFrame != -1 ||
		st.AudioSamples != 38*rate/DefaultAudioTicks { // ticks at 0, 40, ..., 1480 ms
		t.Errorf("stats %+v", st)
	}
}

func TestAudioOnlyConfig(t *testing.T) {
	clk := mediaclock.NewVirtual()
	if _, err := New(Config{}, clk, newCapture(t)); err == nil || !strings.Contains(err.Error(), "Config.Width") {
		t.Errorf("a video compositor without a size: %v", err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" means valid
	}{
		{"no size, default rate", Config{AudioOnly: true}, ""},
		{"rate given", Config{AudioOnly: true, FPS: 50}, ""},
		{"rate out of range", Config{AudioOnly: true, FPS: 500}, "Config.FPS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg, clk, newCapture(t))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
