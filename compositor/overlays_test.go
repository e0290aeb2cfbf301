package compositor

import (
	"image/color"
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
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
