package compositor

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
)

// Defaults and bounds of a Config.
const (
	DefaultLatency    = 200 * time.Millisecond
	DefaultSampleRate = 48000
	MaxLatency        = 5 * time.Second
	minSide           = 16
	maxSide           = 8192
	maxFPS            = 120
	// DefaultAudioTicks is an audio-only compositor's rate when its FPS is
	// 0: 40 ms of mix per wake-up, a fifth of the default latency.
	DefaultAudioTicks = 25
)

// Config configures a Compositor.
type Config struct {
	Width, Height int // even; the output canvas, yuv420p
	FPS           int // integer output frame rate
	SampleRate    int // 0 means 48000
	// Latency is how far media time trails output time: output time T shows
	// media time T-Latency, so packets that arrive a little late still make
	// it. 0 means DefaultLatency.
	Latency time.Duration
	// Layout is the layout document (nil: the grid preset); its overlays
	// say what is drawn over the tiles.
	Layout *layout.Document
	Logger *slog.Logger
	// OnTileSize, if set, is told the size a video track is shown at
	// whenever that changes, so that a room with simulcast can send the
	// layer that fits. It is called from Run's goroutine and must not block.
	OnTileSize func(trackID string, width, height int)
	// AudioOnly mixes the audio alone: video tracks are ignored, nothing
	// is drawn, and Output.WriteVideo is never called. Width, Height and
	// Layout do not apply; FPS is the rate the mix is written at (0 means
	// DefaultAudioTicks).
	AudioOnly bool
}

// withDefaults validates c and fills in its defaults. Errors name the field
// and say what to do.
func (c Config) withDefaults() (Config, error) {
	if c.AudioOnly && c.FPS == 0 {
		c.FPS = DefaultAudioTicks
	}
	for _, s := range []struct {
		name string
		v    int
		eg   int
	}{{"Width", c.Width, 1280}, {"Height", c.Height, 720}} {
		if c.AudioOnly {
			break
		}
		if s.v < minSide || s.v > maxSide {
			return c, fmt.Errorf("compositor: Config.%s %d is out of range: use %d..%d, such as %d", s.name, s.v, minSide, maxSide, s.eg)
		}
		if s.v%2 != 0 {
			return c, fmt.Errorf("compositor: Config.%s %d is odd: yuv420p needs an even size, such as %d", s.name, s.v, s.v-1)
		}
	}
	if c.FPS < 1 || c.FPS > maxFPS {
		return c, fmt.Errorf("compositor: Config.FPS %d is out of range: use 1..%d, such as 30", c.FPS, maxFPS)
	}
	if c.SampleRate == 0 {
		c.SampleRate = DefaultSampleRate
	}
	if c.SampleRate < 8000 || c.SampleRate > 192000 {
		return c, fmt.Errorf("compositor: Config.SampleRate %d is out of range: use 8000..192000, such as 48000", c.SampleRate)
	}
	if c.Latency == 0 {
		c.Latency = DefaultLatency
	}
	if c.Latency < 0 || c.Latency > MaxLatency {
		return c, fmt.Errorf("compositor: Config.Latency %v is out of range: use 0 (the default %v) up to %v", c.Latency, DefaultLatency, MaxLatency)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Output receives the composed streams; the encoder implements it. Its
// methods are called only from Run's goroutine, video then audio for each
// frame (audio alone with Config.AudioOnly).
type Output interface {
	// WriteVideo gets frame n (pts n in 1/FPS), yuv420p Width x Height. The
	// frame and its pixels are valid only during the call: the compositor
	// draws the next frame into the same buffer.
	WriteVideo(f *astiav.Frame, pts int64) error
	// WriteAudio gets the frame's audio: SampleRate/FPS stereo samples (the
	// remainder spread so the running total is exact), interleaved float32
	// in [-1, 1], pts in samples (1/SampleRate). The slice is reused after
	// the call.
	WriteAudio(samples []float32, pts int64) error
}

// Stats is a snapshot of a Compositor's counters.
type Stats struct {
	Frames       int64 // video frames written
	AudioSamples int64 // stereo samples written (per channel)
	// LateTicks counts frames that started more than a frame duration after
	// their time: the machine could not keep up. They are still emitted.
	LateTicks    int64
	Tiles        int // tiles in the current layout
	Peers        int
	VideoSources int
	AudioSources int
	// DroppedFrames counts video frames dropped from a full queue before
	// their time. (Frames overtaken by a newer one, as from a source faster
	// than FPS, are not counted.)
	DroppedFrames int64
	// DuplicatedFrames counts frames that repeat the previous picture
	// because no tile that shows video had a new frame: its sources sent
	// slower than FPS, or stalled.
	DuplicatedFrames int64
	// LateAudio counts samples that arrived after their window was mixed.
	LateAudio int64
	// OverflowAudio counts samples dropped for being too far ahead of the
	// output to buffer.
	OverflowAudio int64
	// DrawErrors counts tiles that could not be scaled and showed a
	// placeholder instead.
	DrawErrors int64
	// FirstVideoFrame is the index of the first output frame that showed a
	// peer's video rather than placeholders, or -1 before there is one. It
	// is what start latency is measured to.
	FirstVideoFrame int64
}
