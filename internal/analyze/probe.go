package analyze

import (
	"context"
	"fmt"

	"github.com/asticode/go-astiav"
)

// MediaInfo describes a file's container and its first video and audio
// streams.
type MediaInfo struct {
	Path string
	// Duration is the container's duration in seconds.
	Duration float64
	Video    *VideoInfo // nil without a video stream
	Audio    *AudioInfo // nil without an audio stream
}

// VideoInfo describes a video stream.
type VideoInfo struct {
	Codec       string // FFmpeg codec name, e.g. "h264"
	Width       int
	Height      int
	FPS         float64 // average frame rate
	PixelFormat string
	// BT709 tells that the stream is tagged BT.709; otherwise BT.601 is
	// assumed when turning measured YUV into RGB.
	BT709     bool
	FullRange bool
}

// AudioInfo describes an audio stream.
type AudioInfo struct {
	Codec      string // FFmpeg codec name, e.g. "aac"
	Profile    string // AAC profile ("LC", "HE", …), empty for other codecs
	SampleRate int
	Channels   int
}

// Probe reads the stream parameters of the file at path.
func Probe(ctx context.Context, path string) (*MediaInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	in, err := openInput(path, false, false)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	info := &MediaInfo{Path: path}
	if d := in.fc.Duration(); d != astiav.NoPtsValue && d > 0 {
		info.Duration = float64(d) / 1e6
	}
	for _, s := range in.fc.Streams() {
		cp := s.CodecParameters()
		switch cp.MediaType() {
		case astiav.MediaTypeVideo:
			if info.Video != nil {
				continue
			}
			fps := s.AvgFrameRate()
			if fps.Num() <= 0 || fps.Den() <= 0 {
				fps = s.RFrameRate()
			}
			v := &VideoInfo{
				Codec:       cp.CodecID().Name(),
				Width:       cp.Width(),
				Height:      cp.Height(),
				PixelFormat: cp.PixelFormat().Name(),
				BT709:       cp.ColorSpace() == astiav.ColorSpaceBt709,
				FullRange: cp.ColorRange() == astiav.ColorRangeJpeg ||
					cp.PixelFormat() == astiav.PixelFormatYuvj420P,
			}
			if fps.Den() > 0 {
				v.FPS = fps.Float64()
			}
			info.Video = v
		case astiav.MediaTypeAudio:
			if info.Audio != nil {
				continue
			}
			ch := cp.ChannelLayout().NbChannels()
			if ch == 0 {
				ch = cp.Channels()
			}
			info.Audio = &AudioInfo{
				Codec:      cp.CodecID().Name(),
				Profile:    aacProfile(cp),
				SampleRate: cp.SampleRate(),
				Channels:   ch,
			}
		}
	}
	if info.Video == nil && info.Audio == nil {
		return nil, fmt.Errorf("%s: no audio or video stream", path)
	}
	return info, nil
}

// aacProfile names the AAC profile; astiav v0.16.0 has no profile names.
func aacProfile(cp *astiav.CodecParameters) string {
	if cp.CodecID() != astiav.CodecIDAac {
		return ""
	}
	switch cp.Profile() {
	case astiav.ProfileAacLow:
		return "LC"
	case astiav.ProfileAacHe:
		return "HE"
	case astiav.ProfileAacHeV2:
		return "HEv2"
	case astiav.ProfileAacMain:
		return "Main"
	case astiav.ProfileAacLd:
		return "LD"
	case astiav.ProfileAacEld:
		return "ELD"
	case astiav.ProfileAacLtp:
		return "LTP"
	case astiav.ProfileAacSsr:
		return "SSR"
	}
	return ""
}
