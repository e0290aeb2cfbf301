package mediafile

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// h264ParamSets reads H.264 extradata: an AVCDecoderConfigurationRecord (MP4
// and Matroska, ISO 14496-15 5.3.3.1), whose NAL length size it returns, or
// Annex B NAL units (length size 0). It returns the SPS and PPS either way.
// mediacommon parses NAL units, not this container record.
func h264ParamSets(extra []byte) (nalLength int, sets [][]byte, err error) {
	if len(extra) == 0 {
		return 0, nil, nil
	}
	if extra[0] != 1 {
		var au h264.AnnexB
		if err := au.Unmarshal(extra); err != nil {
			return 0, nil, fmt.Errorf("extradata in Annex B: %w", err)
		}
		for _, nalu := range au {
			if t := h264.NALUType(nalu[0] & 0x1f); t == h264.NALUTypeSPS || t == h264.NALUTypePPS {
				sets = append(sets, nalu)
			}
		}
		return 0, sets, nil
	}
	if len(extra) < 7 {
		return 0, nil, errors.New("avcC record shorter than 7 bytes")
	}
	nalLength = int(extra[4]&3) + 1
	if nalLength == 3 {
		return 0, nil, errors.New("avcC NAL length size 3 is invalid")
	}
	p := extra[5:]
	for _, countMask := range []byte{0x1f, 0xff} { // SPS count in 5 bits, PPS count in 8
		if len(p) < 1 {
			return 0, nil, errors.New("avcC record truncated")
		}
		n := int(p[0] & countMask)
		p = p[1:]
		for range n {
			if len(p) < 2 {
				return 0, nil, errors.New("avcC record truncated")
			}
			l := int(p[0])<<8 | int(p[1])
			if l == 0 || len(p) < 2+l {
				return 0, nil, errors.New("avcC parameter set truncated")
			}
			sets = append(sets, p[2:2+l])
			p = p[2+l:]
		}
	}
	return nalLength, sets, nil
}

// h264Fmtp is the fmtp line a browser would offer for this stream's SPS:
// profile-level-id is the SPS's profile_idc, constraint flags and level_idc
// bytes as they stand.
func h264Fmtp(sets [][]byte) string {
	pli := "42e01f"
	for _, s := range sets {
		if h264.NALUType(s[0]&0x1f) == h264.NALUTypeSPS && len(s) >= 4 {
			pli = fmt.Sprintf("%02x%02x%02x", s[1], s[2], s[3])
			break
		}
	}
	return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + pli
}

// H264AccessUnit turns one demuxed H.264 access unit, its NAL units
// length-prefixed (nalLength 1, 2 or 4, from the avcC) or in Annex B
// (nalLength 0), into Annex B, the form pion's H264Payloader splits. A
// keyframe without an SPS gets sets (SPS and PPS) in front: browsers send
// them before every IDR, while MP4 and Matroska keep them in the extradata
// only. The result may be data itself, rewritten in place (4-byte AVCC
// becomes Annex B where it lies), so data must be the caller's to change.
func H264AccessUnit(data []byte, nalLength int, sets [][]byte, key bool) ([]byte, error) {
	var au [][]byte
	switch nalLength {
	case 0:
		if !key || len(sets) == 0 {
			return data, nil // already what the payloader takes
		}
		// AnnexB.Unmarshal's own check of the first start code (v2.4.2)
		// lets "xx xx 01" through, so a unit that does not start with one
		// would be taken whole as a NAL unit.
		if !bytes.HasPrefix(data, []byte{0, 0, 1}) && !bytes.HasPrefix(data, []byte{0, 0, 0, 1}) {
			return nil, fmt.Errorf("bad H.264 Annex B data: %w", h264.ErrAnnexBNoInitialDelimiter)
		}
		var a h264.AnnexB
		if err := a.Unmarshal(data); err != nil {
			return nil, fmt.Errorf("bad H.264 Annex B data: %w", err)
		}
		if h264HasSPS(a) {
			return data, nil
		}
		// The unit stays as it is, start codes and all, after the sets.
		prefix, err := h264.AnnexB(sets).Marshal()
		if err != nil {
			return nil, err
		}
		return append(prefix, data...), nil
	case 4:
		var a h264.AVCC
		if err := a.Unmarshal(data); err != nil {
			return nil, fmt.Errorf("bad H.264 AVCC data: %w", err)
		}
		if (!key || len(sets) == 0 || h264HasSPS(a)) && annexBInPlace(data, a) {
			return data, nil
		}
		au = a
	case 1, 2:
		var err error
		if au, err = splitShortLengths(data, nalLength); err != nil {
			return nil, fmt.Errorf("bad H.264 AVCC data: %w", err)
		}
	default:
		return nil, fmt.Errorf("H.264 NAL length size %d is invalid", nalLength)
	}
	if key && len(sets) > 0 && !h264HasSPS(au) {
		au = append(sets[:len(sets):len(sets)], au...)
	}
	return h264.AnnexB(au).Marshal()
}

// annexBInPlace turns 4-byte AVCC into Annex B where it lies, the common
// case of every delta frame costing no copy: each NAL unit of au (sub-slices
// of b, as AVCC.Unmarshal leaves them) gets a start code over its length.
// It changes nothing and reports false when b holds empty NAL units, which
// AVCC.Unmarshal leaves out.
func annexBInPlace(b []byte, au [][]byte) bool {
	n := 0
	for _, nalu := range au {
		n += 4 + len(nalu)
	}
	if n != len(b) {
		return false
	}
	for _, nalu := range au {
		pos := cap(b) - cap(nalu) // where nalu starts in b
		copy(b[pos-4:pos], []byte{0, 0, 0, 1})
	}
	return true
}

// splitShortLengths splits NAL units with 1- or 2-byte length prefixes,
// which ISO 14496-15 allows and mediacommon's AVCC (4-byte lengths only)
// does not read.
func splitShortLengths(b []byte, nalLength int) ([][]byte, error) {
	var au [][]byte
	for len(b) > 0 {
		if len(b) < nalLength {
			return nil, errors.New("truncated NAL length")
		}
		l := int(b[0])
		if nalLength == 2 {
			l = l<<8 | int(b[1])
		}
		b = b[nalLength:]
		if l > len(b) {
			return nil, fmt.Errorf("NAL length %d exceeds the %d bytes left", l, len(b))
		}
		if l > 0 {
			au = append(au, b[:l])
		}
		b = b[l:]
	}
	if len(au) == 0 {
		return nil, h264.ErrAVCCNoNALUs
	}
	return au, nil
}

// h264HasSPS reports whether an access unit carries an SPS.
func h264HasSPS(au [][]byte) bool {
	for _, nalu := range au {
		if len(nalu) > 0 && h264.NALUType(nalu[0]&0x1f) == h264.NALUTypeSPS {
			return true
		}
	}
	return false
}
