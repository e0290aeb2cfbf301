package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/rtp/codecs"
	"github.com/pion/rtp/codecs/av1/obu"
)

// depacketizer rebuilds one video frame from the payloads of its RTP packets,
// in order, into the format the FFmpeg decoder takes.
type depacketizer interface {
	// reset starts a new frame.
	reset()
	// isHead reports whether payload can be the first packet of a frame; a
	// frame whose first packet is not a head lost its start.
	isHead(payload []byte) bool
	// append adds one packet's payload to frame.
	append(frame, payload []byte) ([]byte, error)
	// complete reports whether the frame has no unfinished fragment.
	complete() bool
	// keyframe reports whether the frame can start decoding.
	keyframe() bool
	// paramsOnly reports whether the frame carries only decoder
	// configuration (H.264 SPS/PPS sent on their own), which goes to the
	// decoder with the next frame.
	paramsOnly() bool
}

var (
	errShortPayload   = errors.New("short payload")
	errNoFragStart    = errors.New("fragment without its start")
	errFragUnfinished = errors.New("new unit inside an unfinished fragment")
)

// vp8Depacketizer strips the VP8 payload descriptor (RFC 7741). A frame is a
// keyframe when the P bit of its frame tag, the first byte of the first
// partition, is 0.
type vp8Depacketizer struct {
	pkt   codecs.VP8Packet
	first bool
	key   bool
}

func (d *vp8Depacketizer) reset() { d.first, d.key = true, false }

// isHead: S set and partition index 0.
func (d *vp8Depacketizer) isHead(payload []byte) bool {
	return len(payload) > 0 && payload[0]&0x10 != 0 && payload[0]&0x07 == 0
}

func (d *vp8Depacketizer) append(frame, payload []byte) ([]byte, error) {
	b, err := d.pkt.Unmarshal(payload)
	if err != nil {
		return frame, fmt.Errorf("vp8: %w", err)
	}
	if d.first {
		d.first = false
		d.key = len(b) > 0 && b[0]&0x01 == 0
	}
	return append(frame, b...), nil
}

func (d *vp8Depacketizer) complete() bool   { return true }
func (d *vp8Depacketizer) keyframe() bool   { return d.key }
func (d *vp8Depacketizer) paramsOnly() bool { return false }

// vp9Depacketizer strips the VP9 payload descriptor. A frame is a keyframe
// when its first packet is not inter-predicted (P=0) on the base spatial layer
// and the uncompressed header says frame_type KEY_FRAME.
type vp9Depacketizer struct {
	pkt   codecs.VP9Packet
	first bool
	key   bool
}

func (d *vp9Depacketizer) reset() { d.first, d.key = true, false }

// isHead: B (beginning of a frame) set.
func (d *vp9Depacketizer) isHead(payload []byte) bool {
	return len(payload) > 0 && payload[0]&0x08 != 0
}

func (d *vp9Depacketizer) append(frame, payload []byte) ([]byte, error) {
	// VP9Packet appends to these on every call and never clears them.
	d.pkt.PDiff = d.pkt.PDiff[:0]
	d.pkt.PGTID = d.pkt.PGTID[:0]
	d.pkt.PGU = d.pkt.PGU[:0]
	d.pkt.PGPDiff = d.pkt.PGPDiff[:0]
	b, err := d.pkt.Unmarshal(payload)
	if err != nil {
		return frame, fmt.Errorf("vp9: %w", err)
	}
	if d.first {
		d.first = false
		d.key = !d.pkt.P && d.pkt.SID == 0 && vp9IsKeyframe(b)
	}
	return append(frame, b...), nil
}

func (d *vp9Depacketizer) complete() bool   { return true }
func (d *vp9Depacketizer) keyframe() bool   { return d.key }
func (d *vp9Depacketizer) paramsOnly() bool { return false }

// vp9IsKeyframe reads the start of a VP9 uncompressed header: frame_marker(2)
// profile_low_bit profile_high_bit [reserved_zero if profile 3]
// show_existing_frame frame_type, where frame_type 0 is KEY_FRAME. All of it
// lies in the first byte.
func vp9IsKeyframe(b []byte) bool {
	if len(b) == 0 || b[0]>>6 != 2 {
		return false
	}
	bit := func(i uint) bool { return b[0]>>(7-i)&1 != 0 }
	pos := uint(4)
	if bit(2) && bit(3) { // profile 3
		pos++
	}
	if bit(pos) { // show_existing_frame
		return false
	}
	return !bit(pos + 1)
}

// H.264 NAL unit types (RFC 6184, H.264 table 7-1).
const (
	h264NALIDR   = 5
	h264NALSPS   = 7
	h264NALPPS   = 8
	h264NALSTAPA = 24
	h264NALFUA   = 28
	h264NALFUB   = 29
)

// h264Depacketizer turns single NAL unit, STAP-A and FU-A packets (RFC 6184
// packetization modes 0 and 1) into Annex B. It writes straight into the frame
// buffer, where codecs.H264Packet would allocate for every packet. A frame is
// a keyframe when it holds an IDR slice; the SPS and PPS it needs may come
// with it or in a frame of their own before it.
type h264Depacketizer struct {
	inFU   bool
	key    bool
	vcl    bool // holds a slice
	params bool // holds an SPS or PPS
}

