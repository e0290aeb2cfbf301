package layout

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"
)

// Length is a size or position: pixels, or a fraction of what it is
// measured against (the canvas for regions, the tile for overlays). In a
// document an integer is pixels (Twilio's meaning), "12px" too; a number with
// a fraction part (0.25, 1.0) or a percentage ("25%") is a fraction.
type Length struct {
	Px   int
	Frac float64
	// IsFrac says Frac, not Px, holds the value.
	IsFrac bool
	set    bool
}

// Set reports whether the document gave the value.
func (l Length) Set() bool { return l.set }

// Of resolves the length against a whole of total pixels.
func (l Length) Of(total int) int {
	if l.IsFrac {
		return int(math.Round(l.Frac * float64(total)))
	}
	return l.Px
}

func (l Length) String() string {
	if l.IsFrac {
		return strconv.FormatFloat(l.Frac*100, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(l.Px)
}

const maxPixels = 16384

func parseLength(n *node) (Length, error) {
	switch n.kind {
	case kNumber:
		if n.isInt {
			v, err := strconv.Atoi(n.s)
			if err != nil || v < -maxPixels || v > maxPixels {
				return Length{}, fmt.Errorf("%s pixels is out of range: use -%d to %d", n.s, maxPixels, maxPixels)
			}
			return Length{Px: v, set: true}, nil
		}
		f, err := strconv.ParseFloat(n.s, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return Length{}, fmt.Errorf("%s is not a fraction from 0.0 to 1.0: write pixels as an integer (640) or a fraction as 0.5 or \"50%%\"", n.s)
		}
		return Length{Frac: f, IsFrac: true, set: true}, nil
	case kString:
		s := strings.TrimSpace(n.s)
		switch {
		case strings.HasSuffix(s, "%"):
			f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, "%")), 64)
			if err != nil || math.IsNaN(f) || f < 0 || f > 100 {
				return Length{}, fmt.Errorf("%q is not a percentage from 0%% to 100%%", n.s)
			}
			return Length{Frac: f / 100, IsFrac: true, set: true}, nil
		case strings.HasSuffix(s, "px"):
			v, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(s, "px")))
			if err != nil || v < -maxPixels || v > maxPixels {
				return Length{}, fmt.Errorf("%q is not a pixel count from -%d to %d", n.s, maxPixels, maxPixels)
			}
			return Length{Px: v, set: true}, nil
		}
		return Length{}, fmt.Errorf("%q is not a length: use pixels (640 or \"640px\") or a fraction (0.5 or \"50%%\")", n.s)
	}
	return Length{}, fmt.Errorf("is %s: use pixels (640) or a fraction (0.5 or \"50%%\")", n.kind)
}

// parseColor reads #rgb, #rrggbb or #rrggbbaa.
func parseColor(s string) (color.RGBA, error) {
	h := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) == 6 {
		h += "ff"
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if len(h) != 8 || err != nil || !strings.HasPrefix(strings.TrimSpace(s), "#") {
		return color.RGBA{}, fmt.Errorf("%q is not a colour: use #rrggbb, e.g. \"#101418\"", s)
	}
	return color.RGBA{R: uint8(v >> 24), G: uint8(v >> 16), B: uint8(v >> 8), A: uint8(v)}, nil
}

// parseAspect reads "16:9" (or "1.78").
func parseAspect(s string) (float64, error) {
	bad := fmt.Errorf("%q is not an aspect ratio: write it as W:H, e.g. \"16:9\"", s)
	w, h, ok := strings.Cut(strings.TrimSpace(s), ":")
	var a float64
	if ok {
		x, err1 := strconv.ParseFloat(w, 64)
		y, err2 := strconv.ParseFloat(h, 64)
		if err1 != nil || err2 != nil || y <= 0 || x <= 0 {
			return 0, bad
		}
		a = x / y
	} else {
		x, err := strconv.ParseFloat(w, 64)
		if err != nil {
			return 0, bad
		}
		a = x
	}
	if math.IsNaN(a) || a < 0.1 || a > 10 {
		return 0, fmt.Errorf("%q is out of range: use a ratio between 1:10 and 10:1", s)
	}
	return a, nil
}
