package mediafile

import (
	"fmt"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/room"
)

// Info describes a media file: its duration, start time and every audio and
// video stream, in file order, including those no WebRTC sender can send.
type Info struct {
	Path string
	// Duration is the container's duration; 0 when it does not say.
	Duration time.Duration
	// StartTime is the container's start time (microsecond precision, as
	// FFmpeg gives it); 0 when it does not say. Opus pre-roll makes it
	// negative, a cut from a longer recording positive.
	StartTime time.Duration
	Streams   []*Stream
}

// First returns the first stream of that kind, supported or not, or nil.
func (i *Info) First(kind room.Kind) *Stream {
	for _, s := range i.Streams {
		if s.Kind == kind {
			return s
		}
	}
	return nil
}

// Stream describes one audio or video stream.
type Stream struct {
	Index int
	Kind  room.Kind
	// CodecName is FFmpeg's name for the codec ("vp8", "h264", "aac").
	CodecName string
	// Codec is the RTP codec the stream is sent as, with the payload type
	// Chrome offers for it; its MimeType is "" when WebRTC has no such
	// codec (see Supported).
	Codec         room.Codec
	Width, Height int
	// FrameRateNum/FrameRateDen is the video's nominal frame rate (0/0 when
	// the container does not say).
	FrameRateNum, FrameRateDen int
	Channels                   int // audio channels in the file
	// TimeBaseNum/TimeBaseDen is the unit of the samples' timestamps.
	TimeBaseNum, TimeBaseDen int
	PreSkip                  int // Opus pre-skip in 48 kHz samples, from the OpusHead
	// NALLength is H.264's AVCC NAL length size (1, 2 or 4); 0 for Annex B.
	NALLength int
	// ParamSets are H.264's SPS and PPS, or AV1's configOBUs (its sequence
	// header), from the extradata: what Read puts before a keyframe that
	// lacks them.
	ParamSets [][]byte
}

// Supported reports whether the stream's codec is one WebRTC sends:
// VP8, VP9, H.264 or AV1 video; Opus audio.
func (s *Stream) Supported() bool { return s.Codec.MimeType != "" }

// Seconds converts a timestamp in the stream's time base to seconds.
func (s *Stream) Seconds(ts int64) float64 {
	return float64(ts) * float64(s.TimeBaseNum) / float64(s.TimeBaseDen)
}

// Duration converts a timestamp in the stream's time base to a duration.
func (s *Stream) Duration(ts int64) time.Duration {
	return time.Duration(float64(ts) * float64(time.Second) * float64(s.TimeBaseNum) / float64(s.TimeBaseDen))
}

// Payload types as Chrome offers them, so SDP-minded code sees familiar values.
const (
	ptVP8  = 96
	ptVP9  = 98
	ptH264 = 102
	ptAV1  = 45
	ptOpus = 111
)

// describe maps a demuxed stream to its WebRTC description. It fails only
// for a supported codec it cannot send as is (no time base, bad extradata).
func describe(as *astiav.Stream) (*Stream, error) {
	cp := as.CodecParameters()
	tb := as.TimeBase()
	s := &Stream{
		Index:       as.Index(),
		Kind:        room.KindVideo,
		CodecName:   cp.CodecID().Name(),
		Width:       cp.Width(),
		Height:      cp.Height(),
		TimeBaseNum: tb.Num(),
		TimeBaseDen: tb.Den(),
	}
	if cp.MediaType() == astiav.MediaTypeAudio {
		s.Kind = room.KindAudio
		s.Channels = cp.Channels()
	}
	if fr := as.AvgFrameRate(); fr.Num() > 0 && fr.Den() > 0 {
		s.FrameRateNum, s.FrameRateDen = fr.Num(), fr.Den()
	} else if fr := as.RFrameRate(); fr.Num() > 0 && fr.Den() > 0 {
		s.FrameRateNum, s.FrameRateDen = fr.Num(), fr.Den()
	}
	extra := cp.ExtraData()
	var err error
	// Switch on FFmpeg's codec names: go-astiav v0.16.0 has no AV1 constant.
	switch s.CodecName {
	case "vp8":
		s.Codec = room.Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: ptVP8}
	case "vp9":
		s.Codec = room.Codec{MimeType: "video/VP9", ClockRate: 90000, PayloadType: ptVP9, SDPFmtpLine: "profile-id=0"}
		if p := int(cp.Profile()); p > 0 && p <= 3 {
			s.Codec.SDPFmtpLine = fmt.Sprintf("profile-id=%d", p)
		}
	case "h264":
		s.Codec = room.Codec{MimeType: "video/H264", ClockRate: 90000, PayloadType: ptH264}
		if s.NALLength, s.ParamSets, err = h264ParamSets(extra); err != nil {
			return nil, fmt.Errorf("stream #%d is H.264 with bad extradata (%w)", s.Index, err)
		}
		s.Codec.SDPFmtpLine = h264Fmtp(s.ParamSets)
	case "av1":
		s.Codec = room.Codec{MimeType: "video/AV1", ClockRate: 90000, PayloadType: ptAV1}
		s.ParamSets = av1ConfigOBUs(extra)
	case "opus":
		s.Codec = room.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, PayloadType: ptOpus, SDPFmtpLine: "minptime=10;useinbandfec=1"}
		s.PreSkip = opusPreSkip(extra)
	}
	if s.Supported() && (s.TimeBaseNum <= 0 || s.TimeBaseDen <= 0) {
		return nil, fmt.Errorf("stream #%d has no time base", s.Index)
	}
	return s, nil
}
