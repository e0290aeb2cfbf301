package analyze

import (
	"fmt"
	"math"
	"sort"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
)

// Rect is a region of a frame in pixels.
type Rect struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

func (r Rect) String() string { return fmt.Sprintf("%dx%d+%d+%d", r.W, r.H, r.X, r.Y) }

// FlashRegion is a part of the picture that flashes, with the time of each
// flash (the first frame showing it).
type FlashRegion struct {
	Rect   Rect
	Times  []float64
	frames []int
}

const (
	// gridCells is the number of cells along the frame's longer side that
	// flash detection looks at: 20x20-pixel cells in a 1280x720 frame.
	gridCells = 64
	// DefaultFlashStep is the rise in mean luma (0..255) from one frame to
	// the next that counts as a flash.
	DefaultFlashStep = 40.0
	minFlashes       = 3
)

// flashDetector scales every frame down to a small luma grid with swscale's
// area filter, so Go only touches a few thousand cells per frame, and finds
// where and when the cells step up.
type flashDetector struct {
	step       float64
	cols, rows int // grid of fixed regions, or 0 to find regions
	srcW, srcH int
	srcFmt     astiav.PixelFormat
	gw, gh     int // cell grid size
	sws        *astiav.SoftwareScaleContext
	dst        *astiav.Frame

	frames int
	times  []float64
	prev   []float64
	vals   []float64 // this frame's values, reused
	last   []int     // last onset frame per cell or region, for a refractory period
	onsets [][]int   // onset frames per cell (auto) or per region (grid)
}

func newFlashDetector(step float64, cols, rows int) *flashDetector {
	if step <= 0 {
		step = DefaultFlashStep
	}
	return &flashDetector{step: step, cols: cols, rows: rows}
}

func (d *flashDetector) close() {
	if d.sws != nil {
		d.sws.Free()
	}
	if d.dst != nil {
		d.dst.Free()
	}
}

func (d *flashDetector) setup(f *astiav.Frame) error {
	if d.sws != nil {
		if f.Width() == d.srcW && f.Height() == d.srcH && f.PixelFormat() == d.srcFmt {
			return nil
		}
		if d.frames > 0 {
			// Cells would no longer line up with the earlier frames.
			return fmt.Errorf("frame size changed from %dx%d to %dx%d", d.srcW, d.srcH, f.Width(), f.Height())
		}
		d.close()
	}
	d.srcW, d.srcH, d.srcFmt = f.Width(), f.Height(), f.PixelFormat()
	if d.srcW >= d.srcH {
		d.gw = min(gridCells, d.srcW)
		d.gh = max(1, min(d.srcH, int(math.Round(float64(gridCells)*float64(d.srcH)/float64(d.srcW)))))
	} else {
		d.gh = min(gridCells, d.srcH)
		d.gw = max(1, min(d.srcW, int(math.Round(float64(gridCells)*float64(d.srcW)/float64(d.srcH)))))
	}
	var err error
	d.sws, err = astiav.CreateSoftwareScaleContext(d.srcW, d.srcH, d.srcFmt, d.gw, d.gh, astiav.PixelFormatGray8,
		astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagArea))
	if err != nil {
		return fmt.Errorf("creating scaler %dx%d %s to %dx%d: %w", d.srcW, d.srcH, d.srcFmt, d.gw, d.gh, err)
	}
	d.dst = astiav.AllocFrame()
	d.dst.SetWidth(d.gw)
	d.dst.SetHeight(d.gh)
	d.dst.SetPixelFormat(astiav.PixelFormatGray8)
	if err := d.dst.AllocBuffer(0); err != nil {
		return fmt.Errorf("allocating grid frame: %w", err)
	}
	n := d.gw * d.gh
	if d.cols > 0 {
		n = d.cols * d.rows
	}
	d.prev = make([]float64, n)
	d.vals = make([]float64, max(n, d.gw*d.gh))
	d.last = make([]int, n)
	for i := range d.last {
		d.last[i] = -1 << 30
	}
	d.onsets = make([][]int, n)
	return nil
}

func (d *flashDetector) add(f *astiav.Frame, t float64) error {
	if err := d.setup(f); err != nil {
		return err
	}
	if err := d.sws.ScaleFrame(f, d.dst); err != nil {
		return fmt.Errorf("scaling frame at %.3fs: %w", t, err)
	}
	ls := avframe.Linesize(d.dst, 0)
	grid := avframe.Plane(d.dst, 0, ls*d.gh)
	k := d.frames
	d.frames++
	d.times = append(d.times, t)
	vals := d.values(grid, ls)
	for i, v := range vals {
		// A flash lasts a couple of frames; a second rise right after one
		// is its tail, not a new flash.
		if k > 0 && v-d.prev[i] >= d.step && k-d.last[i] > 3 {
			d.onsets[i] = append(d.onsets[i], k)
			d.last[i] = k
		}
		d.prev[i] = v
	}
	return nil
}

