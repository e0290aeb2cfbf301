package muxer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// Defaults of EncoderConfig.
const (
	DefaultAudioBitrate = 128000
	DefaultSampleRate   = 48000
	DefaultPreset       = "veryfast"
)

// EncoderConfig configures the encoder.
type EncoderConfig struct {
	Width, Height, FPS int
	VideoBitrate       int    // bps
	AudioBitrate       int    // bps; 0 means DefaultAudioBitrate
	SampleRate         int    // Hz, stereo; 0 means DefaultSampleRate
	Preset             string // x264 preset; "" means DefaultPreset
	Threads            int    // x264 threads; 0 = auto
	// AudioOnly opens the AAC encoder alone: the video fields are
	// ignored, Info has no video stream and WriteVideo is an error.
	AudioOnly bool
	Logger    *slog.Logger
}

// PacketWriter receives encoded packets. *Fanout implements it. WritePacket
// must not block: it is called from the encoding goroutines.
type PacketWriter interface {
	WritePacket(p *output.Packet)
}

// PacketWriterFunc adapts a function to PacketWriter. It breaks the knot
// between NewEncoder, which wants a writer, and NewFanout, which wants the
// encoder's Info:
//
//	var fan *Fanout
//	enc, err := NewEncoder(cfg, PacketWriterFunc(func(p *Packet) { fan.WritePacket(p) }))
//	...
//	fan = NewFanout(enc.Info(), log) // before the first WriteVideo
type PacketWriterFunc func(p *output.Packet)

// WritePacket implements PacketWriter.
func (f PacketWriterFunc) WritePacket(p *output.Packet) { f(p) }

// EncoderStats counts what the encoder consumed and produced.
type EncoderStats struct {
	VideoFrames  int64 // frames given to WriteVideo
	VideoPackets int64
	KeyFrames    int64
	VideoBytes   int64
	AudioSamples int64 // samples per channel given to WriteAudio (plus padding)
	AudioPackets int64
	AudioBytes   int64
	// VideoEncodeTime is the time spent inside libx264, a measure of how
	// much of the frame budget encoding takes.
	VideoEncodeTime time.Duration
}

// Encoder encodes the composite video (libx264) and the mixed audio (AAC-LC)
// once, and hands every packet to a PacketWriter, synchronously from
// WriteVideo, WriteAudio and Close. Video and audio have separate locks, so
// the compositor and the mixer can write from their own goroutines without
// waiting for each other.
type Encoder struct {
	cfg  EncoderConfig
	log  *slog.Logger
	out  PacketWriter
	info output.StreamInfo

	v videoEncoder
	a audioEncoder

	stats struct {
		videoFrames, videoPackets, keyFrames, videoBytes atomic.Int64
		audioSamples, audioPackets, audioBytes           atomic.Int64
		videoEncodeNanos                                 atomic.Int64
	}
}

func (c *EncoderConfig) validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("%s %v: %s", field, v, why))
	}
	if !c.AudioOnly {
		if c.Width <= 0 || c.Width%2 != 0 {
			bad("Width", c.Width, "must be positive and even (yuv420p)")
		}
		if c.Height <= 0 || c.Height%2 != 0 {
			bad("Height", c.Height, "must be positive and even (yuv420p)")
		}
		if c.FPS <= 0 || c.FPS > 120 {
			bad("FPS", c.FPS, "must be in 1..120")
		}
		if c.VideoBitrate <= 0 {
			bad("VideoBitrate", c.VideoBitrate, "must be positive")
		}
	}
	if c.AudioBitrate < 0 {
		bad("AudioBitrate", c.AudioBitrate, "must not be negative")
	}
	if c.SampleRate != 0 {
		ok := false
		for _, r := range aacSampleRates {
			ok = ok || r == c.SampleRate
		}
		if !ok {
			bad("SampleRate", c.SampleRate, "is not an AAC sampling frequency")
		}
	}
	if c.Threads < 0 {
		bad("Threads", c.Threads, "must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("muxer: invalid encoder config: %w", errors.Join(errs...))
	}
	return nil
}

// NewEncoder opens both encoders. Info is valid as soon as it returns.
func NewEncoder(cfg EncoderConfig, out PacketWriter) (*Encoder, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("muxer: invalid encoder config: PacketWriter is nil")
	}
	if cfg.AudioBitrate == 0 {
		cfg.AudioBitrate = DefaultAudioBitrate
	}
	if cfg.SampleRate == 0 {
		cfg.SampleRate = DefaultSampleRate
	}
	if cfg.Preset == "" {
		cfg.Preset = DefaultPreset
	}
	e := &Encoder{cfg: cfg, log: loggerOrDiscard(cfg.Logger), out: out}
	e.v.lastPTS = math.MinInt64
	if cfg.AudioOnly {
		// Nothing to flush on the video side, and WriteVideo refuses.
		e.v.closed = true
	} else if err := e.openVideo(); err != nil {
		e.free()
		return nil, err
	}
	if err := e.openAudio(); err != nil {
		e.free()
		return nil, err
	}
	if cfg.AudioOnly {
		e.log.Info("encoder opened, audio only", "audio_bitrate", cfg.AudioBitrate, "sample_rate", cfg.SampleRate)
		return e, nil
	}
	e.log.Info("encoder opened",
		"width", cfg.Width, "height", cfg.Height, "fps", cfg.FPS,
		"video_bitrate", cfg.VideoBitrate, "audio_bitrate", cfg.AudioBitrate,
		"sample_rate", cfg.SampleRate, "preset", cfg.Preset)
	return e, nil
}

// Info describes the encoded streams.
func (e *Encoder) Info() output.StreamInfo { return e.info }

// Stats returns counters; safe to call from any goroutine.
func (e *Encoder) Stats() EncoderStats {
	s := &e.stats
	return EncoderStats{
		VideoFrames: s.videoFrames.Load(), VideoPackets: s.videoPackets.Load(),
		KeyFrames: s.keyFrames.Load(), VideoBytes: s.videoBytes.Load(),
		AudioSamples: s.audioSamples.Load(), AudioPackets: s.audioPackets.Load(),
		AudioBytes:      s.audioBytes.Load(),
		VideoEncodeTime: time.Duration(s.videoEncodeNanos.Load()),
	}
}

// Close flushes both encoders, emits the remaining packets and frees the
// encoders. Calling it again does nothing.
func (e *Encoder) Close() error {
	err := errors.Join(e.closeVideo(), e.closeAudio())
	e.v.mu.Lock()
	e.a.mu.Lock()
	e.free()
	e.a.mu.Unlock()
	e.v.mu.Unlock()
	st := e.Stats()
	e.log.Info("encoder closed", "video_frames", st.VideoFrames, "video_bytes", st.VideoBytes,
		"audio_packets", st.AudioPackets, "video_encode_time", st.VideoEncodeTime)
	return err
}

// free releases the FFmpeg objects of both sides; safe on a half-open
// Encoder and when called again.
func (e *Encoder) free() {
	e.v.free()
	e.a.free()
}

func loggerOrDiscard(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
