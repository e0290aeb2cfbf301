package file

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/mediaclock"
)

// seqPattern describes what a reader saw of one track's sequence numbers:
// the step from each packet to the next (1 in order, more after a loss,
// negative after a swap), which does not depend on the random first one.
type seqPattern struct {
	steps     []int16
	missing   int // sequence numbers never seen
	reordered int // packets that arrived after a later one
}

func observe(rec *trackRec) seqPattern {
	var p seqPattern
	seen := map[uint16]bool{}
	highest := rec.pkts[0].seq
	first := highest
	seen[first] = true
	for _, r := range rec.pkts[1:] {
		p.steps = append(p.steps, int16(r.seq-highest))
		if int16(r.seq-highest) < 0 {
			p.reordered++
		} else {
			highest = r.seq
		}
		seen[r.seq] = true
	}
	for s := first; s != highest; s++ {
		if !seen[s] {
			p.missing++
		}
	}
	return p
}

func TestImpairment(t *testing.T) {
	dir := t.TempDir()
	manifest := writeManifest(t, dir, "peers:\n  - {name: a, media: "+clipPath(t, "alice.webm")+", leave: 4s}\n")
	run := func(imp Impairment) (map[string]seqPattern, Stats) {
		res := runRoom(t, manifest, mediaclock.NewVirtual(), Options{Impair: imp}, 4*time.Second, false)
		out := map[string]seqPattern{}
		for id, rec := range res.tracks {
			out[id] = observe(rec)
		}
		return out, res.stats
	}

	tests := []struct {
		name                 string
		imp                  Impairment
		lossLo, lossHi       float64 // fraction of packets
		reorderLo, reorderHi float64
	}{
		{"none", Impairment{}, 0, 0, 0, 0},
		{"loss", Impairment{LossPct: 10, Seed: 1}, 0.06, 0.14, 0, 0},
		{"reorder", Impairment{ReorderPct: 5, Seed: 1}, 0, 0, 0.02, 0.08},
		{"both", Impairment{LossPct: 20, ReorderPct: 10, Seed: 7}, 0.15, 0.25, 0.05, 0.15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stats := run(tt.imp)
			for _, ts := range stats.Tracks {
				p := got[ts.TrackID]
				sent := float64(ts.Packets)
				// What the reader saw must be exactly what the room says
				// it did: a missing number per loss, a late packet per swap.
				if uint64(p.missing) != ts.Lost || uint64(p.reordered) != ts.Reordered {
					t.Errorf("%s: saw %d missing and %d reordered; stats say %d lost, %d reordered", ts.TrackID, p.missing, p.reordered, ts.Lost, ts.Reordered)
				}
				if f := float64(ts.Lost) / sent; f < tt.lossLo || f > tt.lossHi {
					t.Errorf("%s: lost %d of %.0f packets (%.3f), want %.2f..%.2f", ts.TrackID, ts.Lost, sent, f, tt.lossLo, tt.lossHi)
				}
				if f := float64(ts.Reordered) / sent; f < tt.reorderLo || f > tt.reorderHi {
					t.Errorf("%s: reordered %d of %.0f packets (%.3f), want %.2f..%.2f", ts.TrackID, ts.Reordered, sent, f, tt.reorderLo, tt.reorderHi)
				}
				// A swap is a one-packet delay: the late packet is exactly
				// one behind the highest seen (or more, if losses followed).
				for i, s := range p.steps {
					if s < 0 && (i == 0 || p.steps[i-1] < 2) && s != -1 {
						t.Errorf("%s: step %d is %d", ts.TrackID, i, s)
					}
				}
			}
			if tt.imp == (Impairment{}) {
				return
			}
			// Deterministic: the same seed gives the same pattern; another
			// seed does not.
			again, _ := run(tt.imp)
			other := tt.imp
			other.Seed++
			different, _ := run(other)
			for id, p := range got {
				if !slices.Equal(p.steps, again[id].steps) {
					t.Errorf("%s: the same seed gave a different pattern", id)
				}
				if slices.Equal(p.steps, different[id].steps) {
					t.Errorf("%s: seeds %d and %d gave the same pattern", id, tt.imp.Seed, other.Seed)
				}
			}
		})
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	manifest := "../../testdata/rooms/demo.yaml"
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no clock", Options{}, "Options.Clock is required"},
		{"loss over 100", Options{Clock: mediaclock.NewReal(), Impair: Impairment{LossPct: 101}}, "Impairment.LossPct is 101"},
		{"negative reorder", Options{Clock: mediaclock.NewReal(), Impair: Impairment{ReorderPct: -1}}, "Impairment.ReorderPct is -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(manifest, tt.opts)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
		})
	}
}
