package compositor

import (
	"fmt"
	"image"
	"strings"
	"testing"
)

func cameras(n int) []TileInfo {
	tiles := make([]TileInfo, n)
	for i := range tiles {
		tiles[i] = TileInfo{PeerID: fmt.Sprintf("p%d", i), JoinOrder: i + 1}
	}
	return tiles
}

// checkRects asserts the invariants every layout keeps.
func checkRects(t *testing.T, rects []image.Rectangle, n, w, h int) {
	t.Helper()
	if len(rects) != n {
		t.Fatalf("%d rects for %d tiles", len(rects), n)
	}
	canvas := image.Rect(0, 0, w, h)
	for i, r := range rects {
		if r.Empty() {
			continue
		}
		if r.Min.X%2 != 0 || r.Min.Y%2 != 0 || r.Max.X%2 != 0 || r.Max.Y%2 != 0 {
			t.Errorf("tile %d %v has odd coordinates", i, r)
		}
		if !r.In(canvas) {
			t.Errorf("tile %d %v is outside the %dx%d canvas", i, r, w, h)
		}
		for j := i + 1; j < len(rects); j++ {
			if r.Overlaps(rects[j]) {
				t.Errorf("tiles %d %v and %d %v overlap", i, r, j, rects[j])
			}
		}
	}
}

func TestGridInvariants(t *testing.T) {
	for _, c := range []struct{ w, h int }{{1280, 720}, {720, 1280}, {1920, 1080}, {640, 480}, {480, 640}} {
		for n := 1; n <= 10; n++ {
			t.Run(fmt.Sprintf("%dx%d/%d", c.w, c.h, n), func(t *testing.T) {
				rects := Layout{}.Arrange(cameras(n), c.w, c.h)
				checkRects(t, rects, n, c.w, c.h)
				var area int
				for i, r := range rects {
					if r.Empty() {
						t.Fatalf("tile %d hidden in a grid", i)
					}
					if r.Size() != rects[0].Size() {
						t.Errorf("tile %d is %v, tile 0 is %v: cells must be equal", i, r.Size(), rects[0].Size())
					}
					if a := float64(r.Dx()) / float64(r.Dy()); a < 0.5 || a > 2.5 {
						t.Errorf("tile %d %v has aspect %.2f", i, r, a)
					}
					area += r.Dx() * r.Dy()
				}
				// Cells use the canvas well: at least 40% of it.
				if area*10 < c.w*c.h*4 {
					t.Errorf("tiles cover %d of %d pixels", area, c.w*c.h)
				}
			})
		}
	}
}

func TestGridShape(t *testing.T) {
	for _, tc := range []struct {
		n, w, h    int
		cols, rows int
	}{
		{1, 1280, 720, 1, 1},
		{2, 1280, 720, 2, 1},
		{3, 1280, 720, 2, 2},
		{5, 1280, 720, 3, 2},
		{10, 1280, 720, 4, 3},
		{2, 720, 1280, 1, 2},
		{5, 720, 1280, 2, 3},
		{7, 720, 1280, 3, 3},
	} {
		rects := Layout{}.Arrange(cameras(tc.n), tc.w, tc.h)
		xs, ys := map[int]bool{}, map[int]bool{}
		for _, r := range rects {
			xs[r.Min.X], ys[r.Min.Y] = true, true
		}
		// A centred last row may add column positions; rows are exact.
		if len(ys) != tc.rows {
			t.Errorf("%d tiles on %dx%d: %d rows, want %d", tc.n, tc.w, tc.h, len(ys), tc.rows)
		}
		if tc.n == tc.cols*tc.rows && len(xs) != tc.cols {
			t.Errorf("%d tiles on %dx%d: %d columns, want %d", tc.n, tc.w, tc.h, len(xs), tc.cols)
		}
	}
}

func TestGridLastRowCentred(t *testing.T) {
	rects := Layout{}.Arrange(cameras(3), 1280, 720)
	// Two on top, one below in the middle.
	top, last := rects[0], rects[2]
	if rects[1].Min.Y != top.Min.Y || last.Min.Y <= top.Min.Y {
		t.Fatalf("rows: %v", rects)
	}
	centre := (last.Min.X + last.Max.X) / 2
	if d := centre - 640; d < -2 || d > 2 {
		t.Errorf("last tile %v is centred at x=%d, want 640", last, centre)
	}
	if rects[0].Min.X >= rects[1].Min.X {
		t.Errorf("join order not left to right: %v", rects)
	}
}

func TestGridScreenAfterOwner(t *testing.T) {
	tiles := []TileInfo{
		{PeerID: "b", JoinOrder: 2},
		{PeerID: "a", TrackID: "a-screen", Screen: true, JoinOrder: 1, TrackOrder: 9},
		{PeerID: "a", JoinOrder: 1},
		{PeerID: "c", JoinOrder: 3},
	}
	rects := Layout{Kind: LayoutGrid}.Arrange(tiles, 1280, 720)
	checkRects(t, rects, 4, 1280, 720)
	// 2x2 grid in reading order: a, a's screen, b, c.
	pos := func(r image.Rectangle) image.Point { return r.Min }
	if !(pos(rects[2]).X < pos(rects[1]).X && pos(rects[2]).Y == pos(rects[1]).Y) {
		t.Errorf("a's camera %v should be left of its screen %v", rects[2], rects[1])
	}
	if !(pos(rects[0]).Y > pos(rects[1]).Y && pos(rects[0]).X < pos(rects[3]).X) {
		t.Errorf("b %v should start the second row before c %v", rects[0], rects[3])
	}
}

