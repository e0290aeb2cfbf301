package file

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/room"
)

// MediaFile is a probed media file: at most one video and one audio stream
// of an allowed codec.
type MediaFile struct {
	Path     string        // resolved path
	Duration time.Duration // container duration; 0 when the container does not say
	Video    *StreamInfo
	Audio    *StreamInfo
}

// StreamInfo describes one stream of a media file as the room sends it.
type StreamInfo struct {
	Index  int        // stream index in the file
	Codec  room.Codec // the RTP codec it is sent as
	Width  int
	Height int
	// FrameRateNum/FrameRateDen is the video's nominal frame rate (0/0 when
	// unknown). RTP timestamps are snapped to its grid, as a camera's are.
	FrameRateNum, FrameRateDen int
	Channels                   int // audio channels in the file

	timeBase  astiav.Rational
	preSkip   int      // Opus pre-skip in samples, from the OpusHead
	nalLength int      // H.264: AVCC NAL length size; 0 for Annex B
	paramSets [][]byte // H.264 SPS and PPS, or the AV1 sequence header OBU
}

// Allowed codecs, as the error messages list them.
const allowedCodecs = "video: VP8, VP9, H.264, AV1; audio: Opus"

// Payload types as Chrome offers them, so SDP-minded code sees familiar values.
const (
	ptVP8  = 96
	ptVP9  = 98
	ptH264 = 102
	ptAV1  = 45
	ptOpus = 111
)

// openInput opens a media file for demuxing. The caller closes it with
// closeInput.
func openInput(path string) (*astiav.FormatContext, error) {
	fc := astiav.AllocFormatContext()
	if fc == nil {
		return nil, fmt.Errorf("%s: cannot allocate a format context", path)
	}
	if err := fc.OpenInput(path, nil, nil); err != nil {
		fc.Free()
		return nil, fmt.Errorf("%s: cannot open as media (%w); use a WebM, Matroska or MP4 file", path, err)
	}
	return fc, nil
}

func closeInput(fc *astiav.FormatContext) {
	fc.CloseInput()
	fc.Free()
}

