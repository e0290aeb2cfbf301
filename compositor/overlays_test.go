package compositor

import (
	"testing"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/room"
)

// TestOverlays: names bottom left on every tile, the muted marker beside
// a muted peer's name, initials on a peer without video, and a border
// around whoever speaks; the picture itself is untouched elsewhere.
func TestOverlays(t *testing.T) {
	cfg := base()
	cfg.Width, cfg.Height = 640, 360
	cfg.Overlays = Overlays{Labels: true, MutedMarker: true, SpeakerBorder: true, Initials: true}
	r := newRig(t, cfg)
	r.c.AddPeer(room.Peer{ID: "a", Name: "Ada Lovelace"})
	r.c.AddTrack(room.TrackInfo{ID: "a-cam", PeerID: "a", Kind: room.KindVideo, Source: room.SourceRegular})
	r.c.AddTrack(room.TrackInfo{ID: "a-mic", PeerID: "a", Kind: room.KindAudio, Source: room.SourceRegular, Muted: true})
	r.c.AddPeer(room.Peer{ID: "b", Name: "Bob Kahn"}) // no video
	col := yuv{150, 60, 200}
	r.c.PushVideo("a-cam", solid(t, 320, 180, astiav.PixelFormatYuv420P, col), 0)
	r.out.hooks[2] = func() { r.c.SetActiveSpeakers([]room.Speaker{{PeerID: "b", Level: 90}}) }
	r.run(t, 1500*ms)

	rects := gridRects(2, cfg.Width, cfg.Height)
	a, b := rects[0], rects[1]
	f := r.out.pic(t, 14)
	ax, ay := centre(a)
	wantColor(t, "a's picture", f.at(ax, ay-a.Dy()/4), col)

	// a's label: a dark box with bright text, bottom left.
	unit := labelUnit(a)
	margin := evenDown(unit / 4)
	bright, dark := 0, 0
	for y := a.Max.Y - margin - unit; y < a.Max.Y-margin; y++ {
		for x := a.Min.X + margin; x < a.Min.X+margin+5*unit; x++ {
			switch v := f.at(x, y)[0]; {
			case v > 200:
				bright++
			case v < 45:
				dark++
			}
		}
	}
	if bright < 40 || dark < 5*unit*unit/2 {
		t.Errorf("a's label area: %d bright and %d dark pixels: no label", bright, dark)
	}
	// The muted marker is red, somewhere right of the label on that row.
	red := 0
	for x := a.Min.X; x < a.Max.X; x++ {
		if p := f.at(x, a.Max.Y-margin-unit/2); p[2] > 200 && p[1] < 120 {
			red++
		}
	}
	if red < unit/3 {
		t.Errorf("%d red pixels on the label row: no muted marker", red)
	}

	// b has no video: white initials at its centre on its own colour; it
	// speaks, so its edge is amber.
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
	wantColor(t, "b's speaking border", f.at(bx, b.Min.Y), yuv{highlight[0], highlight[1], highlight[2]})
	// a does not speak: no border.
	if p := f.at(ax, a.Min.Y); near(p, yuv{highlight[0], highlight[1], highlight[2]}, 20) {
		t.Errorf("a has a speaking border %v", p)
	}
	// Before b spoke, no border on it.
	if p := r.out.pic(t, 1).at(bx, b.Min.Y); near(p, yuv{highlight[0], highlight[1], highlight[2]}, 20) {
		t.Errorf("b had a border before speaking: %v", p)
	}
}
