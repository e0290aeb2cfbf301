package preview

import (
	"context"
	"fmt"
	"image"
	"testing"

	"github.com/roomcast/roomcast/compositor/layout"
)

// rgbOf is a canvas colour in RGB (BT.601, limited range), as swscale
// converts it.
func rgbOf(c [3]byte) [3]int {
	y, u, v := float64(c[0])-16, float64(c[1])-128, float64(c[2])-128
	cl := func(x float64) int { return max(0, min(255, int(x+0.5))) }
	return [3]int{cl(1.164*y + 1.596*v), cl(1.164*y - 0.392*u - 0.813*v), cl(1.164*y + 2.017*u)}
}

func near(img *image.RGBA, x, y int, want [3]int) bool {
	p := img.RGBAAt(x, y)
	d := func(a uint8, b int) int { return max(int(a)-b, b-int(a)) }
	return d(p.R, want[0]) < 12 && d(p.G, want[1]) < 12 && d(p.B, want[2]) < 12
}

func TestRender(t *testing.T) {
	speaker, err := layout.Preset("speaker")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		opts   Options
		checks map[image.Point]int // a point and the sample peer whose picture is there
	}{
		{
			name: "grid of four",
			opts: Options{Width: 640, Height: 360, Peers: 4},
			checks: map[image.Point]int{
				{160, 90}: 0, {480, 90}: 1, {160, 270}: 2, {480, 270}: 3,
			},
		},
		{
			name:   "speaker: the second peer speaks and takes the stage",
			opts:   Options{Width: 640, Height: 360, Peers: 3, Layout: speaker},
			checks: map[image.Point]int{{320, 140}: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := Render(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.opts.Width || b.Dy() != tc.opts.Height {
				t.Fatalf("picture %v", b)
			}
			for p, peer := range tc.checks {
				if want := rgbOf(palette[peer]); !near(img, p.X, p.Y, want) {
					t.Errorf("at %v: %v, want peer %d's colour %v", p, img.RGBAAt(p.X, p.Y), peer+1, want)
				}
			}
		})
	}
	if _, err := Render(context.Background(), Options{Width: 640, Height: 360, Peers: 50}); err == nil {
		t.Error("50 peers rendered, want an error")
	}
}

// TestPresetPixels renders every preset, landscape and portrait, with 1,
// 2, 3, 4, 7, 12 and 49 peers, and checks in the picture that each peer's
// tile is where the layout engine places it: its colour at the centre of
// its rectangle.
func TestPresetPixels(t *testing.T) {
	for _, name := range layout.PresetNames() {
		doc, err := layout.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range [][2]int{{640, 360}, {360, 640}} {
			for _, n := range []int{1, 2, 3, 4, 7, 12, 49} {
				size := size
				if n == 49 {
					size = [2]int{size[0] * 3, size[1] * 3} // 49 tiles of about 270x150
				}
				t.Run(fmt.Sprintf("%s/%dx%d/%d", name, size[0], size[1], n), func(t *testing.T) {
					img, err := Render(context.Background(), Options{Width: size[0], Height: size[1], Peers: n, Layout: doc})
					if err != nil {
						t.Fatal(err)
					}
					// The sources the preview's compositor gives the engine.
					srcs := make([]layout.Source, n)
					for i := range srcs {
						id := fmt.Sprintf("peer%d", i+1)
						srcs[i] = layout.Source{Key: "p:" + id, PeerID: id, Name: sampleNames[i], JoinOrder: i + 1,
							HasVideo: true, MicMuted: i%4 == 3, ActiveSpeaker: i == min(1, n-1)}
					}
					shown := 0
					for i, p := range layout.NewEngine(doc).Arrange(srcs, size[0], size[1]) {
						if !p.Shown || p.Rect.Dy() < 48 || p.Rect.Dx() < 48 {
							continue // too small to see past its name label
						}
						shown++
						x, y := (p.Rect.Min.X+p.Rect.Max.X)/2, (p.Rect.Min.Y+p.Rect.Max.Y)/2
						if want := rgbOf(palette[i%len(palette)]); !near(img, x, y, want) {
							t.Errorf("peer %d's tile %v: %v at its centre, want its colour %v", i+1, p.Rect, img.RGBAAt(x, y), want)
						}
					}
					if shown == 0 {
						t.Errorf("no tile big enough to check")
					}
				})
			}
		}
	}
}
