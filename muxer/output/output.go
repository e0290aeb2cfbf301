package output

import (
	"context"
	"time"
)

// StreamKind tells a packet's stream.
type StreamKind int

// Streams of the encoded output.
const (
	Video StreamKind = iota
	Audio
)

func (k StreamKind) String() string {
	if k == Video {
		return "video"
	}
	return "audio"
}

// Rational is a time base: Num/Den seconds per tick.
type Rational struct{ Num, Den int }

// VideoInfo describes the encoded video stream: H.264, Annex B.
type VideoInfo struct {
	Width, Height int
	FPS           int
	TimeBase      Rational // 1/FPS: a frame's PTS is its index
	Bitrate       int      // bits per second
	// SPS and PPS as Annex-B NAL units (start codes included), as libx264
	// puts them in its extradata.
	Extradata []byte
}

// AudioInfo describes the encoded audio stream: AAC-LC, raw frames.
type AudioInfo struct {
	SampleRate int
	Channels   int
	TimeBase   Rational // 1/SampleRate
	Bitrate    int
	// AudioSpecificConfig.
	Extradata []byte
}

// StreamInfo describes both encoded streams. Every output receives the same.
// An audio-only job has no video stream: its Video is the zero VideoInfo,
// and no packet is of Kind Video.
type StreamInfo struct {
	Video VideoInfo
	Audio AudioInfo
}

// HasVideo reports whether there is a video stream; sinks write only the
// audio track when there is not.
func (s *StreamInfo) HasVideo() bool { return s.Video.Width > 0 }

// Packet is one encoded access unit. Packets are shared by every output and
// must not be modified. Video data is Annex B (start codes, SPS/PPS repeated
// before every keyframe); audio data is one raw AAC frame.
type Packet struct {
	Kind     StreamKind
	PTS, DTS int64 // in the stream's TimeBase
	Duration int64 // in the stream's TimeBase
	Key      bool  // a video keyframe (IDR); always true for audio
	Data     []byte
}

// Time returns the packet's presentation time on the job's output timeline.
func (p *Packet) Time(info *StreamInfo) time.Duration {
	tb := info.Video.TimeBase
	if p.Kind == Audio {
		tb = info.Audio.TimeBase
	}
	return time.Duration(p.PTS) * time.Second * time.Duration(tb.Num) / time.Duration(tb.Den)
}

// Sink is one output destination (an archive file, an RTMP URL, HLS). The
// fan-out calls it from that output's own goroutine, so Write may block for as
// long as the destination needs without holding up the encoder or the other
// outputs; the fan-out drops whole GOPs for a sink that falls behind.
//
// Open is called once, before the first Write. Write returns an error only
// when the sink has given up for good; a sink that reconnects does so inside
// Write and reports how it goes through the Reporter given to Open. Close
// flushes and finalizes; it is called once, after the last Write, even if
// Open or Write failed.
type Sink interface {
	Open(ctx context.Context, info StreamInfo, r Reporter) error
	Write(ctx context.Context, p *Packet) error
	Close() error
}

// Reporter receives a sink's own view of its state: whether it is running
// (connected and accepting media), retries so far, and the last error (nil
// when healthy). The fan-out merges this with the bytes it counts.
type Reporter interface {
	Report(s SinkState)
}

// SinkState is what a sink reports about itself.
type SinkState struct {
	Running bool
	Retries int
	Err     error
}

// ReporterFunc adapts a function to Reporter.
type ReporterFunc func(SinkState)

// Report implements Reporter.
func (f ReporterFunc) Report(s SinkState) { f(s) }

// ByteCounter is implemented by sinks that can say how many bytes actually
// reached their destination. The fan-out reports that instead of the bytes
// it handed over, which differ for a sink that drops packets while it
// reconnects.
type ByteCounter interface {
	BytesWritten() int64
}
