package preview

import (
	"context"
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
