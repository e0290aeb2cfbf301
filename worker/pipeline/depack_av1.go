package pipeline

import (
	"errors"
	"fmt"
	"slices"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// OBU types mediacommon has no names for (AV1 spec 6.2.2).
const (
	av1OBUTileList av1.OBUType = 8
	av1OBUPadding  av1.OBUType = 15
)

// av1Depacketizer turns AV1 RTP payloads (AV1 RTP spec 4) into a temporal
// unit in the low-overhead bitstream format (AV1 spec 5.2, Annex B not used):
// a temporal delimiter, then each OBU with obu_has_size_field set, which is
// what libdav1d takes as one packet. codecs.AV1Depacketizer does the same but
// allocates for every packet, as do mediacommon's av1.Bitstream Marshal and
// Unmarshal; this one writes straight into the frame buffer with
// mediacommon's LEB128, and keeps only fragmented OBUs aside. A temporal unit
// is a keyframe when it starts a coded video sequence: the N bit or a
// sequence header OBU.
type av1Depacketizer struct {
	frag   []byte // OBU continued in the next packet
	inFrag bool
	key    bool
}

func (d *av1Depacketizer) reset() {
	d.frag = d.frag[:0]
	d.inFrag, d.key = false, false
}

// isHead: Z (first element continues an OBU) clear.
func (d *av1Depacketizer) isHead(payload []byte) bool {
	return len(payload) > 0 && payload[0]&0x80 == 0
}

func (d *av1Depacketizer) append(frame, payload []byte) ([]byte, error) {
	if len(payload) < 2 {
		return frame, fmt.Errorf("av1: %w", errShortPayload)
	}
	agg := payload[0]
	z, y := agg&0x80 != 0, agg&0x40 != 0
	w := int(agg>>4) & 0x3
	if agg&0x08 != 0 {
		d.key = true
	}
	if z != d.inFrag {
		if z {
			return frame, fmt.Errorf("av1: %w", errNoFragStart)
		}
		return frame, fmt.Errorf("av1: %w", errFragUnfinished)
	}
	if len(frame) == 0 {
		frame = append(frame, byte(av1.OBUTypeTemporalDelimiter)<<3|0x02, 0)
	}
	p := payload[1:]
	var err error
	for i := 1; len(p) > 0; i++ {
		var size int
		switch {
		case w != 0 && i == w:
			size = len(p)
		case w != 0 && i > w:
			return frame, fmt.Errorf("av1: more than W=%d OBU elements", w)
		default:
			var v av1.LEB128
			n, lerr := v.Unmarshal(p)
			if lerr != nil {
				return frame, fmt.Errorf("av1: element length: %w", errShortPayload)
			}
			p = p[n:]
			if uint64(v) > uint64(len(p)) {
				return frame, fmt.Errorf("av1: element of %d bytes in %d", v, len(p))
			}
			size = int(v)
		}
		elem := p[:size]
		p = p[size:]
		first, last := i == 1, len(p) == 0
		switch {
		case first && z:
			d.frag = append(d.frag, elem...)
			if last && y {
				continue // a middle fragment
			}
			d.inFrag = false
			frame, err = d.obu(frame, d.frag)
			d.frag = d.frag[:0]
		case last && y:
			d.frag = append(d.frag[:0], elem...)
			d.inFrag = true
		default:
			frame, err = d.obu(frame, elem)
		}
		if err != nil {
			return frame, err
		}
	}
	return frame, nil
}

// obu appends one whole OBU, giving it a size field. mediacommon's
// av1.OBUHeader is not used: it refuses OBUs with an extension header, which
// scalable streams carry.
func (d *av1Depacketizer) obu(frame, o []byte) ([]byte, error) {
	if len(o) == 0 {
		return frame, nil
	}
	h := o[0]
	if h&0x80 != 0 {
		return frame, errors.New("av1: OBU forbidden bit set")
	}
	hdr := 1
	if h&0x04 != 0 { // obu_extension_flag
		hdr = 2
	}
	if len(o) < hdr {
		return frame, fmt.Errorf("av1: OBU header: %w", errShortPayload)
	}
	switch av1.OBUType(h >> 3 & 0x0f) {
	case av1.OBUTypeTemporalDelimiter, av1OBUTileList, av1OBUPadding:
		// The RTP spec has receivers ignore these; we write our own TD.
		return frame, nil
	case av1.OBUTypeSequenceHeader:
		d.key = true
	}
	body := o[hdr:]
	if h&0x02 != 0 { // already sized
		var v av1.LEB128
		n, err := v.Unmarshal(body)
		if err != nil || uint64(v) != uint64(len(body)-n) {
			return frame, errors.New("av1: OBU size field does not match its element")
		}
		return append(frame, o...), nil
	}
	frame = append(frame, h|0x02)
	if hdr == 2 {
		frame = append(frame, o[1])
	}
	frame = appendLEB128(frame, len(body))
	return append(frame, body...), nil
}

// appendLEB128 appends v in mediacommon's LEB128 form. v is a frame's
// length, far below the 32 bits LEB128 holds.
func appendLEB128(b []byte, v int) []byte {
	l := av1.LEB128(v)
	n := l.MarshalSize()
	b = slices.Grow(b, n)
	l.MarshalTo(b[len(b) : len(b)+n])
	return b[:len(b)+n]
}

func (d *av1Depacketizer) pending() int     { return len(d.frag) }
func (d *av1Depacketizer) complete() bool   { return !d.inFrag }
func (d *av1Depacketizer) keyframe() bool   { return d.key }
func (d *av1Depacketizer) paramsOnly() bool { return false }
