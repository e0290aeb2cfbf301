package browser

import (
	"context"
	"fmt"
)

// Page is one tab: one LiveKit participant.
type Page struct {
	b    *Browser
	name string
}

// Name is the tab's name, as Open was given it.
func (p *Page) Name() string { return p.name }

func (p *Page) call(ctx context.Context, fn string, result any, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return p.b.call(ctx, map[string]any{"op": "call", "page": p.name, "fn": fn, "args": args}, result)
}

// JoinOptions are what Join publishes. The zero value publishes camera and
// microphone at 640x360, 30 fps, with the SDK's defaults otherwise
// (simulcast, dynacast, RED audio).
type JoinOptions struct {
	NoCamera, NoMic bool
	Width, Height   int
	FPS             int
}

// Joined is what the page reports once it has joined and published.
type Joined struct {
	SID      string `json:"sid"`
	Identity string `json:"identity"`
}

// Join connects the tab to a LiveKit room (wsURL as lktest.Server.WSURL
// gives it, token minted by the test) and publishes its camera and
// microphone. A tab that left may Join again: that is a rejoin.
func (p *Page) Join(ctx context.Context, wsURL, token string, o JoinOptions) (Joined, error) {
	var j Joined
	opts := map[string]any{"camera": !o.NoCamera, "mic": !o.NoMic}
	if o.Width > 0 && o.Height > 0 {
		opts["width"], opts["height"] = o.Width, o.Height
	}
	if o.FPS > 0 {
		opts["fps"] = o.FPS
	}
	err := p.call(ctx, "join", &j, wsURL, token, opts)
	return j, err
}

// Leave disconnects the participant as the app's leave button would.
func (p *Page) Leave(ctx context.Context) error { return p.call(ctx, "leave", nil) }

// MuteCamera mutes (true) or unmutes the published camera track.
func (p *Page) MuteCamera(ctx context.Context, muted bool) error {
	return p.call(ctx, "muteCamera", nil, muted)
}

// MuteMic mutes (true) or unmutes the published microphone track.
func (p *Page) MuteMic(ctx context.Context, muted bool) error {
	return p.call(ctx, "muteMic", nil, muted)
}

// ScreenShare starts (true) or stops a screen share from Chromium's fake
// display capture (getDisplayMedia). It reports whether a screen track is
// published afterwards.
func (p *Page) ScreenShare(ctx context.Context, on bool) (bool, error) {
	var ok bool
	err := p.call(ctx, "screenShare", &ok, on)
	return ok, err
}

// CloseTab closes the tab without leaving: the server only finds out when
// the connection goes quiet.
func (p *Page) CloseTab(ctx context.Context) error {
	return p.b.call(ctx, map[string]any{"op": "close", "page": p.name}, nil)
}

// Layer is one simulcast layer the camera sends, from its sender's stats.
type Layer struct {
	RID    string  `json:"rid"`
	SSRC   uint32  `json:"ssrc"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Frames int     `json:"frames"`
	FPS    float64 `json:"fps"`
	// Active is false for a layer the SFU paused (dynacast: no subscriber
	// wants it); Limitation is WebRTC's qualityLimitationReason (cpu,
	// bandwidth, none).
	Active     bool   `json:"active"`
	Limitation string `json:"limitation"`
}

// SenderLayers reports the camera's layers as the browser sends them.
func (p *Page) SenderLayers(ctx context.Context) ([]Layer, error) {
	var ls []Layer
	err := p.call(ctx, "senderStats", &ls)
	return ls, err
}

// StartProbe starts measuring the source's own A/V offset in the page:
// flashes and beeps as captured, before the encoders.
func (p *Page) StartProbe(ctx context.Context) error { return p.call(ctx, "startProbe", nil) }

// SourcePair is one flash and its beep as the page captured them, on the
// capture clock (ms).
type SourcePair struct {
	Flash    float64 `json:"flash"`
	Beep     float64 `json:"beep"`
	OffsetMs float64 `json:"offsetMs"`
	// SlipMs is how far the microphone's capture times had moved from
	// its sample count at the beep, since the probe started: the encoder
	// stamps audio by the samples, so OffsetMs − SlipMs is the offset by
	// the samples' clock.
	SlipMs float64 `json:"slipMs"`
}

// SourceSync is the probe's result: offsets are beep − flash, positive when
// the browser's audio is late.
type SourceSync struct {
	Pairs        []SourcePair `json:"pairs"`
	RawFlashes   []float64    `json:"rawFlashes"`
	RawBeeps     []float64    `json:"rawBeeps"`
	MeanOffsetMs float64      `json:"meanOffsetMs"`
	Flashes      int          `json:"flashes"`
	// SkippedFlashes were left out: the frame before them was not
	// presented, so the flash's start is not known to a frame.
	SkippedFlashes int `json:"skippedFlashes"`
	Beeps          int `json:"beeps"`
	VideoFrames    int `json:"videoFrames"`
	AudioChunks    int `json:"audioChunks"`
	// SlipMinMs and SlipMaxMs bound the microphone's capture times
	// against its sample count over the probe (see SourcePair.SlipMs).
	SlipMinMs float64 `json:"slipMinMs"`
	SlipMaxMs float64 `json:"slipMaxMs"`
	// Skew has, per kind, the first frame's capture timestamp and the
	// page's clock when the probe got it (ms): how far apart they are
	// tells whether the two kinds share a clock.
	Skew []struct {
		Kind string  `json:"kind"`
		TS   float64 `json:"ts"`
		Now  float64 `json:"now"`
	} `json:"skew"`
}

// Probe returns what the probe measured so far; with stop, it stops it.
func (p *Page) Probe(ctx context.Context, stop bool) (SourceSync, error) {
	var s SourceSync
	if err := p.call(ctx, "probeResult", &s, stop); err != nil {
		return s, err
	}
	if len(s.Pairs) == 0 {
		return s, fmt.Errorf("browser: %s: the probe paired no flash with a beep (%d flashes, %d beeps in %d frames and %d audio chunks)",
			p.name, s.Flashes, s.Beeps, s.VideoFrames, s.AudioChunks)
	}
	return s, nil
}
