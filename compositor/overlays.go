package compositor

import (
	"image"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/overlay"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/room"
)

// Overlays are what is drawn over the tiles. The zero value draws none.
type Overlays struct {
	Labels        bool // each tile's peer name, bottom left
	MutedMarker   bool // a muted-microphone badge beside the name
	SpeakerBorder bool // a border around whoever speaks now
	Initials      bool // a peer without video shows their initials
}

func (o Overlays) any() bool { return o.Labels || o.MutedMarker || o.SpeakerBorder || o.Initials }

// highlight is the speaker border's colour: amber (RGB 255, 200, 0).
var highlight = overlay.YUV{182, 32, 166}

// overlayState is what a tile's overlays show; a change redraws the tile.
type overlayState struct {
	name     string
	micMuted bool
	speaking bool
}

// overlayStateLocked is what tile t's overlays should show now. Called
// with mu held.
func (c *Compositor) overlayStateLocked(t *tile) overlayState {
	o := c.cfg.Overlays
	var s overlayState
	p := c.peers[t.info.PeerID]
	if p == nil {
		return s
	}
	if o.Labels || o.Initials {
		s.name = p.peer.Name
		if s.name == "" {
			s.name = p.peer.ID
		}
	}
	if t.info.TrackID != "" {
		// A screen share's tile: the name alone.
		return s
	}
	if o.MutedMarker {
		s.micMuted = c.micMutedLocked(t.info.PeerID)
	}
	if o.SpeakerBorder {
		s.speaking = c.speaker.Speaking(t.info.PeerID)
	}
	return s
}

// micMutedLocked reports whether the peer has a microphone and all of it
// is muted.
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

// drawOverlays paints tile t's overlays over what draw put in its
// rectangle: rows copied from cached images, and the border's four bars.
func (t *tile) drawOverlays(canvas canvasPlanes, r *overlay.Renderer, o Overlays) error {
	rect := t.rect
	planes, lines := canvas.planes, canvas.lines
	s := t.ov
	// Sized by the tile's 16:9 extent, so that tall portrait tiles do not
	// get labels wider than themselves.
	unit := labelUnit(rect)
	margin := evenDown(unit / 4)
	x := rect.Min.X + margin
	y := rect.Max.Y - margin - unit
	if o.Labels && s.name != "" {
		if img := r.Label(s.name, unit, rect.Dx()-2*margin-unit); img != nil && y >= rect.Min.Y {
			overlay.Blit(planes, lines, rect.Max.X, rect.Max.Y, img, x, y)
			x += img.W + margin
		}
	}
	if s.micMuted && y >= rect.Min.Y && x+unit <= rect.Max.X {
		overlay.Blit(planes, lines, rect.Max.X, rect.Max.Y, r.MutedMic(unit), x, y)
	}
	if s.speaking {
		th := evenDown(max(2, min(rect.Dx(), rect.Dy())/60))
		for _, b := range [4]image.Rectangle{
			image.Rect(rect.Min.X, rect.Min.Y, rect.Max.X, rect.Min.Y+th),
			image.Rect(rect.Min.X, rect.Max.Y-th, rect.Max.X, rect.Max.Y),
			image.Rect(rect.Min.X, rect.Min.Y+th, rect.Min.X+th, rect.Max.Y-th),
			image.Rect(rect.Max.X-th, rect.Min.Y+th, rect.Max.X, rect.Max.Y-th),
		} {
			if err := avframe.Fill(canvas.frame, b.Min.X, b.Min.Y, b.Dx(), b.Dy(), highlight[0], highlight[1], highlight[2]); err != nil {
				return err
			}
		}
	}
	return nil
}

// canvasPlanes is the canvas with its planes, looked up once.
type canvasPlanes struct {
	frame  *astiav.Frame
	planes [3][]byte
	lines  [3]int
}

// drawTile draws tile t's picture or placeholder, then its overlays. Run's
// goroutine only.
func (c *Compositor) drawTile(t *tile) error {
	o := c.cfg.Overlays
	if t.rect.Empty() {
		return nil
	}
	if t.seq == 0 && o.Initials && t.ov.name != "" {
		img := c.overlays.Initials(t.ov.name, t.rect.Dx(), t.rect.Dy(), overlay.YUV(t.color))
		overlay.Blit(c.cv.planes, c.cv.lines, t.rect.Max.X, t.rect.Max.Y, img, t.rect.Min.X, t.rect.Min.Y)
	} else if err := t.draw(c.canvas); err != nil {
		return err
	}
	if !o.any() {
		return nil
	}
	return t.drawOverlays(c.cv, c.overlays, o)
}

// refreshOverlaysLocked marks for redrawing the tiles whose overlays
// changed (a name, a mute, who speaks). Called with mu held.
func (c *Compositor) refreshOverlaysLocked() {
	if !c.cfg.Overlays.any() {
		return
	}
	for _, t := range c.tiles {
		if s := c.overlayStateLocked(t); s != t.ov {
			t.ov, t.drawn = s, false
		}
	}
}

// labelUnit is the height of a tile's label and marker.
func labelUnit(r image.Rectangle) int {
	return evenDown(max(16, min(40, min(r.Dy(), r.Dx()*9/16)/8)))
}
