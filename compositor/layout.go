package compositor

import (
	"fmt"
	"image"
	"math"
	"sort"
	"strings"
)

// LayoutKind names a layout.
type LayoutKind string

// Layouts. The zero LayoutKind is LayoutGrid.
const (
	LayoutGrid    LayoutKind = "grid"    // equal cells for everyone
	LayoutSpeaker LayoutKind = "speaker" // active speaker large, the others in a filmstrip
	LayoutScreen  LayoutKind = "screen"  // latest screen share large, cameras in a filmstrip; grid without a share
)

var layoutKinds = []LayoutKind{LayoutGrid, LayoutSpeaker, LayoutScreen}

func (k LayoutKind) String() string {
	if k == "" {
		return string(LayoutGrid)
	}
	return string(k)
}

// Layout describes how tiles share the canvas. The zero Layout is a grid with
// the default gap.
type Layout struct {
	Kind LayoutKind
	// Gap is the space in pixels between tiles and around the edge, rounded
	// down to even. 0 picks about 1% of the canvas' shorter side; a negative
	// Gap means none.
	Gap int
}

// ParseLayout parses a layout name as given in a job config. The empty string
// is the default grid.
func ParseLayout(s string) (Layout, error) {
	k := LayoutKind(strings.ToLower(strings.TrimSpace(s)))
	if k == "" {
		return Layout{Kind: LayoutGrid}, nil
	}
	l := Layout{Kind: k}
	if err := l.validate(); err != nil {
		return Layout{}, err
	}
	return l, nil
}

func (l Layout) validate() error {
	if l.Kind == "" {
		return nil
	}
	for _, k := range layoutKinds {
		if l.Kind == k {
			return nil
		}
	}
	names := make([]string, len(layoutKinds))
	for i, k := range layoutKinds {
		names[i] = string(k)
	}
	return fmt.Errorf("layout %q is unknown: use one of %s", string(l.Kind), strings.Join(names, ", "))
}

// TileInfo is what a layout knows about a tile.
type TileInfo struct {
	PeerID string
	// TrackID is set for a tile of its own track (a screen share or plugin
	// video) and empty for the peer's camera tile.
	TrackID string
	Screen  bool
	// JoinOrder orders peers by when they joined: lower joined earlier.
	JoinOrder int
	// TrackOrder orders track tiles by when their track was added.
	TrackOrder int
	// Level is the peer's level in the latest active-speaker update, 1..100,
	// or 0 when it is not speaking now.
	Level int
	// LastSpoke is the number of the latest active-speaker update in which
	// the peer was the loudest; 0 if never. It keeps the speaker layout on
	// the last speaker through silences.
	LastSpoke int
}

// minStripTile is the narrowest filmstrip tile worth showing.
const minStripTile = 32

// Arrange returns one rectangle per tile, in the order of tiles, on a w x h
// canvas. All coordinates are even; rectangles do not overlap and lie inside
// the canvas. An empty rectangle means the tile is not shown (a filmstrip
// with no room left). Arrange has no side effects.
func (l Layout) Arrange(tiles []TileInfo, w, h int) []image.Rectangle {
	rects := make([]image.Rectangle, len(tiles))
	if len(tiles) == 0 || w < 2 || h < 2 {
		return rects
	}
	w, h = evenDown(w), evenDown(h)
	gap := l.gap(w, h)
	order := canonicalOrder(tiles)
	switch l.Kind {
	case LayoutSpeaker:
		main := -1
		for _, i := range order {
			t := tiles[i]
			if t.TrackID != "" {
				continue
			}
			if main < 0 || t.Level > tiles[main].Level || (t.Level == tiles[main].Level && t.LastSpoke > tiles[main].LastSpoke) {
				main = i
			}
		}
		if main < 0 {
			main = order[0]
		}
		featured(rects, order, main, w, h, gap)
	case LayoutScreen:
		main := -1
		for _, i := range order {
			if tiles[i].Screen && (main < 0 || tiles[i].TrackOrder > tiles[main].TrackOrder) {
				main = i
			}
		}
		if main < 0 {
			grid(rects, order, w, h, gap)
			break
		}
		featured(rects, order, main, w, h, gap)
	default:
		grid(rects, order, w, h, gap)
	}
	return rects
}

