package analyze

import (
	"context"
	"fmt"
	"math"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/internal/avframe"
)

// thumbMax bounds the side of the thumbnails regions are measured on. Colour
// means and PSNR at this scale are insensitive to codec noise and to
// sub-pixel differences in how a tile was scaled, and Go touches at most
// thumbMax² pixels.
const thumbMax = 128

// grabFrame returns the frame of path's first video stream that is shown at
// time t: the last one that starts at or before t (or the first frame, for t
// before it). The caller frees it.
func grabFrame(ctx context.Context, path string, t float64) (*astiav.Frame, error) {
	f, err := grabFrameFrom(ctx, path, t, true)
	if err == nil && f == nil {
		// Seeking in a stream without an index (MPEG-TS) can land between
		// keyframes, where the decoder outputs nothing up to the end of a
		// short file: decode from the start instead.
		f, err = grabFrameFrom(ctx, path, t, false)
	}
	if err == nil && f == nil {
		err = fmt.Errorf("%s: no video frame decoded", path)
	}
	return f, err
}

// grabFrameFrom is grabFrame with or without seeking; it returns a nil frame
// when it decoded none.
func grabFrameFrom(ctx context.Context, path string, t float64, seek bool) (*astiav.Frame, error) {
	in, err := openInput(path, true, false)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if in.video == nil {
		return nil, fmt.Errorf("%s: no video stream", path)
	}
	if seek && in.video.tb > 0 && t > 0 {
		ts := int64((t + in.start) / in.video.tb)
		// On failure (an image, a stream without index), decoding from the
		// start still finds the frame, only slower.
		_ = in.fc.SeekFrame(in.video.st.Index(), ts, astiav.NewSeekFlags(astiav.SeekFlagBackward))
	}
	hold := astiav.AllocFrame()
	have := false
	const eps = 1e-4
	err = in.run(ctx, func(f *astiav.Frame, ft float64) error {
		if have && ft > t+eps {
			return errStop
		}
		hold.Unref()
		if err := hold.Ref(f); err != nil {
			return fmt.Errorf("keeping frame: %w", err)
		}
		have = true
		if ft > t+eps {
			return errStop
		}
		return nil
	}, nil)
	if err != nil || !have {
		hold.Free()
		return nil, err
	}
	return hold, nil
}

// thumbnail scales region r of f (the whole frame when r is empty) to a
// YUV444P frame of at most thumbMax pixels a side, or exactly w x h when
// given. It crops a reference to f rather than copying the region, so only
// swscale reads the pixels. The caller frees the thumbnail.
func thumbnail(f *astiav.Frame, r Rect, w, h int) (*astiav.Frame, error) {
	src := f
	if r != (Rect{}) && r != (Rect{W: f.Width(), H: f.Height()}) {
		// Crop needs the window on the chroma grid; one pixel of the
		// region's edge does not change a mean or a PSNR measurably.
		x0, y0 := r.X&^1, r.Y&^1
		x1, y1 := min((r.X+r.W+1)&^1, f.Width()&^1), min((r.Y+r.H+1)&^1, f.Height()&^1)
		view := astiav.AllocFrame()
		defer view.Free()
		if err := view.Ref(f); err != nil {
			return nil, fmt.Errorf("referencing frame: %w", err)
		}
		if err := avframe.Crop(view, x0, y0, x1-x0, y1-y0); err != nil {
			return nil, err
		}
		src = view
	}
	if w <= 0 || h <= 0 {
		w, h = fitWithin(src.Width(), src.Height(), thumbMax)
	}
	sws, err := astiav.CreateSoftwareScaleContext(src.Width(), src.Height(), src.PixelFormat(), w, h,
		astiav.PixelFormatYuv444P, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagArea))
	if err != nil {
		return nil, fmt.Errorf("creating scaler from %dx%d %s: %w", src.Width(), src.Height(), src.PixelFormat(), err)
	}
	defer sws.Free()
	dst := astiav.AllocFrame()
	dst.SetWidth(w)
	dst.SetHeight(h)
	dst.SetPixelFormat(astiav.PixelFormatYuv444P)
	if err := dst.AllocBuffer(0); err != nil {
		dst.Free()
		return nil, fmt.Errorf("allocating thumbnail: %w", err)
	}
	if err := sws.ScaleFrame(src, dst); err != nil {
		dst.Free()
		return nil, fmt.Errorf("scaling region %s: %w", r, err)
	}
	return dst, nil
}

