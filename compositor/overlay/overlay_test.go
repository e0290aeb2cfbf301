package overlay

import (
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the reference images in testdata")

func TestInitials(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Ada Lovelace", "AL"},
		{"bob", "B"},
		{"  jean-luc   picard ", "JP"},
		{"Grace Brewster Murray Hopper", "GH"},
		{"émile zola", "ÉZ"},
		{"42", "4"},
		{"", ""},
		{"!!!", ""},
	} {
		if got := Initials(tc.name); got != tc.want {
			t.Errorf("Initials(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func newTestRenderer(t *testing.T) *Renderer {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// gray is an image's luma as a picture, for the reference files.
func gray(img *Image) *image.Gray {
	g := image.NewGray(image.Rect(0, 0, img.W, img.H))
	copy(g.Pix, img.Y)
	return g
}

// TestLabelMatchesReference compares rendered labels with the reference
// pictures in testdata (go test -update rewrites them; look at them before
// committing), within a tolerance for the rasterizer's rounding.
func TestLabelMatchesReference(t *testing.T) {
	r := newTestRenderer(t)
	for _, tc := range []struct {
		file   string
		text   string
		height int
		maxW   int
	}{
		{"label-ada-32.png", "Ada Lovelace", 32, 400},
		{"label-long-24.png", "Maximilian Alexander von Humboldt-Wittelsbach", 24, 200},
		{"label-short-16.png", "Bo", 16, 200},
	} {
		img := r.Label(tc.text, tc.height, tc.maxW)
		if img == nil {
			t.Fatalf("%s: no label", tc.file)
		}
		if img.H != tc.height || img.W > tc.maxW {
			t.Errorf("%s: %dx%d, want height %d and width at most %d", tc.file, img.W, img.H, tc.height, tc.maxW)
		}
		path := filepath.Join("testdata", tc.file)
		if *update {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, gray(img)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		ref, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ref.Bounds().Dx() != img.W || ref.Bounds().Dy() != img.H {
			t.Errorf("%s: %dx%d, reference %v", tc.file, img.W, img.H, ref.Bounds().Size())
			continue
		}
		off := 0
		for y := range img.H {
			for x := range img.W {
				rv, _, _, _ := ref.At(x, y).RGBA()
				if d := int(rv>>8) - int(img.Y[y*img.W+x]); d > 24 || d < -24 {
					off++
				}
			}
		}
		if off > img.W*img.H/100 {
			t.Errorf("%s: %d of %d pixels differ from the reference by more than 24", tc.file, off, img.W*img.H)
		}
	}
}

func TestLabelShape(t *testing.T) {
	r := newTestRenderer(t)
	short, long := r.Label("Al", 32, 1000), r.Label("Alexandra", 32, 1000)
	if short == nil || long == nil || long.W <= short.W {
		t.Fatalf("a longer name's label is not wider: %v %v", short, long)
	}
	// The box is dark and the text bright, and chroma stays neutral.
	var bright, dark int
	for _, v := range long.Y {
		switch {
		case v > 200:
			bright++
		case v < 40:
			dark++
		}
	}
	if bright < len(long.Y)/30 || dark < len(long.Y)/2 {
		t.Errorf("label luma: %d bright and %d dark of %d pixels", bright, dark, len(long.Y))
	}
	for i := range long.U {
		if long.U[i] != 128 || long.V[i] != 128 {
			t.Fatalf("label chroma (%d, %d) at %d, want neutral", long.U[i], long.V[i], i)
		}
	}
	if r.Label("Alexandra", 32, 1000) != long {
		t.Error("the same label was rendered again instead of coming from the cache")
	}
	for _, tc := range []struct {
		text    string
		h, maxW int
	}{{"", 32, 100}, {"x", 4, 100}, {"Alexandra", 32, 20}} {
		if img := r.Label(tc.text, tc.h, tc.maxW); img != nil {
			t.Errorf("Label(%q, %d, %d) = %dx%d, want nothing", tc.text, tc.h, tc.maxW, img.W, img.H)
		}
	}
}

func TestInitialsAndMarker(t *testing.T) {
	r := newTestRenderer(t)
	bg := YUV{120, 90, 170}
	img := r.Initials("Ada Lovelace", 320, 180, bg, 0)
	if img.W != 320 || img.H != 180 {
		t.Fatalf("initials %dx%d", img.W, img.H)
	}
	if img.Y[0] != bg[0] || img.U[0] != bg[1] || img.V[0] != bg[2] {
		t.Errorf("corner (%d,%d,%d), want the tile's colour %v", img.Y[0], img.U[0], img.V[0], bg)
	}
	white := 0
	for _, v := range img.Y {
		if v > 220 {
			white++
		}
	}
	if white < 320*180/100 {
		t.Errorf("%d white pixels: the initials are missing", white)
	}
	m := r.MutedMic(32)
	// Chroma (10, 8): right of the capsule, inside the badge: red. The
	// capsule itself (luma (16, 10)) is white; a corner is the box's.
	if v := m.V[8*16+10]; v < 200 {
		t.Errorf("marker chroma V %d inside the badge, want red", v)
	}
	if y := m.Y[10*32+16]; y < 200 {
		t.Errorf("marker luma %d on the capsule, want white", y)
	}
	if y := m.Y[0]; y != LabelBox[0] {
		t.Errorf("marker corner luma %d, want the box's %d", y, LabelBox[0])
	}
}

func TestBlit(t *testing.T) {
	const w, h = 16, 8
	for _, tc := range []struct {
		name string
		x, y int
		want int // luma pixels set
	}{
		{"inside", 2, 2, 4 * 4},
		{"odd corner rounds down", 3, 3, 4 * 4},
		{"clipped right and bottom", 14, 6, 2 * 2},
		{"clipped left and top", -2, -2, 2 * 2},
		{"outside", 20, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var planes [3][]byte
			planes[0], planes[1], planes[2] = make([]byte, w*h), make([]byte, w*h/4), make([]byte, w*h/4)
			lines := [3]int{w, w / 2, w / 2}
			img := newImage(4, 4)
			fillPlanes(img, YUV{200, 10, 20})
			Blit(planes, lines, w, h, img, tc.x, tc.y)
			n := 0
			for _, v := range planes[0] {
				if v == 200 {
					n++
				}
			}
			c := 0
			for i := range planes[1] {
				if planes[1][i] == 10 && planes[2][i] == 20 {
					c++
				}
			}
			if n != tc.want || c != tc.want/4 {
				t.Errorf("%d luma and %d chroma pixels set, want %d and %d", n, c, tc.want, tc.want/4)
			}
		})
	}
}

func BenchmarkBlitLabel(b *testing.B) {
	r, _ := NewRenderer()
	img := r.Label("Ada Lovelace", 32, 400)
	const w, h = 1920, 1080
	planes := [3][]byte{make([]byte, w*h), make([]byte, w*h/4), make([]byte, w*h/4)}
	lines := [3]int{w, w / 2, w / 2}
	b.ReportAllocs()
	for b.Loop() {
		Blit(planes, lines, w, h, img, 100, 900)
	}
}
