package compositor

import (
	"fmt"
	"hash/fnv"
	"image"
	"math"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/internal/avframe"
)

// Background colour: dark grey, limited-range YUV.
const (
	bgY = 40
	bgU = 128
	bgV = 128
)

const minQueue = 8

// queuedFrame is a reference to a pushed frame waiting for its time.
type queuedFrame struct {
	f   *astiav.Frame
	t   time.Duration
	seq uint64
}

// videoSource is one video track's frames. queue holds frames in push order,
// not yet due; cur is the frame on show.
type videoSource struct {
	muted  bool
	queue  []queuedFrame
	cur    *astiav.Frame
	curSeq uint64 // 0: nothing shown yet
}

// framePool recycles AVFrame shells so pushing a frame allocates nothing.
type framePool struct {
	free []*astiav.Frame
}

func (p *framePool) get() *astiav.Frame {
	if n := len(p.free); n > 0 {
		f := p.free[n-1]
		p.free = p.free[:n-1]
		return f
	}
	return astiav.AllocFrame()
}

func (p *framePool) put(f *astiav.Frame) {
	f.Unref()
	if len(p.free) >= 64 {
		f.Free()
		return
	}
	p.free = append(p.free, f)
}

func (p *framePool) close() {
	for _, f := range p.free {
		f.Free()
	}
	p.free = nil
}

// push queues q. When the queue is full it drops the frame whose loss leaves
// the smallest gap in time, so a source faster than the output (or a long
// latency) thins out evenly instead of losing the frames due next.
func (v *videoSource) push(q queuedFrame, capacity int, pool *framePool) (dropped bool) {
	v.queue = append(v.queue, q)
	if len(v.queue) <= capacity {
		return false
	}
	drop := 0
	if len(v.queue) > 2 {
		drop = 1
		best := v.queue[2].t - v.queue[0].t
		for i := 2; i < len(v.queue)-1; i++ {
			if g := v.queue[i+1].t - v.queue[i-1].t; g < best {
				best, drop = g, i
			}
		}
	}
	pool.put(v.queue[drop].f)
	v.queue = append(v.queue[:drop], v.queue[drop+1:]...)
	return true
}

// advance makes the latest-pushed frame that is due at media time t current,
// dropping everything pushed before it.
func (v *videoSource) advance(t time.Duration, pool *framePool) {
	pick := -1
	for i := len(v.queue) - 1; i >= 0; i-- {
		if v.queue[i].t <= t {
			pick = i
			break
		}
	}
	if pick < 0 {
		return
	}
	for i := 0; i < pick; i++ {
		pool.put(v.queue[i].f)
	}
	if v.cur != nil {
		pool.put(v.cur)
	}
	v.cur, v.curSeq = v.queue[pick].f, v.queue[pick].seq
	n := copy(v.queue, v.queue[pick+1:])
	clear(v.queue[n:])
	v.queue = v.queue[:n]
}

func (v *videoSource) release(pool *framePool) {
	for _, q := range v.queue {
		pool.put(q.f)
	}
	v.queue = nil
	if v.cur != nil {
		pool.put(v.cur)
		v.cur, v.curSeq = nil, 0
	}
}

// placeholderColor derives a peer's tile colour from its ID: a hue from the
// hash at fixed saturation and a mid luma, so tiles are clearly distinct from
// each other and from the background.
func placeholderColor(peerID string) [3]byte {
	h := fnv.New32a()
	h.Write([]byte(peerID))
	x := h.Sum32()
	// 24 hues, 15 degrees apart, scrambled so similar IDs differ.
	hue := float64((x>>8)%24) * (2 * math.Pi / 24)
	y := 96 + byte(x%5)*12 // 96..144
	const r = 56
	return [3]byte{y, byte(128 + math.Round(r*math.Cos(hue))), byte(128 + math.Round(r*math.Sin(hue)))}
}

// tile is the render state of one tile. Run's goroutine owns it.
type tile struct {
	key     string
	peerID  string
	name    string
	rect    image.Rectangle // empty: not shown
	trackID string          // the video track shown; "" for none
	color   [3]byte
	// From the layout's placement.
	z       int
	fit     layout.Fit
	radius  int
	overlay layout.TileOverlay

	frame *astiav.Frame // our own reference to the frame on show
	seq   uint64        // seq of frame; 0 shows the placeholder

	drawnSeq uint64 // what the canvas holds for this tile
	drawn    bool
	failed   bool          // drawing seq failed; don't log again for it
	view     *astiav.Frame // frame cropped, for a cover fit

	scaled           *astiav.Frame // the frame scaled to fit, before it is copied in
	sws              *astiav.SoftwareScaleContext
	swsSrcW, swsSrcH int
	swsSrcFmt        astiav.PixelFormat
	swsDstW, swsDstH int
}

