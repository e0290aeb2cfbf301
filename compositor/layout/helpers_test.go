package layout

import (
	"fmt"
	"image"
	"testing"
)

// peers makes n camera sources joined in order; the first is the active
// speaker and later peers spoke less recently.
func peers(n int) []Source {
	s := make([]Source, n)
	for i := range s {
		s[i] = Source{Key: fmt.Sprintf("p:%02d", i+1), PeerID: fmt.Sprintf("P%02d", i+1), Name: fmt.Sprintf("peer%02d", i+1),
			JoinOrder: i + 1, HasVideo: true, LastSpoke: n - i}
	}
	if n > 0 {
		s[0].ActiveSpeaker = true
	}
	return s
}

func screenOf(peer Source) Source {
	return Source{Key: "t:screen-" + peer.PeerID, PeerID: peer.PeerID, TrackID: "TR_screen_" + peer.PeerID, Name: peer.Name,
		Screen: true, JoinOrder: peer.JoinOrder, HasVideo: true}
}

func mustParse(t testing.TB, doc string) *Document {
	t.Helper()
	d, err := Parse([]byte(doc), FormatAuto)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return d
}

func mustPreset(t testing.TB, name string) *Document {
	t.Helper()
	d, err := Preset(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// checkPlacements asserts what holds for every layout: shown tiles lie
// inside the canvas with even coordinates, and tiles at the same z do not
// overlap.
func checkPlacements(t *testing.T, ps []Placement, w, h int) {
	t.Helper()
	checkTiles(t, ps, w, h, true)
}

// checkTiles asserts the engine's promises for any document: shown tiles lie
// inside the canvas with even coordinates, and no two tiles of one region
// overlap (nor, with sameZ, any two at the same z).
func checkTiles(t *testing.T, ps []Placement, w, h int, sameZ bool) {
	t.Helper()
	canvas := image.Rect(0, 0, w, h)
	for i, p := range ps {
		if !p.Shown {
			if p.Rect != (image.Rectangle{}) {
				t.Errorf("tile %d hidden but has rect %v", i, p.Rect)
			}
			continue
		}
		r := p.Rect
		if r.Empty() || !r.In(canvas) {
			t.Errorf("tile %d: %v is empty or outside the %dx%d canvas", i, r, w, h)
		}
		if r.Min.X%2 != 0 || r.Min.Y%2 != 0 || r.Max.X%2 != 0 || r.Max.Y%2 != 0 {
			t.Errorf("tile %d: %v has odd coordinates", i, r)
		}
		for j := 0; j < i; j++ {
			q := ps[j]
			if q.Shown && (q.Region == p.Region || (sameZ && q.Z == p.Z)) && q.Rect.Overlaps(r) {
				t.Errorf("tiles %d %v and %d %v overlap at z %d", j, q.Rect, i, r, p.Z)
			}
		}
	}
}

func shownCount(ps []Placement) int {
	n := 0
	for _, p := range ps {
		if p.Shown {
			n++
		}
	}
	return n
}

func cellOf(ps []Placement, srcs []Source, key string) (string, int) {
	for i, s := range srcs {
		if s.Key == key {
			if !ps[i].Shown {
				return "", -1
			}
			return ps[i].Region, ps[i].Cell
		}
	}
	return "", -2
}

func without(srcs []Source, key string) []Source {
	out := make([]Source, 0, len(srcs))
	for _, s := range srcs {
		if s.Key != key {
			out = append(out, s)
		}
	}
	return out
}
