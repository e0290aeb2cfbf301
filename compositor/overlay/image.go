package overlay

// Image is a rendered overlay in YUV 4:2:0: Y is W x H, U and V are
// W/2 x H/2, each plane tightly packed. W and H are even.
type Image struct {
	W, H    int
	Y, U, V []byte
}

func newImage(w, h int) *Image {
	w, h = evenUp(w), evenUp(h)
	return &Image{W: w, H: h, Y: make([]byte, w*h), U: make([]byte, w*h/4), V: make([]byte, w*h/4)}
}

// Blit copies img onto the planes of a yuv420p picture (as
// avframe.VideoPlanes gives them) with its top-left corner at (x, y), both
// rounded down to even, clipped to the picture's w x h. It copies rows and
// allocates nothing.
func Blit(planes [3][]byte, linesizes [3]int, w, h int, img *Image, x, y int) {
	if img == nil {
		return
	}
	x, y = x&^1, y&^1
	x0, y0 := max(x, 0), max(y, 0)
	x1, y1 := min(x+img.W, w&^1), min(y+img.H, h&^1)
	if x0 >= x1 || y0 >= y1 {
		return
	}
	cols := x1 - x0
	for row := y0; row < y1; row++ {
		src := (row-y)*img.W + (x0 - x)
		dst := row*linesizes[0] + x0
		copy(planes[0][dst:dst+cols], img.Y[src:src+cols])
	}
	ccols, cw := cols/2, img.W/2
	for row := y0 / 2; row < y1/2; row++ {
		src := (row-y/2)*cw + (x0-x)/2
		for p, pl := range [2][]byte{img.U, img.V} {
			dst := row*linesizes[p+1] + x0/2
			copy(planes[p+1][dst:dst+ccols], pl[src:src+ccols])
		}
	}
}

func evenUp(x int) int { return (x + 1) &^ 1 }
