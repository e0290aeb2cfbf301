package overlay

import (
	"fmt"
	"image"
	"image/draw"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// YUV is a colour as the canvas stores it (BT.601, limited range).
type YUV [3]byte

// Colours of the overlays.
var (
	LabelText = YUV{235, 128, 128} // white
	LabelBox  = YUV{32, 128, 128}  // near black
)

// maxCached bounds the cache; a job shows at most a few hundred distinct
// overlays (49 tiles, each a label and maybe initials, per size).
const maxCached = 512

// Renderer renders overlays and caches them by what they show. Its methods
// are safe from any goroutine.
type Renderer struct {
	font *opentype.Font

	mu    sync.Mutex
	faces map[int]font.Face // by pixel height
	cache map[cacheKey]*Image
}

type cacheKey struct {
	kind   byte
	text   string
	w, h   int
	size   int
	fg, bg YUV
}

// NewRenderer returns a Renderer with the embedded Go Medium font.
func NewRenderer() (*Renderer, error) {
	f, err := opentype.Parse(gomedium.TTF)
	if err != nil {
		return nil, fmt.Errorf("overlay: parsing the embedded font: %w", err)
	}
	return &Renderer{font: f, faces: map[int]font.Face{}, cache: map[cacheKey]*Image{}}, nil
}

// Label renders text in a box height pixels tall, no wider than maxW
// (text that does not fit ends in "…"). It returns nil if nothing fits.
func (r *Renderer) Label(text string, height, maxW int) *Image {
	text = strings.TrimSpace(text)
	if text == "" || height < 8 || maxW < height {
		return nil
	}
	return r.cached(cacheKey{kind: 'l', text: text, w: maxW, h: height, fg: LabelText, bg: LabelBox}, func() *Image {
		face := r.face(height * 5 / 8)
		pad := height / 3
		text := fit(face, text, maxW-2*pad)
		if text == "" {
			return nil
		}
		tw := font.MeasureString(face, text).Ceil()
		img := r.text(face, text, tw+2*pad, height, LabelText, LabelBox)
		return img
	})
}

// Initials renders name's initials, centred, size pixels tall (0: two
// fifths of the field), on a w x h field of bg: the tile of a peer without
// video.
func (r *Renderer) Initials(name string, w, h int, bg YUV, size int) *Image {
	if w < 8 || h < 8 {
		return nil
	}
	if size <= 0 {
		size = min(h*2/5, w*2/5)
	}
	size = min(size, h*4/5, w/2)
	in := Initials(name)
	return r.cached(cacheKey{kind: 'i', text: in, w: w, h: h, size: size, fg: LabelText, bg: bg}, func() *Image {
		if in == "" || size < 6 {
			img := newImage(w, h)
			fillPlanes(img, bg)
			return img
		}
		face := r.face(size)
		return r.text(face, in, w, h, LabelText, bg)
	})
}

// MutedMic renders the muted-microphone marker, a size x size badge.
func (r *Renderer) MutedMic(size int) *Image {
	if size < 8 {
		return nil
	}
	red := YUV{81, 90, 240}
	return r.cached(cacheKey{kind: 'm', w: size, h: size, fg: LabelText, bg: red}, func() *Image {
		return mutedMic(size, red, LabelText)
	})
}

func (r *Renderer) cached(k cacheKey, render func() *Image) *Image {
	r.mu.Lock()
	defer r.mu.Unlock()
	if img, ok := r.cache[k]; ok {
		return img
	}
	img := render()
	if len(r.cache) >= maxCached {
		clear(r.cache) // rare: a job that cycles through many names or sizes
	}
	r.cache[k] = img
	return img
}

// face returns the font at px pixels; called with mu held.
func (r *Renderer) face(px int) font.Face {
	px = max(px, 4)
	if f, ok := r.faces[px]; ok {
		return f
	}
	f, err := opentype.NewFace(r.font, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		// The embedded font parsed; a face of a positive size cannot fail.
		panic(fmt.Sprintf("overlay: font face of %d px: %v", px, err))
	}
	r.faces[px] = f
	return f
}

// text renders s centred on a w x h field of bg in fg, antialiased.
func (r *Renderer) text(face font.Face, s string, w, h int, fg, bg YUV) *Image {
	img := newImage(w, h)
	mask := image.NewAlpha(image.Rect(0, 0, img.W, img.H))
	m := face.Metrics()
	tw := font.MeasureString(face, s)
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face}
	d.Dot = fixed.Point26_6{
		X: (fixed.I(img.W) - tw) / 2,
		Y: (fixed.I(img.H)-(m.Ascent+m.Descent))/2 + m.Ascent,
	}
	d.DrawString(s)
	compose(img, mask, fg, bg)
	return img
}

