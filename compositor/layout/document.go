package layout

import (
	"image/color"
)

// Document is a validated layout document.
type Document struct {
	// Name and Description describe the layout (presets have both).
	Name        string
	Description string
	// Background fills the canvas behind and between the tiles.
	Background color.RGBA
	// Gap is the space between tiles and along the canvas edge; a fraction is
	// of the canvas' shorter side.
	Gap Length
	// Radius rounds the tiles' corners; a fraction is of the tile's shorter
	// side.
	Radius Length
	// Fit is how a camera fills its tile; screen shares are contained unless
	// their region says otherwise.
	Fit Fit
	// Screenshare says whether a running screen share takes over the stage.
	Screenshare Screenshare
	Overlays    Overlays

	// VideoLayout is Twilio's video_layout: the regions, in document order.
	VideoLayout []Region
	// The variants, each optional: a portrait canvas (height > width) uses
	// the portrait ones, a running screen share the screen-share ones.
	PortraitVideoLayout       []Region
	ScreenshareLayout         []Region
	PortraitScreenshareLayout []Region

	// Twilio's composition fields, kept for the caller (roomcast's own flags
	// decide them when given).
	AudioSources         []string
	AudioSourcesExcluded []string
	Trim                 *bool
	Resolution           string
	Format               string

	tree *node // the document as written, for printing
}

// Region is one of video_layout's named regions.
type Region struct {
	Name string
	// Twilio's fields.
	X, Y, Width, Height  Length // Width/Height unset: to the canvas' edge
	Z                    int
	MaxColumns, MaxRows  int // 0: no limit
	CellsExcluded        []int
	Reuse                Reuse
	VideoSources         []string
	VideoSourcesExcluded []string
	include, exclude     []pattern
	excluded             map[int]bool
	// roomcast's fields.
	Order         Order
	Compact       bool
	TileAspect    float64 // 0: cells fill the region (Twilio)
	CenterLastRow bool
	Fit           Fit    // "" : the document's
	Radius        Length // unset: the document's
}

// Fit is how a source fills its tile.
type Fit string

// Fits.
const (
	FitCover   Fit = "cover"   // fill the tile, cropping the overflow
	FitContain Fit = "contain" // all of the picture, letterboxed
)

// Reuse is Twilio's rule for a region with more sources than cells.
type Reuse string

// Reuse modes.
const (
	ReuseNone       Reuse = "none"        // a source that finds no free cell is never shown
	ReuseShowOldest Reuse = "show_oldest" // the earliest joined are shown (Twilio's default)
	ReuseShowNewest Reuse = "show_newest" // the latest joined are shown
)

// Order is how a region's sources compete for its cells.
type Order string

// Orders.
const (
	OrderJoin    Order = "join"    // by join order, with reuse deciding (Twilio)
	OrderSpeaker Order = "speaker" // the active speaker first, then the most recent speakers
)

// Screenshare is whether a screen share takes over the stage.
type Screenshare string

// Screenshare modes.
const (
	ScreenshareStage Screenshare = "stage" // while a share runs, use the screen-share layout
	ScreenshareOff   Screenshare = "off"   // screens are sources like any other
)

// Position is where an overlay sits in its tile.
type Position string

// Positions.
const (
	TopLeft     Position = "top_left"
	TopRight    Position = "top_right"
	BottomLeft  Position = "bottom_left"
	BottomRight Position = "bottom_right"
	Top         Position = "top"
	Bottom      Position = "bottom"
)

// Overlays are the tile decorations' settings. The engine only passes them
// on; the compositor draws them.
type Overlays struct {
	// NameLabel: the peer's name on its tile.
	NameLabel Badge
	// MutedMic: a marker on the tile of a peer whose microphone is muted.
	MutedMic Badge
	// SpeakerBorder: a border around the active speaker's tile.
	SpeakerBorder Border
	// Initials: a peer without video shows its initials on a colour derived
	// from its id.
	Initials Initials
}

// Badge is a label or marker: shown or not, where, and how big (a fraction
// is of the tile's height).
type Badge struct {
	Show     bool
	Position Position
	Size     Length
}

// Border is the speaker highlight.
type Border struct {
	Show  bool
	Color color.RGBA
	Width Length // a fraction is of the tile's shorter side
}

// Initials is the placeholder for a peer without video.
type Initials struct {
	Show bool
	Size Length // a fraction is of the tile's height
}

// defaultOverlays are used for what a document leaves out.
func defaultOverlays() Overlays {
	return Overlays{
		NameLabel:     Badge{Show: true, Position: BottomLeft, Size: Length{Frac: 0.06, IsFrac: true}},
		MutedMic:      Badge{Show: true, Position: TopRight, Size: Length{Frac: 0.08, IsFrac: true}},
		SpeakerBorder: Border{Show: true, Color: color.RGBA{R: 0x3d, G: 0xdc, B: 0x84, A: 0xff}, Width: Length{Px: 4}},
		Initials:      Initials{Show: true, Size: Length{Frac: 0.3, IsFrac: true}},
	}
}
