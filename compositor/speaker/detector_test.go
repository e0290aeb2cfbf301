package speaker

import (
	"math"
	"testing"
	"time"
)

const ms = time.Millisecond

// script is who talks when: each span gives peers' levels in dBFS from its
// start until the next span.
type span struct {
	at     time.Duration
	levels []Level
}

// run feeds the script to d at 20 ms steps (an audio window) until end,
// and returns the speaker at each step.
func run(d *Detector, script []span, end time.Duration) map[time.Duration]string {
	out := map[time.Duration]string{}
	k := -1
	for now := time.Duration(0); now <= end; now += 20 * ms {
		for k+1 < len(script) && script[k+1].at <= now {
			k++
		}
		var lv []Level
		if k >= 0 {
			lv = script[k].levels
		}
		out[now] = d.Update(now, lv)
	}
	return out
}

func talk(peers ...string) []Level {
	var l []Level
	for i, p := range peers {
		l = append(l, Level{PeerID: p, DBFS: -20 - float64(i)*10})
	}
	return l
}

func TestDetector(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []span
		checks map[time.Duration]string
	}{
		{
			name:   "nobody speaks",
			script: []span{{0, []Level{{"a", math.Inf(-1)}, {"b", -70}}}},
			checks: map[time.Duration]string{0: "", 3000 * ms: ""},
		},
		{
			name:   "a first speaker takes the stage after the minimum speech",
			script: []span{{0, talk("a")}},
			checks: map[time.Duration]string{300 * ms: "", 700 * ms: "a", 5000 * ms: "a"},
		},
		{
			name: "a 300 ms cough never switches the stage",
			script: []span{
				{0, talk("a")}, {3000 * ms, talk("b", "a")}, {3300 * ms, talk("a")},
			},
			checks: map[time.Duration]string{2900 * ms: "a", 3300 * ms: "a", 3600 * ms: "a", 6000 * ms: "a"},
		},
		{
			name: "a new speaker takes over once they have talked long enough",
			script: []span{
				{0, talk("a")}, {3000 * ms, talk("b")},
			},
			checks: map[time.Duration]string{3200 * ms: "a", 3800 * ms: "b", 6000 * ms: "b"},
		},
		{
			name: "the stage stays 1.5 s at least, however fast the talk goes",
			script: []span{
				{0, talk("a")}, {1000 * ms, talk("b")}, {2000 * ms, talk("c")},
			},
			// a takes it at ~0.5 s; b is loudest from 1 s but must wait
			// until 2 s; c then waits 1.5 s after b's turn.
			checks: map[time.Duration]string{1400 * ms: "a", 2100 * ms: "b", 3000 * ms: "b", 3600 * ms: "c"},
		},
		{
			name:   "silence keeps the last speaker",
			script: []span{{0, talk("a")}, {2000 * ms, nil}},
			checks: map[time.Duration]string{1000 * ms: "a", 8000 * ms: "a"},
		},
		{
			name:   "the louder of two wins",
			script: []span{{0, []Level{{"a", -40}, {"b", -15}}}},
			checks: map[time.Duration]string{1000 * ms: "b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(New(0, 0, 0), tc.script, 8*time.Second)
			for at, want := range tc.checks {
				if got[at] != want {
					t.Errorf("at %v: speaker %q, want %q", at, got[at], want)
				}
			}
		})
	}
}

func TestSpeakingAndForget(t *testing.T) {
	d := New(0, 0, 0)
	run(d, []span{{0, talk("a")}}, time.Second)
	if !d.Speaking("a") || d.Speaking("b") {
		t.Errorf("speaking a=%t b=%t", d.Speaking("a"), d.Speaking("b"))
	}
	d.Forget("a")
	if got := d.Update(time.Second+20*ms, nil); got != "" {
		t.Errorf("after the speaker left: %q", got)
	}
}

func TestRMS(t *testing.T) {
	full := []float32{1, -1, 1, -1}
	if got := RMS(full); math.Abs(got) > 1e-9 {
		t.Errorf("full scale square: %.2f dBFS, want 0", got)
	}
	half := []float32{0.5, -0.5}
	if got := RMS(half); math.Abs(got+6.02) > 0.01 {
		t.Errorf("half scale: %.2f dBFS, want -6.02", got)
	}
	if !math.IsInf(RMS(nil), -1) || !math.IsInf(RMS([]float32{0, 0}), -1) {
		t.Error("silence is not -inf")
	}
}

func BenchmarkUpdate(b *testing.B) {
	d := New(0, 0, 0)
	lv := talk("a", "b", "c", "d")
	b.ReportAllocs()
	now := time.Duration(0)
	for b.Loop() {
		now += 20 * ms
		d.Update(now, lv)
	}
}
