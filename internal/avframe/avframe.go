package avframe

import (
	"fmt"
	"unsafe"

	"github.com/asticode/go-astiav"
)

const numPointers = 8

// avFrameHead mirrors the first two fields of FFmpeg's AVFrame, which have
// kept this layout since FFmpeg 0.x.
type avFrameHead struct {
	data     [numPointers]unsafe.Pointer
	linesize [numPointers]int32
}

func head(f *astiav.Frame) *avFrameHead {
	// astiav.Frame is struct{ c *C.AVFrame }.
	c := *(*unsafe.Pointer)(unsafe.Pointer(f))
	if c == nil {
		panic("avframe: frame is freed")
	}
	return (*avFrameHead)(c)
}

// Linesize returns plane i's line size in bytes (for audio, plane 0's size).
func Linesize(f *astiav.Frame, i int) int { return int(head(f).linesize[i]) }

// Plane returns plane i as a byte slice of n bytes over the frame's memory.
// The slice is valid while the frame holds its buffer. It panics if the plane
// is not allocated.
func Plane(f *astiav.Frame, i, n int) []byte {
	p := head(f).data[i]
	if p == nil {
		panic(fmt.Sprintf("avframe: plane %d is not allocated", i))
	}
	return unsafe.Slice((*byte)(p), n)
}

// chromaShift returns the log2 chroma subsampling of the planar YUV formats
// roomcast composes in.
func chromaShift(pf astiav.PixelFormat) (x, y int, err error) {
	switch pf {
	case astiav.PixelFormatYuv420P, astiav.PixelFormatYuvj420P:
		return 1, 1, nil
	case astiav.PixelFormatYuv422P, astiav.PixelFormatYuvj422P:
		return 1, 0, nil
	case astiav.PixelFormatYuv444P, astiav.PixelFormatYuvj444P:
		return 0, 0, nil
	}
	return 0, 0, fmt.Errorf("avframe: pixel format %s is not planar YUV", pf)
}

// VideoPlanes returns the Y, U and V planes of a planar YUV frame, each
// linesize*rows bytes, with the line sizes.
func VideoPlanes(f *astiav.Frame) (planes [3][]byte, linesizes [3]int, err error) {
	_, sy, err := chromaShift(f.PixelFormat())
	if err != nil {
		return planes, linesizes, err
	}
	h := head(f)
	for i := 0; i < 3; i++ {
		rows := f.Height()
		if i > 0 {
			rows = (rows + (1 << sy) - 1) >> sy
		}
		ls := int(h.linesize[i])
		if h.data[i] == nil || ls <= 0 {
			return planes, linesizes, fmt.Errorf("avframe: plane %d is not allocated", i)
		}
		linesizes[i] = ls
		planes[i] = unsafe.Slice((*byte)(h.data[i]), ls*rows)
	}
	return planes, linesizes, nil
}

// AudioPlanes returns the planes of an audio frame, each trimmed to the frame's
// samples: one plane per channel for planar formats, one interleaved plane
// otherwise.
func AudioPlanes(f *astiav.Frame, channels int) ([][]byte, error) {
	sf := f.SampleFormat()
	bps, planar := sampleLayout(sf)
	if bps <= 0 {
		return nil, fmt.Errorf("avframe: unknown sample format %s", sf)
	}
	n := f.NbSamples() * bps
	nplanes := channels
	if !planar {
		n *= channels
		nplanes = 1
	}
	if nplanes > numPointers {
		return nil, fmt.Errorf("avframe: %d planes is more than %d", nplanes, numPointers)
	}
	h := head(f)
	if n > int(h.linesize[0]) {
		return nil, fmt.Errorf("avframe: %d bytes of samples exceed the plane size %d", n, h.linesize[0])
	}
	out := make([][]byte, nplanes)
	for i := range out {
		if h.data[i] == nil {
			return nil, fmt.Errorf("avframe: audio plane %d is not allocated", i)
		}
		out[i] = unsafe.Slice((*byte)(h.data[i]), n)
	}
	return out, nil
}

// Crop turns view, which must be a reference to a planar YUV frame (made with
// view.Ref(src)), into a window of w x h pixels at (x, y) of that frame: its
// plane pointers move to the window and its size shrinks. Writing into view
// (with swscale, say) then writes into that region of the source frame. x, y,
// w and h must be multiples of the chroma subsampling.
func Crop(view *astiav.Frame, x, y, w, h int) error {
	sx, sy, err := chromaShift(view.PixelFormat())
	if err != nil {
		return err
	}
	mx, my := (1<<sx)-1, (1<<sy)-1
	if x&mx != 0 || w&mx != 0 || y&my != 0 || h&my != 0 {
		return fmt.Errorf("avframe: window %dx%d at (%d,%d) is not aligned to the chroma grid", w, h, x, y)
	}
	if x < 0 || y < 0 || w <= 0 || h <= 0 || x+w > view.Width() || y+h > view.Height() {
		return fmt.Errorf("avframe: window %dx%d at (%d,%d) is outside the %dx%d frame", w, h, x, y, view.Width(), view.Height())
	}
	hd := head(view)
	for i := 0; i < 3; i++ {
		px, py := x, y
		if i > 0 {
			px, py = x>>sx, y>>sy
		}
		hd.data[i] = unsafe.Add(hd.data[i], py*int(hd.linesize[i])+px)
	}
	view.SetWidth(w)
	view.SetHeight(h)
	return nil
}

// Fill paints a w x h window at (x, y) of a planar YUV frame with one colour.
// It writes row by row with copy, never pixel by pixel.
func Fill(f *astiav.Frame, x, y, w, h int, yv, u, v byte) error {
	sx, sy, err := chromaShift(f.PixelFormat())
	if err != nil {
		return err
	}
	planes, ls, err := VideoPlanes(f)
	if err != nil {
		return err
	}
	if x < 0 || y < 0 || x+w > f.Width() || y+h > f.Height() {
		return fmt.Errorf("avframe: fill %dx%d at (%d,%d) is outside the %dx%d frame", w, h, x, y, f.Width(), f.Height())
	}
	vals := [3]byte{yv, u, v}
	for i := 0; i < 3; i++ {
		px, py, pw, ph := x, y, w, h
		if i > 0 {
			px, py = x>>sx, y>>sy
			pw, ph = (x+w+(1<<sx)-1)>>sx-px, (y+h+(1<<sy)-1)>>sy-py
		}
		if pw <= 0 || ph <= 0 {
			continue
		}
		row := planes[i][py*ls[i]+px : py*ls[i]+px+pw]
		for j := range row {
			row[j] = vals[i]
		}
		for r := 1; r < ph; r++ {
			off := (py+r)*ls[i] + px
			copy(planes[i][off:off+pw], row)
		}
	}
	return nil
}

// sampleLayout returns bytes per sample and planarity; astiav v0.16.0 does not
// expose av_get_bytes_per_sample.
func sampleLayout(sf astiav.SampleFormat) (bytes int, planar bool) {
	switch sf {
	case astiav.SampleFormatU8:
		return 1, false
	case astiav.SampleFormatU8P:
		return 1, true
	case astiav.SampleFormatS16:
		return 2, false
	case astiav.SampleFormatS16P:
		return 2, true
	case astiav.SampleFormatS32, astiav.SampleFormatFlt:
		return 4, false
	case astiav.SampleFormatS32P, astiav.SampleFormatFltp:
		return 4, true
	case astiav.SampleFormatS64, astiav.SampleFormatDbl:
		return 8, false
	case astiav.SampleFormatS64P, astiav.SampleFormatDblp:
		return 8, true
	}
	return 0, false
}