func (t *tile) free() {
	if t.frame != nil {
		t.frame.Free()
		t.frame = nil
	}
	if t.sws != nil {
		t.sws.Free()
		t.sws = nil
	}
	if t.scaled != nil {
		t.scaled.Free()
		t.scaled = nil
	}
	if t.view != nil {
		t.view.Free()
		t.view = nil
	}
}

// fit returns the largest rectangle with the frame's display aspect ratio
// centred in r, even-aligned.
func fit(w, h int, sar astiav.Rational, r image.Rectangle) image.Rectangle {
	tw, th := r.Dx(), r.Dy()
	num, den := int64(w), int64(h)
	if sar.Num() > 0 && sar.Den() > 0 {
		num *= int64(sar.Num())
		den *= int64(sar.Den())
	}
	fw, fh := int64(tw), int64(th)
	if x := (int64(th)*num + den/2) / den; x < int64(tw)-1 {
		fw = x
	} else if y := (int64(tw)*den + num/2) / num; y < int64(th)-1 {
		fh = y
	}
	fw, fh = max(2, fw&^1), max(2, fh&^1)
	x := r.Min.X + evenDown((tw-int(fw))/2)
	y := r.Min.Y + evenDown((th-int(fh))/2)
	return image.Rect(x, y, x+int(fw), y+int(fh))
}

// scaler returns the tile's scaler for src into a dw x dh region, making a
// new one only when the sizes or format changed.
func (t *tile) scaler(src *astiav.Frame, dw, dh int) (*astiav.SoftwareScaleContext, error) {
	sw, sh, sf := src.Width(), src.Height(), scaleSourceFormat(src)
	if t.sws != nil && t.swsSrcW == sw && t.swsSrcH == sh && t.swsSrcFmt == sf && t.swsDstW == dw && t.swsDstH == dh {
		return t.sws, nil
	}
	if t.sws != nil {
		t.sws.Free()
		t.sws = nil
	}
	if t.scaled == nil {
		t.scaled = astiav.AllocFrame()
	}
	if t.scaled.Width() != dw || t.scaled.Height() != dh {
		t.scaled.Unref()
		t.scaled.SetWidth(dw)
		t.scaled.SetHeight(dh)
		t.scaled.SetPixelFormat(astiav.PixelFormatYuv420P)
		if err := t.scaled.AllocBuffer(0); err != nil {
			t.scaled.SetWidth(0)
			return nil, fmt.Errorf("allocating a %dx%d frame: %w", dw, dh, err)
		}
	}
	s, err := astiav.CreateSoftwareScaleContext(sw, sh, sf, dw, dh, astiav.PixelFormatYuv420P,
		astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear))
	if err != nil {
		return nil, fmt.Errorf("scaler %dx%d %s to %dx%d: %w", sw, sh, sf, dw, dh, err)
	}
	t.sws, t.swsSrcW, t.swsSrcH, t.swsSrcFmt, t.swsDstW, t.swsDstH = s, sw, sh, sf, dw, dh
	return s, nil
}

// scaleSourceFormat is the format to tell swscale src is in. swscale does not
// read a frame's colour range, only its format; a full-range frame in a plain
// YUV format is given as the matching yuvj format (same planes) so it is
// converted to the canvas' limited range instead of coming out washed out.
func scaleSourceFormat(src *astiav.Frame) astiav.PixelFormat {
	pf := src.PixelFormat()
	if src.ColorRange() != astiav.ColorRangeJpeg {
		return pf
	}
	switch pf {
	case astiav.PixelFormatYuv420P:
		return astiav.PixelFormatYuvj420P
	case astiav.PixelFormatYuv422P:
		return astiav.PixelFormatYuvj422P
	case astiav.PixelFormatYuv444P:
		return astiav.PixelFormatYuvj444P
	}
	return pf
}

// draw paints the tile into canvas: its frame fitted (letterboxed on bg, or
// cropped to cover the tile), or its placeholder colour; then its rounded
// corners.
//
// swscale does not scale straight into the canvas: its SIMD output writes
// whole blocks, up to 14 pixels past the destination width (measured with
// FFmpeg 5.1 for widths that are not multiples of 32), which is harmless in a
// padded line but would paint over the gap and the next tile here. It scales
// into the tile's own padded frame, whose rows are then copied in.
func (t *tile) draw(canvas *astiav.Frame, bg [3]byte) error {
	r := t.rect
	if r.Empty() {
		return nil
	}
	if t.seq == 0 {
		return avframe.Fill(canvas, r.Min.X, r.Min.Y, r.Dx(), r.Dy(), t.color[0], t.color[1], t.color[2])
	}
	src, in := t.frame, r
	if t.fit == layout.FitCover {
		if v, ok := t.cover(); ok {
			src = v
		} else {
			in = fit(t.frame.Width(), t.frame.Height(), t.frame.SampleAspectRatio(), r)
		}
	} else {
		in = fit(t.frame.Width(), t.frame.Height(), t.frame.SampleAspectRatio(), r)
	}
	for _, bar := range [4]image.Rectangle{
		image.Rect(r.Min.X, r.Min.Y, r.Max.X, in.Min.Y),
		image.Rect(r.Min.X, in.Max.Y, r.Max.X, r.Max.Y),
		image.Rect(r.Min.X, in.Min.Y, in.Min.X, in.Max.Y),
		image.Rect(in.Max.X, in.Min.Y, r.Max.X, in.Max.Y),
	} {
		if !bar.Empty() {
			if err := avframe.Fill(canvas, bar.Min.X, bar.Min.Y, bar.Dx(), bar.Dy(), bg[0], bg[1], bg[2]); err != nil {
				return err
			}
		}
	}
	s, err := t.scaler(src, in.Dx(), in.Dy())
	if err != nil {
		return err
	}
	if err := s.ScaleFrame(src, t.scaled); err != nil {
		return fmt.Errorf("scaling %dx%d %s to %dx%d: %w", src.Width(), src.Height(), src.PixelFormat(), in.Dx(), in.Dy(), err)
	}
	return blit(canvas, t.scaled, in.Min)
}