func (d *h264Depacketizer) reset() { *d = h264Depacketizer{} }

// note records what a NAL unit of type typ means for the frame.
func (d *h264Depacketizer) note(typ byte) {
	switch {
	case typ == h264NALIDR:
		d.key, d.vcl = true, true
	case typ >= 1 && typ < h264NALIDR:
		d.vcl = true
	case typ == h264NALSPS || typ == h264NALPPS:
		d.params = true
	}
}

func (d *h264Depacketizer) isHead(payload []byte) bool {
	if len(payload) == 0 {
		return false
	}
	switch payload[0] & 0x1f {
	case h264NALFUA, h264NALFUB:
		return len(payload) > 1 && payload[1]&0x80 != 0
	}
	return true
}

func (d *h264Depacketizer) nalu(frame, nal []byte) []byte {
	d.note(nal[0] & 0x1f)
	frame = append(frame, 0, 0, 0, 1)
	return append(frame, nal...)
}

func (d *h264Depacketizer) append(frame, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return frame, fmt.Errorf("h264: %w", errShortPayload)
	}
	typ := payload[0] & 0x1f
	if d.inFU && typ != h264NALFUA {
		return frame, fmt.Errorf("h264: %w", errFragUnfinished)
	}
	switch {
	case typ >= 1 && typ <= 23:
		return d.nalu(frame, payload), nil
	case typ == h264NALSTAPA:
		p := payload[1:]
		for len(p) > 0 {
			if len(p) < 2 {
				return frame, fmt.Errorf("h264: STAP-A: %w", errShortPayload)
			}
			n := int(binary.BigEndian.Uint16(p))
			p = p[2:]
			if n == 0 || n > len(p) {
				return frame, fmt.Errorf("h264: STAP-A unit of %d bytes in %d", n, len(p))
			}
			frame = d.nalu(frame, p[:n])
			p = p[n:]
		}
		return frame, nil
	case typ == h264NALFUA:
		if len(payload) < 3 {
			return frame, fmt.Errorf("h264: FU-A: %w", errShortPayload)
		}
		fu := payload[1]
		if fu&0x80 != 0 {
			if d.inFU {
				return frame, fmt.Errorf("h264: FU-A: %w", errFragUnfinished)
			}
			hdr := payload[0]&0xe0 | fu&0x1f
			d.note(hdr & 0x1f)
			frame = append(frame, 0, 0, 0, 1, hdr)
			d.inFU = true
		} else if !d.inFU {
			return frame, fmt.Errorf("h264: FU-A: %w", errNoFragStart)
		}
		frame = append(frame, payload[2:]...)
		if fu&0x40 != 0 {
			d.inFU = false
		}
		return frame, nil
	}
	return frame, fmt.Errorf("h264: unsupported NAL unit type %d", typ)
}

func (d *h264Depacketizer) complete() bool   { return !d.inFU }
func (d *h264Depacketizer) keyframe() bool   { return d.key }
func (d *h264Depacketizer) paramsOnly() bool { return d.params && !d.vcl }

// AV1 OBU types (AV1 spec 6.2.2).
const (
	av1OBUSequenceHeader    = 1
	av1OBUTemporalDelimiter = 2
	av1OBUTileList          = 8
	av1OBUPadding           = 15
)

// av1Depacketizer turns AV1 RTP payloads (AV1 RTP spec 4) into a temporal
// unit in the low-overhead bitstream format (AV1 spec 5.2, Annex B not used):
// a temporal delimiter, then each OBU with obu_has_size_field set, which is
// what libdav1d takes as one packet. codecs.AV1Depacketizer does the same but
// allocates for every packet; this one writes straight into the frame buffer
// and keeps only fragmented OBUs aside. A temporal unit is a keyframe when it
// starts a coded video sequence: the N bit or a sequence header OBU.
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
		frame = append(frame, av1OBUTemporalDelimiter<<3|0x02, 0)
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
			v, n, lerr := obu.ReadLeb128(p)
			if lerr != nil || n > 8 {
				return frame, fmt.Errorf("av1: element length: %w", errShortPayload)
			}
			p = p[n:]
			if v > uint(len(p)) {
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

// obu appends one whole OBU, giving it a size field.
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
	switch h >> 3 & 0x0f {
	case av1OBUTemporalDelimiter, av1OBUTileList, av1OBUPadding:
		// The RTP spec has receivers ignore these; we write our own TD.
		return frame, nil
	case av1OBUSequenceHeader:
		d.key = true
	}
	body := o[hdr:]
	if h&0x02 != 0 { // already sized
		v, n, err := obu.ReadLeb128(body)
		if err != nil || v != uint(len(body))-n {
			return frame, errors.New("av1: OBU size field does not match its element")
		}
		return append(frame, o...), nil
	}
	frame = append(frame, h|0x02)
	if hdr == 2 {
		frame = append(frame, o[1])
	}
	frame = appendLeb128(frame, uint(len(body)))
	return append(frame, body...), nil
}

func (d *av1Depacketizer) complete() bool   { return !d.inFrag }
func (d *av1Depacketizer) keyframe() bool   { return d.key }
func (d *av1Depacketizer) paramsOnly() bool { return false }

func appendLeb128(b []byte, v uint) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
