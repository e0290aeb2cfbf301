package compositor

import (
	"context"
	"fmt"
	"image/color"
	"testing"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// TestOverlays draws the grid preset as shipped: names bottom left, the
// muted marker top right of a muted peer, initials on a peer without video,
// a border around the active speaker, rounded corners on the preset's
// background, and the picture itself cropped to cover its tile.
func TestOverlays(t *testing.T) {
	grid, err := layout.Preset("grid")
	if err != nil {
		t.Fatal(err)
	}
	cfg := base()
	cfg.Layout = grid
	r := newRig(t, cfg)
	r.c.AddPeer(room.Peer{ID: "a", Name: "Ada Lovelace"})
	r.c.AddTrack(room.TrackInfo{ID: "a-cam", PeerID: "a", Kind: room.KindVideo, Source: room.SourceRegular})
	r.c.AddTrack(room.TrackInfo{ID: "a-mic", PeerID: "a", Kind: room.KindAudio, Source: room.SourceRegular, Muted: true})
	r.c.AddPeer(room.Peer{ID: "b", Name: "Bob Kahn"}) // no video
	col := yuv{150, 60, 200}
	r.c.PushVideo("a-cam", solid(t, 320, 240, astiav.PixelFormatYuv420P, col), 0) // 4:3 into a 16:9 tile
	r.out.hooks[2] = func() { r.c.SetActiveSpeakers([]room.Speaker{{PeerID: "b", Level: 90}}) }
	r.run(t, 1500*ms)

	doc := *grid
	rects := arrange(&doc, cw, ch, "", "a", "b")
	a, b := rects[0], rects[1]
	f := r.out.pic(t, 14)
	bg := yuv(yuvOf(grid.Background))

	// Cover: the 4:3 picture fills the 16:9 tile's width, cropped top and
	// bottom, so a point near its left edge is picture, not bar.
	ax, ay := centre(a)
	wantColor(t, "a's picture at its centre", f.at(ax, ay), col)
	wantColor(t, "a's picture near its left edge (cover)", f.at(a.Min.X+12, ay), col)
	wantColor(t, "a's rounded corner", f.at(a.Min.X, a.Min.Y), bg)

	// a's label: a dark box with bright text, bottom left.
	bright, dark := 0, 0
	for y := a.Max.Y - a.Dy()/4; y < a.Max.Y; y++ {
		for x := a.Min.X; x < a.Min.X+a.Dx()/2; x++ {
			switch v := f.at(x, y)[0]; {
			case v > 200:
				bright++
			case v < 45:
				dark++
			}
		}
	}
	if bright < 40 || dark < 300 {
		t.Errorf("a's label area: %d bright and %d dark pixels: no label", bright, dark)
	}
	// The muted marker: red, top right.
	red := 0
	for y := a.Min.Y; y < a.Min.Y+a.Dy()/4; y++ {
		for x := a.Max.X - a.Dx()/4; x < a.Max.X; x++ {
			if p := f.at(x, y); p[2] > 200 && p[1] < 120 {
				red++
			}
		}
	}
	if red < 20 {
		t.Errorf("%d red pixels top right of a: no muted marker", red)
	}

	// b has no video: white initials at its centre on its own colour; it
	// holds the stage, so its edge has the preset's border colour.
	bx, by := centre(b)
	white := 0
	for y := by - b.Dy()/6; y < by+b.Dy()/6; y++ {
		for x := bx - b.Dx()/6; x < bx+b.Dx()/6; x++ {
			if f.at(x, y)[0] > 220 {
				white++
			}
		}
	}
	if white < 100 {
		t.Errorf("%d white pixels at b's centre: no initials", white)
	}
	border := yuv(yuvOf(color.RGBA{0x3d, 0xdc, 0x84, 0xff}))
	wantColor(t, "b's speaker border", f.at(bx, b.Min.Y+1), border)
	if p := f.at(ax, a.Min.Y+1); near(p, border, 20) {
		t.Errorf("a has a speaker border %v", p)
	}
	if p := r.out.pic(t, 1).at(bx, b.Min.Y+1); near(p, border, 20) {
		t.Errorf("b had a border before speaking: %v", p)
	}

	// The same scene without the preset's overlays shows none of them.
	plain := *grid
	plain.Overlays = layout.Overlays{}
	r2 := newRig(t, Config{Width: cw, Height: ch, FPS: 10, Latency: 200 * ms, Layout: &plain})
	r2.c.AddPeer(room.Peer{ID: "b", Name: "Bob Kahn"})
	r2.run(t, 300*ms)
	wantColor(t, "b's placeholder without initials", r2.out.pic(t, 2).at(bx, by), yuv(placeholderColor("b")))
}

// feeder is an Output that, after each frame, gives every source a new
// picture for the next one, as live video does: every tile redraws every
// frame.
type feeder struct {
	c      *Compositor
	ids    []string
	frames [2]*astiav.Frame
	fps    int
	lat    time.Duration
}

func (f *feeder) WriteVideo(_ *astiav.Frame, pts int64) error {
	at := time.Duration(pts+1)*time.Second/time.Duration(f.fps) - f.lat
	for _, id := range f.ids {
		f.c.PushVideo(id, f.frames[pts%2], at)
	}
	return nil
}
func (f *feeder) WriteAudio([]float32, int64) error { return nil }

// BenchmarkCompose49 composes 49 live tiles at 1080p30 with the grid
// preset's overlays (a name on every tile, a muted marker on every fourth,
// the speaker's border) and without them: the difference is what overlays
// cost per frame.
func BenchmarkCompose49(b *testing.B) {
	grid, err := layout.Preset("grid")
	if err != nil {
		b.Fatal(err)
	}
	plain := *grid
	plain.Overlays = layout.Overlays{}
	for _, tc := range []struct {
		name string
		doc  *layout.Document
	}{{"plain", &plain}, {"overlays", grid}} {
		b.Run(tc.name, func(b *testing.B) {
			f := &feeder{fps: 30, lat: 200 * ms}
			t := &testing.T{}
			f.frames = [2]*astiav.Frame{solid(t, 320, 180, astiav.PixelFormatYuv420P, yuv{150, 60, 200}), solid(t, 320, 180, astiav.PixelFormatYuv420P, yuv{80, 200, 90})}
			c, err := New(Config{Width: 1920, Height: 1080, FPS: 30, Latency: f.lat, Layout: tc.doc}, mediaclock.NewVirtual(), f)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			f.c = c
			for i := range 49 {
				id := fmt.Sprintf("p%02d", i)
				c.AddPeer(room.Peer{ID: id, Name: fmt.Sprintf("Participant %d", i+1)})
				c.AddTrack(room.TrackInfo{ID: id + "-cam", PeerID: id, Kind: room.KindVideo, Source: room.SourceRegular})
				c.AddTrack(room.TrackInfo{ID: id + "-mic", PeerID: id, Kind: room.KindAudio, Source: room.SourceRegular, Muted: i%4 == 3})
				f.ids = append(f.ids, id+"-cam")
			}
			c.SetActiveSpeakers([]room.Speaker{{PeerID: "p01", Level: 90}})
			b.ReportAllocs()
			b.ResetTimer()
			if err := c.Run(context.Background(), time.Duration(b.N)*time.Second/30); err != nil {
				b.Fatal(err)
			}
		})
	}
}