func fitWithin(w, h, m int) (int, int) {
	if w <= m && h <= m {
		return w, h
	}
	if w >= h {
		return m, max(1, int(math.Round(float64(h)*float64(m)/float64(w))))
	}
	return max(1, int(math.Round(float64(w)*float64(m)/float64(h)))), m
}

// meanYUV returns the mean of each plane of a YUV444P thumbnail.
func meanYUV(th *astiav.Frame) ([3]float64, error) {
	planes, ls, err := avframe.VideoPlanes(th)
	if err != nil {
		return [3]float64{}, err
	}
	var out [3]float64
	w, h := th.Width(), th.Height()
	for i := 0; i < 3; i++ {
		var sum int
		for y := 0; y < h; y++ {
			for _, v := range planes[i][y*ls[i] : y*ls[i]+w] {
				sum += int(v)
			}
		}
		out[i] = float64(sum) / float64(w*h)
	}
	return out, nil
}

// psnr compares two YUV444P thumbnails of the same size over all three
// planes, in dB; identical pictures give +Inf.
func psnr(a, b *astiav.Frame) (float64, error) {
	if a.Width() != b.Width() || a.Height() != b.Height() {
		return 0, fmt.Errorf("psnr of %dx%d and %dx%d", a.Width(), a.Height(), b.Width(), b.Height())
	}
	pa, la, err := avframe.VideoPlanes(a)
	if err != nil {
		return 0, err
	}
	pb, lb, err := avframe.VideoPlanes(b)
	if err != nil {
		return 0, err
	}
	w, h := a.Width(), a.Height()
	var sse float64
	for i := 0; i < 3; i++ {
		for y := 0; y < h; y++ {
			ra, rb := pa[i][y*la[i]:y*la[i]+w], pb[i][y*lb[i]:y*lb[i]+w]
			for x := range ra {
				d := float64(ra[x]) - float64(rb[x])
				sse += d * d
			}
		}
	}
	mse := sse / float64(3*w*h)
	if mse == 0 {
		return math.Inf(1), nil
	}
	return 10 * math.Log10(255*255/mse), nil
}

// yuvToRGB converts a mean YUV colour to RGB with the stream's matrix and
// range.
func yuvToRGB(yuv [3]float64, bt709, full bool) Color {
	kr, kb := 0.299, 0.114
	if bt709 {
		kr, kb = 0.2126, 0.0722
	}
	y, pb, pr := (yuv[0]-16)/219, (yuv[1]-128)/224, (yuv[2]-128)/224
	if full {
		y, pb, pr = yuv[0]/255, (yuv[1]-128)/255, (yuv[2]-128)/255
	}
	r := y + 2*(1-kr)*pr
	b := y + 2*(1-kb)*pb
	g := (y - kr*r - kb*b) / (1 - kr - kb)
	c := func(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(255, v*255)))) }
	return Color{c(r), c(g), c(b)}
}

func distance(a, b [3]float64) float64 {
	var s float64
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return math.Sqrt(s)
}

// pixelRect turns an expectation's region into pixels of a w x h frame.
func (r Region) pixelRect(w, h int) Rect {
	if !r.Relative {
		return Rect{X: int(r.X), Y: int(r.Y), W: int(r.W), H: int(r.H)}
	}
	x0, y0 := int(math.Round(r.X*float64(w))), int(math.Round(r.Y*float64(h)))
	x1, y1 := int(math.Round((r.X+r.W)*float64(w))), int(math.Round((r.Y+r.H)*float64(h)))
	return Rect{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}
}