// cover returns a view of the tile's frame cropped, centred, to the tile's
// aspect ratio, so that scaling it fills the tile. It reports false when the
// frame cannot be cropped (a packed pixel format); the caller letterboxes.
func (t *tile) cover() (*astiav.Frame, bool) {
	fw, fh := t.frame.Width(), t.frame.Height()
	tw, th := t.rect.Dx(), t.rect.Dy()
	num, den := 1, 1
	if sar := t.frame.SampleAspectRatio(); sar.Num() > 0 && sar.Den() > 0 {
		num, den = sar.Num(), sar.Den()
	}
	// The crop's display aspect is the tile's: cw*num/den / ch = tw/th.
	cw, ch := fw, fh
	if int64(fw)*int64(num)*int64(th) > int64(fh)*int64(den)*int64(tw) {
		cw = int(int64(fh) * int64(den) * int64(tw) / (int64(num) * int64(th)))
	} else {
		ch = int(int64(fw) * int64(num) * int64(th) / (int64(den) * int64(tw)))
	}
	cw, ch = max(2, cw&^1), max(2, ch&^1)
	if cw == fw && ch == fh {
		return t.frame, true
	}
	if t.view == nil {
		t.view = astiav.AllocFrame()
	}
	t.view.Unref()
	if err := t.view.Ref(t.frame); err != nil {
		return nil, false
	}
	x, y := ((fw-cw)/2)&^1, ((fh-ch)/2)&^1
	if err := avframe.Crop(t.view, x, y, cw, ch); err != nil {
		t.view.Unref()
		return nil, false
	}
	return t.view, true
}

// roundCorners paints the tile's corners outside a radius t.radius arc in
// bg: a span per row, never a pixel at a time.
func (t *tile) roundCorners(canvas *astiav.Frame, bg [3]byte) error {
	rad := evenDown(t.radius)
	r := t.rect
	if rad < 2 || r.Dx() < 2*rad || r.Dy() < 2*rad {
		return nil
	}
	// Rows in pairs, columns even: the chroma grid of 4:2:0.
	for dy := 0; dy < rad; dy += 2 {
		// Distance of this row pair's centre from the arc's centre.
		yc := float64(rad) - float64(dy) - 1
		in := float64(rad) - math.Sqrt(max(0, float64(rad*rad)-yc*yc))
		w := evenDown(int(math.Round(in)))
		if w <= 0 {
			continue
		}
		for _, row := range [2]int{r.Min.Y + dy, r.Max.Y - dy - 2} {
			for _, x := range [2]int{r.Min.X, r.Max.X - w} {
				if err := avframe.Fill(canvas, x, row, w, 2, bg[0], bg[1], bg[2]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// blit copies src, a yuv420p frame, into dst at p (even), row by row.
func blit(dst, src *astiav.Frame, p image.Point) error {
	dp, dls, err := avframe.VideoPlanes(dst)
	if err != nil {
		return err
	}
	sp, sls, err := avframe.VideoPlanes(src)
	if err != nil {
		return err
	}
	w, h := src.Width(), src.Height()
	if p.X < 0 || p.Y < 0 || p.X+w > dst.Width() || p.Y+h > dst.Height() || p.X%2 != 0 || p.Y%2 != 0 {
		return fmt.Errorf("placing %dx%d at %v on %dx%d", w, h, p, dst.Width(), dst.Height())
	}
	for i := 0; i < 3; i++ {
		x, y, pw, ph := p.X, p.Y, w, h
		if i > 0 {
			x, y, pw, ph = x/2, y/2, (w+1)/2, (h+1)/2
		}
		for row := 0; row < ph; row++ {
			d := (y+row)*dls[i] + x
			copy(dp[i][d:d+pw], sp[i][row*sls[i]:row*sls[i]+pw])
		}
	}
	return nil
}

func evenDown(x int) int { return x &^ 1 }