func (l Layout) gap(w, h int) int {
	switch {
	case l.Gap < 0:
		return 0
	case l.Gap > 0:
		return evenDown(l.Gap)
	}
	return max(2, evenDown(min(w, h)/100))
}

// canonicalOrder sorts tiles by join order with each peer's own track tiles
// right after its camera tile.
func canonicalOrder(tiles []TileInfo) []int {
	order := make([]int, len(tiles))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := tiles[order[a]], tiles[order[b]]
		if x.JoinOrder != y.JoinOrder {
			return x.JoinOrder < y.JoinOrder
		}
		if x.PeerID != y.PeerID {
			return x.PeerID < y.PeerID
		}
		if (x.TrackID == "") != (y.TrackID == "") {
			return x.TrackID == ""
		}
		if x.TrackOrder != y.TrackOrder {
			return x.TrackOrder < y.TrackOrder
		}
		return x.TrackID < y.TrackID
	})
	return order
}

// grid lays the tiles in order out as rows of equal cells, the last row
// centred. Landscape canvases get more columns than rows, portrait ones more
// rows than columns.
func grid(rects []image.Rectangle, order []int, w, h, gap int) {
	n := len(order)
	for n > 0 {
		cols := int(math.Ceil(math.Sqrt(float64(n))))
		rows := (n + cols - 1) / cols
		if h > w {
			cols, rows = rows, cols
		}
		g := gap
		cw, ch := cellSize(w, h, cols, rows, g)
		if cw < 2 || ch < 2 {
			g = 0
			cw, ch = cellSize(w, h, cols, rows, g)
		}
		if cw < 2 || ch < 2 {
			// More tiles than pixels: show those that fit.
			n--
			continue
		}
		gridH := rows*ch + (rows-1)*g
		y0 := evenDown((h - gridH) / 2)
		for k, i := range order[:n] {
			r, c := k/cols, k%cols
			inRow := min(cols, n-r*cols)
			rowW := inRow*cw + (inRow-1)*g
			x0 := evenDown((w - rowW) / 2)
			x, y := x0+c*(cw+g), y0+r*(ch+g)
			rects[i] = image.Rect(x, y, x+cw, y+ch)
		}
		return
	}
}

func cellSize(w, h, cols, rows, gap int) (int, int) {
	return evenDown((w - gap*(cols+1)) / cols), evenDown((h - gap*(rows+1)) / rows)
}

// featured gives tile main most of the canvas and puts the others, in order,
// in a filmstrip along the bottom.
func featured(rects []image.Rectangle, order []int, main, w, h, gap int) {
	if len(order) == 1 {
		grid(rects, order, w, h, gap)
		return
	}
	stripH := max(2, evenDown(h/5))
	mainBottom := h - 2*gap - stripH
	if mainBottom-gap < 2 || w-2*gap < 2 {
		grid(rects, order, w, h, gap)
		return
	}
	rects[main] = image.Rect(gap, gap, w-gap, mainBottom)

	others := make([]int, 0, len(order)-1)
	for _, i := range order {
		if i != main {
			others = append(others, i)
		}
	}
	avail := w - 2*gap
	k := len(others)
	tw := 0
	for ; k > 0; k-- {
		tw = evenDown(min(stripH*16/9, (avail-(k-1)*gap)/k))
		if tw >= minStripTile || (k == 1 && tw >= 2) {
			break
		}
	}
	if k == 0 {
		return
	}
	rowW := k*tw + (k-1)*gap
	x0 := gap + evenDown((avail-rowW)/2)
	y := h - gap - stripH
	for j, i := range others[:k] {
		x := x0 + j*(tw+gap)
		rects[i] = image.Rect(x, y, x+tw, y+stripH)
	}
}

func evenDown(x int) int { return x &^ 1 }
