package avframe

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/asticode/go-astiav"
)

func newYUV(t *testing.T, w, h int) *astiav.Frame {
	t.Helper()
	f := astiav.AllocFrame()
	t.Cleanup(f.Free)
	f.SetWidth(w)
	f.SetHeight(h)
	f.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFillAndReadBack(t *testing.T) {
	f := newYUV(t, 64, 48)
	if err := f.ImageFillBlack(); err != nil {
		t.Fatal(err)
	}
	if err := Fill(f, 16, 8, 32, 16, 200, 50, 60); err != nil {
		t.Fatal(err)
	}
	// Read back through astiav's own copy, which knows nothing of avframe.
	b, err := f.Data().Bytes(1)
	if err != nil {
		t.Fatal(err)
	}
	y := b[:64*48]
	for _, tc := range []struct {
		x, y int
		want byte
	}{{16, 8, 200}, {47, 23, 200}, {15, 8, 16}, {48, 8, 16}, {16, 24, 16}} {
		if got := y[tc.y*64+tc.x]; got != tc.want {
			t.Errorf("Y(%d,%d) = %d, want %d", tc.x, tc.y, got, tc.want)
		}
	}
	u := b[64*48 : 64*48+32*24]
	if got := u[4*32+8]; got != 50 {
		t.Errorf("U inside = %d, want 50", got)
	}
	if got := u[0]; got != 128 {
		t.Errorf("U outside = %d, want 128", got)
	}
}

func TestCropScalesIntoRegion(t *testing.T) {
	canvas := newYUV(t, 64, 48)
	if err := canvas.ImageFillBlack(); err != nil {
		t.Fatal(err)
	}
	src := newYUV(t, 8, 8)
	if err := Fill(src, 0, 0, 8, 8, 235, 128, 128); err != nil {
		t.Fatal(err)
	}
	view := astiav.AllocFrame()
	defer view.Free()
	if err := view.Ref(canvas); err != nil {
		t.Fatal(err)
	}
	if err := Crop(view, 32, 16, 16, 16); err != nil {
		t.Fatal(err)
	}
	sws, err := astiav.CreateSoftwareScaleContext(8, 8, astiav.PixelFormatYuv420P, 16, 16, astiav.PixelFormatYuv420P, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagBilinear))
	if err != nil {
		t.Fatal(err)
	}
	defer sws.Free()
	if err := sws.ScaleFrame(src, view); err != nil {
		t.Fatal(err)
	}
	planes, ls, err := VideoPlanes(canvas)
	if err != nil {
		t.Fatal(err)
	}
	at := func(x, y int) byte { return planes[0][y*ls[0]+x] }
	if at(40, 24) < 230 {
		t.Errorf("inside the window Y = %d, want white", at(40, 24))
	}
	if at(31, 24) != 16 || at(48, 24) != 16 || at(40, 15) != 16 || at(40, 32) != 16 {
		t.Errorf("scaling spilled outside the window")
	}
}

func TestAudioPlanes(t *testing.T) {
	f := astiav.AllocFrame()
	defer f.Free()
	f.SetNbSamples(1024)
	f.SetSampleFormat(astiav.SampleFormatFltp)
	f.SetChannelLayout(astiav.ChannelLayoutStereo)
	f.SetSampleRate(48000)
	if err := f.AllocBuffer(0); err != nil {
		t.Fatal(err)
	}
	planes, err := AudioPlanes(f, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(planes) != 2 || len(planes[1]) != 1024*4 {
		t.Fatalf("planes %d of %d bytes", len(planes), len(planes[0]))
	}
	binary.LittleEndian.PutUint32(planes[1][4:], math.Float32bits(0.5))
	again, _ := AudioPlanes(f, 2)
	if v := math.Float32frombits(binary.LittleEndian.Uint32(again[1][4:])); v != 0.5 {
		t.Fatalf("read back %v", v)
	}
}

func TestCropRejects(t *testing.T) {
	canvas := newYUV(t, 64, 48)
	for _, tc := range []struct{ x, y, w, h int }{{1, 0, 8, 8}, {0, 0, 66, 8}, {60, 0, 8, 8}, {0, 0, 0, 8}} {
		view := astiav.AllocFrame()
		if err := view.Ref(canvas); err != nil {
			t.Fatal(err)
		}
		if err := Crop(view, tc.x, tc.y, tc.w, tc.h); err == nil {
			t.Errorf("Crop(%v) accepted", tc)
		}
		view.Free()
	}
}
