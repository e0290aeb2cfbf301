package layout

import (
	"image"
	"math"
)

func evenDown(x int) int { return x &^ 1 }

// regionRect places a region on a w x h canvas and insets it for the gap:
// by the whole gap along the canvas' edge and by half of it inside, so that
// tiles of neighbouring regions are one gap apart, as tiles within a region
// are.
func regionRect(r *Region, w, h, gap int) image.Rectangle {
	x0 := evenDown(min(max(r.X.Of(w), 0), w))
	y0 := evenDown(min(max(r.Y.Of(h), 0), h))
	x1, y1 := w, h
	if r.Width.Set() {
		x1 = min(w, evenDown(x0+r.Width.Of(w)))
	}
	if r.Height.Set() {
		y1 = min(h, evenDown(y0+r.Height.Of(h)))
	}
	if gap > 0 {
		half := evenDown(gap / 2)
		inset := func(atEdge bool) int {
			if atEdge {
				return gap
			}
			return half
		}
		x0 += inset(x0 <= 0)
		y0 += inset(y0 <= 0)
		x1 -= inset(x1 >= w)
		y1 -= inset(y1 >= h)
	}
	if x1 < x0 {
		x1 = x0
	}
	if y1 < y0 {
		y1 = y0
	}
	return image.Rect(x0, y0, x1, y1)
}

// squareGrid is Twilio's rule: as near square as possible, with at most one
// more column than rows, then held to the region's limits.
func squareGrid(n, maxCols, maxRows int) (cols, rows int) {
	cols = int(math.Ceil(math.Sqrt(float64(n))))
	rows = (n + cols - 1) / cols
	if maxCols > 0 && cols > maxCols {
		cols = maxCols
		rows = (n + cols - 1) / cols
	}
	if maxRows > 0 && rows > maxRows {
		rows = maxRows
		cols = (n + rows - 1) / rows
		if maxCols > 0 && cols > maxCols {
			cols = maxCols
		}
	}
	return cols, rows
}

// fitGrid picks the rows and columns that give n tiles of the given aspect
// the most area in a w x h region: a portrait region gets stacked tiles, a
// landscape one tiles side by side.
func fitGrid(n, w, h, gap int, aspect float64, maxCols, maxRows int) (cols, rows int) {
	bestArea, bestEmpty := -1, 0
	limit := n
	if maxCols > 0 {
		limit = min(limit, maxCols)
	}
	for c := 1; c <= limit; c++ {
		r := (n + c - 1) / c
		if maxRows > 0 && r > maxRows {
			continue
		}
		tw, th := tileSize(w, h, c, r, gap, aspect)
		area, empty := tw*th, c*r-n
		better := area > bestArea ||
			(area == bestArea && empty < bestEmpty) ||
			(area == bestArea && empty == bestEmpty && (w >= h) == (c > cols))
		if better {
			cols, rows, bestArea, bestEmpty = c, r, area, empty
		}
	}
	if bestArea < 0 {
		return squareGrid(n, maxCols, maxRows)
	}
	return cols, rows
}

// tileSize is the size of one cell of a cols x rows grid in a w x h region,
// held to aspect when it is set.
func tileSize(w, h, cols, rows, gap int, aspect float64) (int, int) {
	cw := (w - (cols-1)*gap) / cols
	ch := (h - (rows-1)*gap) / rows
	if aspect > 0 && cw > 0 && ch > 0 {
		if float64(cw) > float64(ch)*aspect {
			cw = int(float64(ch) * aspect)
		} else {
			ch = int(float64(cw) / aspect)
		}
	}
	return max(0, evenDown(cw)), max(0, evenDown(ch))
}

// gridGeom lays cells out in a region, numbered from 0 at the top left, row
// by row (Twilio's numbering).
type gridGeom struct {
	r          image.Rectangle
	cols, rows int
	cw, ch     int
	gap        int
	x0, y0     int
	lastRow    int // cells in use in the last row, for centring it; 0: no centring
}

func newGridGeom(r image.Rectangle, cols, rows, gap int, aspect float64, centerLast bool, used int) gridGeom {
	g := gridGeom{r: r, cols: cols, rows: rows, gap: gap}
	g.cw, g.ch = tileSize(r.Dx(), r.Dy(), cols, rows, gap, aspect)
	if g.cw < 2 || g.ch < 2 {
		// No room for the gap: tiles edge to edge.
		g.gap = 0
		g.cw, g.ch = tileSize(r.Dx(), r.Dy(), cols, rows, 0, aspect)
	}
	gw := cols*g.cw + (cols-1)*g.gap
	gh := rows*g.ch + (rows-1)*g.gap
	g.x0 = r.Min.X + evenDown((r.Dx()-gw)/2)
	g.y0 = r.Min.Y + evenDown((r.Dy()-gh)/2)
	if centerLast {
		if n := used - (rows-1)*cols; n > 0 && n < cols {
			g.lastRow = n
		}
	}
	return g
}

func (g *gridGeom) cell(i int) image.Rectangle {
	row, col := i/g.cols, i%g.cols
	x := g.x0 + col*(g.cw+g.gap)
	if g.lastRow > 0 && row == g.rows-1 {
		x += evenDown((g.cols - g.lastRow) * (g.cw + g.gap) / 2)
	}
	y := g.y0 + row*(g.ch+g.gap)
	return image.Rect(x, y, x+g.cw, y+g.ch)
}
