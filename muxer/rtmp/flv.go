package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/roomcast/roomcast/muxer/output"
)

// RTMP carries FLV tag bodies: a one-byte codec header (plus packet type and
// composition time for AVC, packet type for AAC), then AVCC video or raw AAC.

// FLV codec header bytes.
const (
	flvAVCKey   = 1<<4 | 7 // keyframe, codec 7 (AVC)
	flvAVCInter = 2<<4 | 7 // inter frame, AVC
	// AAC (10), and the flags FLV requires for AAC whatever the real
	// format: 44 kHz, 16 bit, stereo. The AudioSpecificConfig is what counts.
	flvAAC = 10<<4 | 3<<2 | 1<<1 | 1
)

// paramSets returns the first SPS and PPS of an access unit, if any.
func paramSets(au h264.AnnexB) (sps, pps []byte) {
	for _, n := range au {
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
	return sps, pps
}

// avcSequenceHeader is the FLV video tag body carrying an
// AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1) built from one SPS and
// one PPS, with 4-byte NAL lengths.
func avcSequenceHeader(sps, pps []byte) ([]byte, error) {
	if len(sps) < 4 || len(pps) < 1 {
		return nil, errors.New("H.264 SPS/PPS missing or too short")
	}
	b := []byte{flvAVCKey, 0, 0, 0, 0}
	b = append(b, 1, sps[1], sps[2], sps[3], 0xff, 0xe1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	b = append(b, pps...)
	return b, nil
}

// appendAVCVideo appends the FLV body of one access unit to b: header with
// composition time, then the NAL units in AVCC form (each with a 4-byte
// length). AUDs are dropped (FLV has no use for them); in-band SPS/PPS are
// kept, which lets a player that joins late decode, and costs a few dozen
// bytes per GOP. It appends in place rather than through h264.AVCC.Marshal,
// which would allocate the body for every frame.
func appendAVCVideo(b []byte, key bool, cts int32, au h264.AnnexB) []byte {
	h := byte(flvAVCInter)
	if key {
		h = flvAVCKey
	}
	b = append(b, h, 1, byte(cts>>16), byte(cts>>8), byte(cts))
	for _, n := range au {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

// aacSequenceHeader is the FLV audio tag body carrying the
// AudioSpecificConfig; when the encoder gave none, one for AAC-LC is built
// from the sample rate and channel count.
func aacSequenceHeader(a output.AudioInfo) ([]byte, error) {
	asc := a.Extradata
	if len(asc) == 0 {
		var err error
		asc, err = mpeg4audio.AudioSpecificConfig{
			Type:         mpeg4audio.ObjectTypeAACLC,
			SampleRate:   a.SampleRate,
			ChannelCount: a.Channels,
		}.Marshal()
		if err != nil {
			return nil, fmt.Errorf("build AAC AudioSpecificConfig (%d Hz, %d ch): %w", a.SampleRate, a.Channels, err)
		}
	}
	return append([]byte{flvAAC, 0}, asc...), nil
}

// appendAACAudio appends the FLV body of one raw AAC frame to b.
func appendAACAudio(b []byte, frame []byte) []byte {
	b = append(b, flvAAC, 1)
	return append(b, frame...)
}

// metadata is the @setDataFrame/onMetaData message players and ingest
// dashboards read the stream's shape from.
func metadata(info *output.StreamInfo) []byte {
	v, a := info.Video, info.Audio
	if !info.HasVideo() {
		return amfEncode(nil, "@setDataFrame", "onMetaData", amfECMA{
			{"duration", 0},
			{"audiodatarate", float64(a.Bitrate) / 1000},
			{"audiosamplerate", a.SampleRate},
			{"audiosamplesize", 16},
			{"stereo", a.Channels == 2},
			{"audiocodecid", 10},
			{"encoder", "roomcast"},
			{"filesize", 0},
		})
	}
	return amfEncode(nil, "@setDataFrame", "onMetaData", amfECMA{
		{"duration", 0},
		{"width", v.Width},
		{"height", v.Height},
		{"videodatarate", float64(v.Bitrate) / 1000},
		{"framerate", v.FPS},
		{"videocodecid", 7},
		{"audiodatarate", float64(a.Bitrate) / 1000},
		{"audiosamplerate", a.SampleRate},
		{"audiosamplesize", 16},
		{"stereo", a.Channels == 2},
		{"audiocodecid", 10},
		{"encoder", "roomcast"},
		{"filesize", 0},
	})
}

// toMillis converts ticks of tb to milliseconds, rounding toward minus
// infinity so that later ticks never map to earlier milliseconds.
func toMillis(ticks int64, tb output.Rational) int64 {
	if tb.Den == 0 {
		return 0
	}
	num := ticks * 1000 * int64(tb.Num)
	den := int64(tb.Den)
	q := num / den
	if (num%den != 0) && ((num < 0) != (den < 0)) {
		q--
	}
	return q
}
