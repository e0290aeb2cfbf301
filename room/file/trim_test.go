package file

import (
	"fmt"
	"testing"
	"time"
)

func TestTrim(t *testing.T) {
	const s = time.Second
	peer := func(join, media, leave time.Duration) PeerSpec {
		return PeerSpec{Join: join, Leave: leave, Media: &MediaFile{Duration: media}}
	}
	for _, tc := range []struct {
		name  string
		peers []PeerSpec
		cuts  string
		joins string // after the trim
		ends  string
	}{
		{"no gap", []PeerSpec{peer(0, 10*s, 0), peer(5*s, 10*s, 0)}, "[]", "[0s 5s]", "[10s 15s]"},
		{"a late start", []PeerSpec{peer(30*s, 10*s, 0)}, "[{0s 30s}]", "[0s]", "[10s]"},
		{
			"a silence between two peers, and a third overlapping the second",
			[]PeerSpec{peer(0, 10*s, 0), peer(60*s, 20*s, 0), peer(70*s, 30*s, 0)},
			"[{10s 1m0s}]", "[0s 10s 20s]", "[10s 30s 50s]",
		},
		{
			"leave times move too, and a leave ends a peer's span",
			[]PeerSpec{peer(0, 100*s, 5*s), peer(20*s, 10*s, 25*s)},
			"[{5s 20s}]", "[0s 5s]", "[5s 10s]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Manifest{Peers: tc.peers}
			cuts := m.Trim()
			var joins, ends []time.Duration
			for i := range m.Peers {
				joins = append(joins, m.Peers[i].Join)
				ends = append(ends, m.Peers[i].End())
			}
			if got := fmt.Sprint(cuts); got != tc.cuts && !(len(cuts) == 0 && tc.cuts == "[]") {
				t.Errorf("cuts %s, want %s", got, tc.cuts)
			}
			if got := fmt.Sprint(joins); got != tc.joins {
				t.Errorf("joins %s, want %s", got, tc.joins)
			}
			if got := fmt.Sprint(ends); got != tc.ends {
				t.Errorf("ends %s, want %s", got, tc.ends)
			}
		})
	}
	// Mutes move with their peer.
	m := &Manifest{Peers: []PeerSpec{{Join: 40 * s, Media: &MediaFile{Duration: 20 * s}, MuteAudio: []Interval{{45 * s, 50 * s}}}}}
	m.Trim()
	if got := m.Peers[0].MuteAudio[0]; got != (Interval{5 * s, 10 * s}) {
		t.Errorf("mute after the trim %v, want 5s..10s", got)
	}
}