// probeMedia opens path and describes its streams. A screen file's audio is
// ignored (the room publishes screen video only), so it is not checked.
func probeMedia(path string, screen bool) (*MediaFile, error) {
	fc, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer closeInput(fc)
	if err := fc.FindStreamInfo(nil); err != nil {
		return nil, fmt.Errorf("%s: cannot read stream info: %w", path, err)
	}
	mf := &MediaFile{Path: path}
	if d := fc.Duration(); d > 0 {
		mf.Duration = time.Duration(d) * time.Microsecond
	}
	var bad []string
	for _, s := range fc.Streams() {
		cp := s.CodecParameters()
		switch cp.MediaType() {
		case astiav.MediaTypeVideo, astiav.MediaTypeAudio:
		default:
			continue // data, subtitles, attachments: not media a peer sends
		}
		if screen && cp.MediaType() == astiav.MediaTypeAudio {
			continue
		}
		si, err := streamInfo(s)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if cp.MediaType() == astiav.MediaTypeVideo {
			if mf.Video != nil {
				return nil, fmt.Errorf("%s: streams #%d and #%d are both video; a peer's file may hold one video and one audio stream", path, mf.Video.Index, si.Index)
			}
			mf.Video = si
		} else {
			if mf.Audio != nil {
				return nil, fmt.Errorf("%s: streams #%d and #%d are both audio; a peer's file may hold one video and one audio stream", path, mf.Audio.Index, si.Index)
			}
			mf.Audio = si
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %s; allowed codecs are %s", path, strings.Join(bad, "; "), allowedCodecs)
	}
	if screen && mf.Video == nil {
		return nil, fmt.Errorf("%s has no video stream; a screen share must be a video file (VP8, VP9, H.264 or AV1)", path)
	}
	if mf.Video == nil && mf.Audio == nil {
		return nil, fmt.Errorf("%s: no video or audio stream; a peer's media needs at least one (%s)", path, allowedCodecs)
	}
	return mf, nil
}

// streamInfo maps an allowed stream to its RTP codec.
func streamInfo(s *astiav.Stream) (*StreamInfo, error) {
	cp := s.CodecParameters()
	si := &StreamInfo{
		Index:    s.Index(),
		Width:    cp.Width(),
		Height:   cp.Height(),
		timeBase: s.TimeBase(),
	}
	if fr := s.AvgFrameRate(); fr.Num() > 0 && fr.Den() > 0 {
		si.FrameRateNum, si.FrameRateDen = fr.Num(), fr.Den()
	} else if fr := s.RFrameRate(); fr.Num() > 0 && fr.Den() > 0 {
		si.FrameRateNum, si.FrameRateDen = fr.Num(), fr.Den()
	}
	if si.timeBase.Num() <= 0 || si.timeBase.Den() <= 0 {
		return nil, fmt.Errorf("stream #%d has no time base", si.Index)
	}
	extra := cp.ExtraData()
	var err error
	// Switch on FFmpeg's codec names: go-astiav v0.16.0 has no AV1 constant.
	switch cp.CodecID().Name() {
	case "vp8":
		si.Codec = room.Codec{MimeType: "video/VP8", ClockRate: 90000, PayloadType: ptVP8}
	case "vp9":
		si.Codec = room.Codec{MimeType: "video/VP9", ClockRate: 90000, PayloadType: ptVP9, SDPFmtpLine: "profile-id=0"}
		if p := int(cp.Profile()); p > 0 && p <= 3 {
			si.Codec.SDPFmtpLine = fmt.Sprintf("profile-id=%d", p)
		}
	case "h264":
		si.Codec = room.Codec{MimeType: "video/H264", ClockRate: 90000, PayloadType: ptH264}
		if si.nalLength, si.paramSets, err = h264ParamSets(extra); err != nil {
			return nil, fmt.Errorf("stream #%d is H.264 with bad extradata (%v)", si.Index, err)
		}
		si.Codec.SDPFmtpLine = h264Fmtp(si.paramSets)
	case "av1":
		si.Codec = room.Codec{MimeType: "video/AV1", ClockRate: 90000, PayloadType: ptAV1}
		si.paramSets = av1ConfigOBUs(extra)
	case "opus":
		si.Codec = room.Codec{MimeType: "audio/opus", ClockRate: 48000, Channels: 2, PayloadType: ptOpus, SDPFmtpLine: "minptime=10;useinbandfec=1"}
		si.Channels = cp.Channels()
		si.preSkip = opusPreSkip(extra)
	default:
		return nil, fmt.Errorf("stream #%d is %s codec %s", si.Index, cp.MediaType(), cp.CodecID().Name())
	}
	return si, nil
}

// opusPreSkip reads the pre-skip from an OpusHead (RFC 7845 section 5.1).
func opusPreSkip(extra []byte) int {
	if len(extra) < 12 || string(extra[:8]) != "OpusHead" {
		return 0
	}
	return int(binary.LittleEndian.Uint16(extra[10:12]))
}

// opusSamples returns the number of 48 kHz samples in an Opus packet from
// its TOC byte (RFC 6716 section 3.1), or 0 if the packet is malformed.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	config := int(toc >> 3)
	var frame int // samples per frame at 48 kHz
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]int{480, 960, 1920, 2880}[config&3]
	case config < 16: // hybrid: 10, 20 ms
		frame = [2]int{480, 960}[config&1]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]int{120, 240, 480, 960}[config&3]
	}
	var n int
	switch toc & 3 {
	case 0:
		n = 1
	case 1, 2:
		n = 2
	default:
		if len(p) < 2 {
			return 0
		}
		n = int(p[1] & 0x3f)
	}
	return n * frame
}
