package file

import (
	"errors"
	"fmt"
)

// H.264 NAL unit types the room looks at.
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
)

var startCode = []byte{0, 0, 0, 1}

// h264ParamSets reads H.264 extradata: an AVCDecoderConfigurationRecord (MP4
// and Matroska, ISO 14496-15 5.3.3.1), whose NAL length size it returns, or
// Annex B NAL units (length size 0). It returns the SPS and PPS either way.
func h264ParamSets(extra []byte) (nalLength int, sets [][]byte, err error) {
	if len(extra) == 0 {
		return 0, nil, nil
	}
	if extra[0] != 1 {
		// Annex B extradata: keep its SPS and PPS.
		eachNAL(extra, func(nal []byte) {
			if t := nal[0] & 0x1f; t == nalSPS || t == nalPPS {
				sets = append(sets, nal)
			}
		})
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
	for _, countMask := range []byte{0x1f, 0xff} {
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

// h264Fmtp is the fmtp line a browser would offer for this stream's SPS.
func h264Fmtp(sets [][]byte) string {
	pli := "42e01f"
	for _, s := range sets {
		if s[0]&0x1f == nalSPS && len(s) >= 4 {
			pli = fmt.Sprintf("%02x%02x%02x", s[1], s[2], s[3])
			break
		}
	}
	return "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + pli
}

// avccToAnnexB turns length-prefixed NAL units into Annex B. With 4-byte
// lengths it rewrites b in place (the common case costs no allocation);
// otherwise it returns a new slice.
func avccToAnnexB(b []byte, nalLength int) ([]byte, error) {
	if nalLength == 4 {
		for p := 0; p < len(b); {
			if len(b)-p < 4 {
				return nil, errors.New("truncated NAL length")
			}
			l := int(b[p])<<24 | int(b[p+1])<<16 | int(b[p+2])<<8 | int(b[p+3])
			if l < 0 || l > len(b)-p-4 {
				return nil, fmt.Errorf("NAL length %d exceeds the %d bytes left", l, len(b)-p-4)
			}
			copy(b[p:], startCode)
			p += 4 + l
		}
		return b, nil
	}
	out := make([]byte, 0, len(b)+len(b)/8+8)
	for p := 0; p < len(b); {
		if len(b)-p < nalLength {
			return nil, errors.New("truncated NAL length")
		}
		l := 0
		for i := range nalLength {
			l = l<<8 | int(b[p+i])
		}
		p += nalLength
		if l > len(b)-p {
			return nil, fmt.Errorf("NAL length %d exceeds the %d bytes left", l, len(b)-p)
		}
		out = append(out, startCode...)
		out = append(out, b[p:p+l]...)
		p += l
	}
	return out, nil
}

// eachNAL calls fn for each non-empty NAL unit of an Annex B buffer.
func eachNAL(b []byte, fn func(nal []byte)) {
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end-- // zero_byte of a 4-byte start code, or trailing zeros
				}
				if end > start {
					fn(b[start:end])
				}
			}
			start = i + 3
			i += 2
		}
	}
	if start >= 0 && start < len(b) {
		fn(b[start:])
	}
}

// withParamSets returns sets, each after a start code, followed by frame.
func withParamSets(sets [][]byte, frame []byte) []byte {
	n := len(frame)
	for _, s := range sets {
		n += 4 + len(s)
	}
	out := make([]byte, 0, n)
	for _, s := range sets {
		out = append(out, startCode...)
		out = append(out, s...)
	}
	return append(out, frame...)
}

// h264HasSPS reports whether an Annex B access unit carries an SPS.
func h264HasSPS(b []byte) bool {
	found := false
	eachNAL(b, func(nal []byte) {
		if nal[0]&0x1f == nalSPS {
			found = true
		}
	})
	return found
}

// av1ConfigOBUs returns the configOBUs of an AV1CodecConfigurationRecord
// (av1C: marker and version byte 0x81, three more bytes, then OBUs), which
// carry the sequence header.
func av1ConfigOBUs(extra []byte) [][]byte {
	if len(extra) > 4 && extra[0] == 0x81 {
		return [][]byte{extra[4:]}
	}
	return nil
}

// av1HasSequenceHeader reports whether a temporal unit in low-overhead
// format (every OBU with its size) carries a sequence header OBU.
func av1HasSequenceHeader(b []byte) bool {
	for p := 0; p < len(b); {
		h := b[p]
		typ := (h >> 3) & 0x0f
		if typ == 1 {
			return true
		}
		q := p + 1
		if h&0x04 != 0 {
			q++ // extension header
		}
		if h&0x02 == 0 {
			return false // no size: the OBU runs to the end
		}
		size, n := leb128(b[min(q, len(b)):])
		if n == 0 || size > uint64(len(b)) {
			return false
		}
		p = q + n + int(size)
	}
	return false
}

func leb128(b []byte) (v uint64, n int) {
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