// compose colours img from coverage mask: bg where it is 0, fg where 255.
func compose(img *Image, mask *image.Alpha, fg, bg YUV) {
	fillPlanes(img, bg)
	paint(img, mask, fg)
}

// paint lays fg over img by coverage mask. Chroma takes the mean coverage
// of its 2x2 luma block.
func paint(img *Image, mask *image.Alpha, fg YUV) {
	lerp := func(a, b byte, c int) byte { return byte((int(a)*(255-c) + int(b)*c + 127) / 255) }
	for y := range img.H {
		for x := range img.W {
			i := y*img.W + x
			img.Y[i] = lerp(img.Y[i], fg[0], int(mask.Pix[y*mask.Stride+x]))
		}
	}
	cw := img.W / 2
	for y := range img.H / 2 {
		for x := range cw {
			m := 2*y*mask.Stride + 2*x
			c := (int(mask.Pix[m]) + int(mask.Pix[m+1]) + int(mask.Pix[m+mask.Stride]) + int(mask.Pix[m+mask.Stride+1])) / 4
			i := y*cw + x
			img.U[i] = lerp(img.U[i], fg[1], c)
			img.V[i] = lerp(img.V[i], fg[2], c)
		}
	}
}

func fillPlanes(img *Image, c YUV) {
	for i := range img.Y {
		img.Y[i] = c[0]
	}
	for i := range img.U {
		img.U[i], img.V[i] = c[1], c[2]
	}
}

// mutedMic draws a microphone with a slash across it, in fg on a round
// badge of bg; the corners outside the badge are the label box's colour.
func mutedMic(size int, bg, fg YUV) *Image {
	img := newImage(size, size)
	s := img.W
	badge := image.NewAlpha(image.Rect(0, 0, s, s))
	c := float64(s) / 2
	for y := range s {
		for x := range s {
			dx, dy := float64(x)+0.5-c, float64(y)+0.5-c
			if dx*dx+dy*dy <= c*c {
				badge.Pix[y*s+x] = 255
			}
		}
	}
	compose(img, badge, bg, LabelBox)
	icon := image.NewAlpha(image.Rect(0, 0, s, s))
	u := float64(s) / 16
	for _, r := range []image.Rectangle{
		image.Rect(int(6.5*u), int(3*u), int(9.5*u), int(9*u)),    // capsule
		image.Rect(int(7.5*u), int(9*u), int(8.5*u), int(12*u)),   // stand
		image.Rect(int(5.5*u), int(12*u), int(10.5*u), int(13*u)), // base
	} {
		draw.Draw(icon, r, image.Opaque, image.Point{}, draw.Src)
	}
	half := max(1, int(u/2))
	for i := int(3 * u); i < int(13*u); i++ { // the slash
		for t := -half; t <= half; t++ {
			if x := i + t; x >= 0 && x < s {
				icon.Pix[i*s+x] = 255
			}
		}
	}
	paint(img, icon, fg)
	return img
}

// fit shortens s with "…" until it is at most w pixels wide in face.
func fit(face font.Face, s string, w int) string {
	if font.MeasureString(face, s).Ceil() <= w {
		return s
	}
	rs := []rune(s)
	for n := len(rs) - 1; n > 0; n-- {
		t := strings.TrimRightFunc(string(rs[:n]), unicode.IsSpace) + "…"
		if font.MeasureString(face, t).Ceil() <= w {
			return t
		}
	}
	return ""
}

// Initials are the first letters of a name's first and last words,
// upper-cased: "Ada Lovelace" is "AL", "bob" is "B".
func Initials(name string) string {
	words := strings.FieldsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	switch len(words) {
	case 0:
		return ""
	case 1:
		return strings.ToUpper(string([]rune(words[0])[:1]))
	}
	first, last := []rune(words[0]), []rune(words[len(words)-1])
	return strings.ToUpper(string(first[:1]) + string(last[:1]))
}
