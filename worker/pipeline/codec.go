package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp8"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// audioRate is the sample rate the Sink takes.
const audioRate = 48000

// codecKind is the depacketizing family of a track's codec.
type codecKind int

const (
	codecVP8 codecKind = iota
	codecVP9
	codecH264
	codecAV1
	codecOpus
)

// codecOf maps a WebRTC MIME type to a codec.
func codecOf(mime string) (codecKind, error) {
	switch strings.ToLower(mime) {
	case "video/vp8":
		return codecVP8, nil
	case "video/vp9":
		return codecVP9, nil
	case "video/h264":
		return codecH264, nil
	case "video/av1":
		return codecAV1, nil
	case "audio/opus":
		return codecOpus, nil
	}
	return 0, fmt.Errorf("unsupported codec %q", mime)
}

// findDecoder picks the FFmpeg decoder. AV1 goes by name: FFmpeg 5.1's
// native av1 decoder only works with a hardware accelerator, and go-astiav
// v0.16.0 has no AV1 codec id.
func findDecoder(c codecKind) (*astiav.Codec, error) {
	var dec *astiav.Codec
	switch c {
	case codecVP8:
		dec = astiav.FindDecoder(astiav.CodecIDVp8)
	case codecVP9:
		dec = astiav.FindDecoder(astiav.CodecIDVp9)
	case codecH264:
		dec = astiav.FindDecoder(astiav.CodecIDH264)
	case codecAV1:
		for _, name := range []string{"libdav1d", "libaom-av1"} {
			if dec = astiav.FindDecoderByName(name); dec != nil {
				break
			}
		}
	case codecOpus:
		dec = astiav.FindDecoder(astiav.CodecIDOpus)
	}
	if dec == nil {
		return nil, errors.New("no FFmpeg decoder for it")
	}
	return dec, nil
}

// newDepacketizer returns the depacketizer of a video codec, and the size
// cap of its frames: mediacommon's, the largest frame real encoders make
// (8 MiB for H.264 at 50 Mbps 2160p60).
func newDepacketizer(c codecKind) (depacketizer, int) {
	switch c {
	case codecVP8:
		return &vp8Depacketizer{}, vp8.MaxFrameSize
	case codecVP9:
		return &vp9Depacketizer{}, vp9.MaxFrameSize
	case codecH264:
		return &h264Depacketizer{}, h264.MaxAccessUnitSize
	case codecAV1:
		return &av1Depacketizer{}, av1.MaxTemporalUnitSize
	}
	return nil, 0
}
