package tracks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/asticode/go-astiav"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// codec is what a track's container needs to know of its codec.
type codec struct {
	mime   string // lower case
	video  bool
	format string // FFmpeg muxer
	ext    string
}

func codecOf(mime string) (codec, error) {
	m := strings.ToLower(mime)
	switch m {
	case "video/vp8", "video/vp9", "video/av1":
		return codec{mime: m, video: true, format: "webm", ext: ".webm"}, nil
	case "video/h264":
		return codec{mime: m, video: true, format: "mp4", ext: ".mp4"}, nil
	case "audio/opus":
		return codec{mime: m, format: "webm", ext: ".webm"}, nil
	}
	return codec{}, fmt.Errorf("codec %s cannot be recorded as a track (VP8, VP9, AV1, H.264 and Opus can)", mime)
}

// params fills the stream's codec parameters from the first frame: a video
// keyframe, or the first Opus packet.
func (c codec) params(cp *astiav.CodecParameters, first []byte) error {
	if !c.video {
		return opusParams(cp, first)
	}
	cp.SetMediaType(astiav.MediaTypeVideo)
	var w, h int
	switch c.mime {
	case "video/vp8":
		cp.SetCodecID(astiav.CodecIDVp8)
		// RFC 6386 9.1: a keyframe's 3-byte tag, the start code 9d 01 2a,
		// then 14-bit width and height (the top 2 bits are scaling).
		if len(first) < 10 || first[3] != 0x9d || first[4] != 0x01 || first[5] != 0x2a {
			return errors.New("vp8 keyframe without its start code")
		}
		w = int(binary.LittleEndian.Uint16(first[6:]) & 0x3fff)
		h = int(binary.LittleEndian.Uint16(first[8:]) & 0x3fff)
	case "video/vp9":
		cp.SetCodecID(astiav.CodecIDVp9)
		var hd vp9.Header
		if err := hd.Unmarshal(first); err != nil {
			return fmt.Errorf("vp9 keyframe header: %w", err)
		}
		w, h = hd.Width(), hd.Height()
	case "video/av1":
		id, seq, err := av1Params(first)
		if err != nil {
			return err
		}
		cp.SetCodecID(id)
		var sh av1.SequenceHeader
		if err := sh.Unmarshal(seq); err != nil {
			return fmt.Errorf("av1 sequence header: %w", err)
		}
		w, h = sh.Width(), sh.Height()
		// The WebM muxer builds the av1C box from the sequence header.
		if err := cp.SetExtraData(seq); err != nil {
			return fmt.Errorf("av1 extradata: %w", err)
		}
	case "video/h264":
		cp.SetCodecID(astiav.CodecIDH264)
		sps, extra, err := h264Params(first)
		if err != nil {
			return err
		}
		var s h264.SPS
		if err := s.Unmarshal(sps); err != nil {
			return fmt.Errorf("h264 sps: %w", err)
		}
		w, h = s.Width(), s.Height()
		// Annex-B SPS and PPS: the mp4 muxer turns them into the avcC box,
		// and then converts each Annex-B packet to length prefixes.
		if err := cp.SetExtraData(extra); err != nil {
			return fmt.Errorf("h264 extradata: %w", err)
		}
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%s keyframe gives a size of %dx%d", c.mime, w, h)
	}
	cp.SetWidth(w)
	cp.SetHeight(h)
	cp.SetPixelFormat(astiav.PixelFormatYuv420P)
	return nil
}

// h264Params finds the SPS and PPS of an Annex-B keyframe: the SPS alone,
// and both with start codes for the extradata.
func h264Params(frame []byte) (sps, extra []byte, err error) {
	var au h264.AnnexB
	if err := au.Unmarshal(frame); err != nil {
		return nil, nil, fmt.Errorf("h264 keyframe: %w", err)
	}
	var pps []byte
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			if sps == nil {
				sps = n
			}
		case h264.NALUTypePPS:
			if pps == nil {
				pps = n
			}
		}
	}
	if sps == nil || pps == nil {
		return nil, nil, errors.New("h264 keyframe without SPS and PPS")
	}
	start := []byte{0, 0, 0, 1}
	extra = append(append(append(append([]byte{}, start...), sps...), start...), pps...)
	return sps, extra, nil
}

// av1Params finds the sequence header OBU of a keyframe's temporal unit
// (low-overhead format, every OBU with its size) and FFmpeg's AV1 codec id,
// which go-astiav has no constant for.
func av1Params(tu []byte) (astiav.CodecID, []byte, error) {
	var id astiav.CodecID
	for _, name := range []string{"libdav1d", "libaom-av1", "av1"} {
		if d := astiav.FindDecoderByName(name); d != nil {
			id = d.ID()
			break
		}
	}
	if id == 0 {
		return 0, nil, errors.New("this FFmpeg knows no AV1 codec")
	}
	var bs av1.Bitstream
	if err := bs.Unmarshal(tu); err != nil {
		return 0, nil, fmt.Errorf("av1 temporal unit: %w", err)
	}
	for _, obu := range bs {
		var hd av1.OBUHeader
		if err := hd.Unmarshal(obu); err != nil {
			continue
		}
		if hd.Type == av1.OBUTypeSequenceHeader {
			// Back with its size field: the form the muxer parses.
			seq, err := av1.Bitstream{obu}.Marshal()
			if err != nil {
				return 0, nil, fmt.Errorf("av1 sequence header: %w", err)
			}
			return id, seq, nil
		}
	}
	return 0, nil, errors.New("av1 keyframe without a sequence header")
}

// opusParams: the channel count comes from the packet's TOC (WebRTC signals
// Opus as 2 channels whatever is sent), and the OpusHead (RFC 7845 5.1)
// gives it to players. Pre-skip is 0: the packets are kept on the job's
// timeline as they were sent, not shifted by an encoder delay the track
// file does not know.
func opusParams(cp *astiav.CodecParameters, first []byte) error {
	if len(first) == 0 {
		return errors.New("empty opus packet")
	}
	ch := 1
	if first[0]&0x04 != 0 {
		ch = 2
	}
	cp.SetMediaType(astiav.MediaTypeAudio)
	cp.SetCodecID(astiav.CodecIDOpus)
	cp.SetSampleRate(48000)
	cp.SetSampleFormat(astiav.SampleFormatFltp)
	if ch == 2 {
		cp.SetChannelLayout(astiav.ChannelLayoutStereo)
	} else {
		cp.SetChannelLayout(astiav.ChannelLayoutMono)
	}
	head := make([]byte, 19)
	copy(head, "OpusHead")
	head[8] = 1 // version
	head[9] = byte(ch)
	binary.LittleEndian.PutUint32(head[12:], 48000)
	if err := cp.SetExtraData(head); err != nil {
		return fmt.Errorf("opus extradata: %w", err)
	}
	return nil
}