// values returns the cells' luma, or the fixed regions' mean luma.
func (d *flashDetector) values(grid []byte, ls int) []float64 {
	if d.cols == 0 {
		out := d.vals[:d.gw*d.gh]
		for y := 0; y < d.gh; y++ {
			for x := 0; x < d.gw; x++ {
				out[y*d.gw+x] = float64(grid[y*ls+x])
			}
		}
		return out
	}
	out := d.vals[:d.cols*d.rows]
	for r := 0; r < d.rows; r++ {
		for c := 0; c < d.cols; c++ {
			x0, x1 := c*d.gw/d.cols, (c+1)*d.gw/d.cols
			y0, y1 := r*d.gh/d.rows, (r+1)*d.gh/d.rows
			var sum float64
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					sum += float64(grid[y*ls+x])
				}
			}
			if n := (x1 - x0) * (y1 - y0); n > 0 {
				out[r*d.cols+c] = sum / float64(n)
			}
		}
	}
	return out
}

// cellRect maps cells [x0,x1)x[y0,y1) of the grid to frame pixels.
func (d *flashDetector) cellRect(x0, y0, x1, y1 int) Rect {
	px0, py0 := x0*d.srcW/d.gw, y0*d.srcH/d.gh
	px1, py1 := x1*d.srcW/d.gw, y1*d.srcH/d.gh
	return Rect{X: px0, Y: py0, W: px1 - px0, H: py1 - py0}
}

// regions returns the flashing regions, ordered top to bottom, left to right.
func (d *flashDetector) regions() []FlashRegion {
	if d.frames == 0 {
		return nil
	}
	var out []FlashRegion
	if d.cols > 0 {
		for r := 0; r < d.rows; r++ {
			for c := 0; c < d.cols; c++ {
				on := d.onsets[r*d.cols+c]
				if len(on) < minFlashes {
					continue
				}
				out = append(out, d.region(d.cellRect(c*d.gw/d.cols, r*d.gh/d.rows, (c+1)*d.gw/d.cols, (r+1)*d.gh/d.rows), on))
			}
		}
		return out
	}
	return d.autoRegions()
}

func (d *flashDetector) region(r Rect, frames []int) FlashRegion {
	fr := FlashRegion{Rect: r, frames: frames}
	for _, k := range frames {
		fr.Times = append(fr.Times, d.times[k])
	}
	return fr
}

// autoRegions groups neighbouring cells that flash together into regions.
// Cells of one tile share their flash frames; cells of two tiles flashing on
// different schedules do not, which draws the border between them.
func (d *flashDetector) autoRegions() []FlashRegion {
	n := d.gw * d.gh
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	active := func(i int) bool { return len(d.onsets[i]) >= minFlashes }
	for y := 0; y < d.gh; y++ {
		for x := 0; x < d.gw; x++ {
			i := y*d.gw + x
			if !active(i) {
				continue
			}
			for _, j := range []int{i + 1, i + d.gw} {
				if (j == i+1 && x+1 >= d.gw) || j >= n || !active(j) {
					continue
				}
				if agreement(d.onsets[i], d.onsets[j]) >= 0.6 {
					parent[find(i)] = find(j)
				}
			}
		}
	}
	type group struct {
		cells          []int
		x0, y0, x1, y1 int
	}
	groups := map[int]*group{}
	for i := 0; i < n; i++ {
		if !active(i) {
			continue
		}
		root := find(i)
		g := groups[root]
		x, y := i%d.gw, i/d.gw
		if g == nil {
			g = &group{x0: x, y0: y, x1: x + 1, y1: y + 1}
			groups[root] = g
		}
		g.cells = append(g.cells, i)
		g.x0, g.y0 = min(g.x0, x), min(g.y0, y)
		g.x1, g.y1 = max(g.x1, x+1), max(g.y1, y+1)
	}
	var out []FlashRegion
	for _, g := range groups {
		// A few stray cells (a border, an edge half in two tiles) are not
		// a peer's tile.
		if len(g.cells) < 4 {
			continue
		}
		frames := consensus(d.onsets, g.cells)
		if len(frames) < minFlashes {
			continue
		}
		out = append(out, d.region(d.cellRect(g.x0, g.y0, g.x1, g.y1), frames))
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Rect, out[j].Rect
		if a.Y >= b.Y+b.H || b.Y >= a.Y+a.H { // different rows
			return a.Y < b.Y
		}
		return a.X < b.X
	})
	return out
}

// agreement is the share of onsets two sorted onset lists have in common,
// within one frame, relative to the longer list.
func agreement(a, b []int) float64 {
	i, j, common := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i]-b[j] > 1:
			j++
		case b[j]-a[i] > 1:
			i++
		default:
			common++
			i++
			j++
		}
	}
	return float64(common) / float64(max(len(a), len(b)))
}

// consensus returns the frames at which at least half of the cells flash,
// counting a cell that rises one frame late (a partially covered cell, an
// encoder lagging) with the earliest frame of the flash.
func consensus(onsets [][]int, cells []int) []int {
	count := map[int]int{}
	for _, c := range cells {
		for _, k := range onsets[c] {
			count[k]++
		}
	}
	keys := make([]int, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var out []int
	for i := 0; i < len(keys); {
		j, sum := i, 0
		for j < len(keys) && keys[j]-keys[i] <= 1 {
			sum += count[keys[j]]
			j++
		}
		if 2*sum >= len(cells) {
			first := keys[i]
			for k := i; k < j; k++ {
				if 4*count[keys[k]] >= len(cells) {
					first = keys[k]
					break
				}
			}
			out = append(out, first)
		}
		i = j
	}
	return out
}