func TestArrangeEmptyAndPure(t *testing.T) {
	if r := (Layout{}).Arrange(nil, 1280, 720); len(r) != 0 {
		t.Fatalf("zero tiles gave %v", r)
	}
	tiles := cameras(4)
	tiles[2].Level = 50
	before := fmt.Sprint(tiles)
	a := Layout{Kind: LayoutSpeaker}.Arrange(tiles, 1280, 720)
	b := Layout{Kind: LayoutSpeaker}.Arrange(tiles, 1280, 720)
	if fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(tiles) != before {
		t.Fatalf("Arrange is not pure")
	}
}

func largest(rects []image.Rectangle) int {
	best := 0
	for i, r := range rects {
		if r.Dx()*r.Dy() > rects[best].Dx()*rects[best].Dy() {
			best = i
		}
	}
	return best
}

func TestSpeakerLayout(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func([]TileInfo)
		want int
	}{
		{"nobody spoke: first joined", func([]TileInfo) {}, 0},
		{"loudest", func(ts []TileInfo) { ts[1].Level = 20; ts[3].Level = 80 }, 3},
		{"silence keeps the last speaker", func(ts []TileInfo) { ts[2].LastSpoke = 7; ts[1].LastSpoke = 3 }, 2},
		{"speaking beats having spoken", func(ts []TileInfo) { ts[2].LastSpoke = 7; ts[1].Level = 5 }, 1},
	} {
		for _, size := range [][2]int{{1280, 720}, {720, 1280}} {
			t.Run(fmt.Sprintf("%s/%dx%d", tc.name, size[0], size[1]), func(t *testing.T) {
				tiles := cameras(5)
				tc.edit(tiles)
				rects := Layout{Kind: LayoutSpeaker}.Arrange(tiles, size[0], size[1])
				checkRects(t, rects, len(tiles), size[0], size[1])
				if got := largest(rects); got != tc.want {
					t.Fatalf("main tile %d, want %d: %v", got, tc.want, rects)
				}
				for i, r := range rects {
					if r.Empty() {
						t.Errorf("tile %d hidden with only 5 tiles", i)
					}
				}
			})
		}
	}
}

func TestFilmstripOverflowHides(t *testing.T) {
	rects := Layout{Kind: LayoutSpeaker}.Arrange(cameras(60), 640, 480)
	checkRects(t, rects, 60, 640, 480)
	shown := 0
	for _, r := range rects {
		if !r.Empty() {
			shown++
			if r != rects[0] && r.Dx() < minStripTile {
				t.Errorf("filmstrip tile %v narrower than %d", r, minStripTile)
			}
		}
	}
	if shown < 10 || shown == 60 {
		t.Fatalf("%d of 60 tiles shown", shown)
	}
}

func TestScreenLayout(t *testing.T) {
	tiles := cameras(3)
	if fmt.Sprint(Layout{Kind: LayoutScreen}.Arrange(tiles, 1280, 720)) != fmt.Sprint(Layout{}.Arrange(tiles, 1280, 720)) {
		t.Errorf("screen layout without a share differs from the grid")
	}
	tiles = append(tiles,
		TileInfo{PeerID: "p1", TrackID: "s1", Screen: true, JoinOrder: 2, TrackOrder: 10},
		TileInfo{PeerID: "p0", TrackID: "s0", Screen: true, JoinOrder: 1, TrackOrder: 12},
	)
	rects := Layout{Kind: LayoutScreen}.Arrange(tiles, 1280, 720)
	checkRects(t, rects, len(tiles), 1280, 720)
	if got := largest(rects); got != 4 {
		t.Fatalf("main tile %d, want the latest share (4): %v", got, rects)
	}
	if m := rects[4]; m.Dx()*m.Dy() < 1280*720/2 {
		t.Errorf("share gets only %v", m)
	}
}

func TestGapOption(t *testing.T) {
	r := Layout{Gap: -1}.Arrange(cameras(4), 1280, 720)
	if r[0] != image.Rect(0, 0, 640, 360) || r[3] != image.Rect(640, 360, 1280, 720) {
		t.Errorf("no gap: %v", r)
	}
	r = Layout{Gap: 21}.Arrange(cameras(1), 1280, 720)
	if r[0] != image.Rect(20, 20, 1260, 700) {
		t.Errorf("gap 21: %v", r)
	}
}

func TestParseLayout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want LayoutKind
		err  bool
	}{
		{"", LayoutGrid, false},
		{"grid", LayoutGrid, false},
		{" Speaker ", LayoutSpeaker, false},
		{"screen", LayoutScreen, false},
		{"mosaic", "", true},
	} {
		l, err := ParseLayout(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "grid, speaker, screen") || !strings.Contains(err.Error(), "mosaic") {
				t.Errorf("ParseLayout(%q) error %v, want one naming the value and listing grid, speaker, screen", tc.in, err)
			}
			continue
		}
		if err != nil || l.Kind != tc.want {
			t.Errorf("ParseLayout(%q) = %v, %v; want %v", tc.in, l, err, tc.want)
		}
	}
}
