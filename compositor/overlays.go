package compositor

import (
	"image"
	"image/color"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/compositor/overlay"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/room"
)

// micMutedLocked reports whether the peer has a microphone and all of it
// is muted. Called with mu held.
func (c *Compositor) micMutedLocked(peerID string) bool {
	has, muted := false, true
	for _, ts := range c.tracks {
		if ts.info.PeerID == peerID && ts.info.Kind == room.KindAudio {
			has = true
			muted = muted && ts.muted
		}
	}
	return has && muted
}

// canvasPlanes is the canvas with its planes, looked up once.
type canvasPlanes struct {
	frame  *astiav.Frame
	planes [3][]byte
	lines  [3]int
}

// drawTile draws tile t's picture or placeholder (with initials, when its
// placement says so), its rounded corners, then its overlays. Run's
// goroutine only.
func (c *Compositor) drawTile(t *tile) error {
	if t.rect.Empty() {
		return nil
	}
	ov := t.overlay
	if t.seq == 0 && ov.Initials && t.name != "" {
		img := c.overlays.Initials(t.name, t.rect.Dx(), t.rect.Dy(), overlay.YUV(t.color), ov.InitialsSize)
		overlay.Blit(c.cv.planes, c.cv.lines, t.rect.Max.X, t.rect.Max.Y, img, t.rect.Min.X, t.rect.Min.Y)
	} else if err := t.draw(c.canvas, c.canvasBg); err != nil {
		return err
	}
	if err := t.roundCorners(c.canvas, c.canvasBg); err != nil {
		return err
	}
	return t.drawOverlays(c.cv, c.overlays)
}

// drawOverlays paints tile t's name label, muted marker and speaker border
// over what draw put in its rectangle: rows copied from cached images, and
// the border's four bars.
func (t *tile) drawOverlays(canvas canvasPlanes, r *overlay.Renderer) error {
	rect := t.rect
	ov := t.overlay
	planes, lines := canvas.planes, canvas.lines
	// Badges keep clear of the border and the rounded corner.
	inset := evenDown(max(ov.BorderWidth, t.radius/2, min(rect.Dx(), rect.Dy())/40) + 2)
	var label *overlay.Image
	if ov.NameLabel.Show && t.name != "" {
		h := evenDown(min(max(ov.NameLabel.Size, 16), 64))
		label = r.Label(t.name, h, rect.Dx()-2*inset)
	}
	var mic *overlay.Image
	if ov.MutedMic.Show {
		mic = r.MutedMic(evenDown(min(max(ov.MutedMic.Size, 16), 64)))
	}
	// A marker at the label's corner sits beside it.
	if label != nil {
		x, y := badgeAt(ov.NameLabel.Position, rect, label.W, label.H, inset)
		overlay.Blit(planes, lines, rect.Max.X, rect.Max.Y, label, x, y)
		if mic != nil && ov.MutedMic.Position == ov.NameLabel.Position {
			if x+label.W+inset/2+mic.W <= rect.Max.X-inset {
				overlay.Blit(planes, lines, rect.Max.X, rect.Max.Y, mic, x+label.W+inset/2, y+(label.H-mic.H)/2)
			}
			mic = nil
		}
	}
	if mic != nil {
		x, y := badgeAt(ov.MutedMic.Position, rect, mic.W, mic.H, inset)
		overlay.Blit(planes, lines, rect.Max.X, rect.Max.Y, mic, x, y)
	}
	if ov.Highlight && ov.BorderWidth > 0 {
		th := max(2, evenDown(ov.BorderWidth))
		col := yuvOf(ov.BorderColor)
		for _, b := range [4]image.Rectangle{
			image.Rect(rect.Min.X, rect.Min.Y, rect.Max.X, rect.Min.Y+th),
			image.Rect(rect.Min.X, rect.Max.Y-th, rect.Max.X, rect.Max.Y),
			image.Rect(rect.Min.X, rect.Min.Y+th, rect.Min.X+th, rect.Max.Y-th),
			image.Rect(rect.Max.X-th, rect.Min.Y+th, rect.Max.X, rect.Max.Y-th),
		} {
			if b.Empty() {
				continue
			}
			if err := avframe.Fill(canvas.frame, b.Min.X, b.Min.Y, b.Dx(), b.Dy(), col[0], col[1], col[2]); err != nil {
				return err
			}
		}
	}
	return nil
}

// badgeAt is where a w x h badge goes in rect at position p, inset from
// its edges.
func badgeAt(p layout.Position, rect image.Rectangle, w, h, inset int) (int, int) {
	left, right := rect.Min.X+inset, rect.Max.X-inset-w
	top, bottom := rect.Min.Y+inset, rect.Max.Y-inset-h
	centre := rect.Min.X + (rect.Dx()-w)/2
	switch p {
	case layout.TopLeft:
		return left, top
	case layout.TopRight:
		return right, top
	case layout.BottomRight:
		return right, bottom
	case layout.Top:
		return centre, top
	case layout.Bottom:
		return centre, bottom
	}
	return left, bottom
}

// yuvOf converts an sRGB colour to the canvas' limited-range BT.601 YUV.
func yuvOf(c color.RGBA) [3]byte {
	r, g, b := float64(c.R), float64(c.G), float64(c.B)
	clamp := func(v float64) byte { return byte(max(0, min(255, v+0.5))) }
	return [3]byte{
		clamp(16 + 0.257*r + 0.504*g + 0.098*b),
		clamp(128 - 0.148*r - 0.291*g + 0.439*b),
		clamp(128 + 0.439*r - 0.368*g - 0.071*b),
	}
}
