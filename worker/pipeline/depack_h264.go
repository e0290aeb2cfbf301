package pipeline

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// h264Depacketizer turns single NAL unit, STAP-A and FU-A packets (RFC 6184
// packetization modes 0 and 1) into Annex B. It writes straight into the frame
// buffer, where codecs.H264Packet would allocate for every packet. A frame is
// a keyframe when it holds an IDR slice; the SPS and PPS it needs may come
// with it or in a frame of their own before it.
//
// The start codes are written here rather than by mediacommon's
// h264.AnnexB.Marshal: that returns a new buffer for every access unit and
// has no form that appends to ours, and the NAL units arrive one packet at a
// time, so the frame would have to be collected as [][]byte first.
type h264Depacketizer struct {
	inFU   bool
	key    bool
	vcl    bool // holds a slice
	params bool // holds an SPS or PPS
}

// annexBStartCode is the 4-byte start code FFmpeg's h264 parser expects
// before every NAL unit of a packet (the one h264.AnnexB.Marshal writes).
var annexBStartCode = [4]byte{0, 0, 0, 1}

func (d *h264Depacketizer) reset() { *d = h264Depacketizer{} }

// note records what a NAL unit of type typ means for the frame.
func (d *h264Depacketizer) note(typ h264.NALUType) {
	switch {
	case typ == h264.NALUTypeIDR:
		d.key, d.vcl = true, true
	case typ >= h264.NALUTypeNonIDR && typ <= h264.NALUTypeDataPartitionC:
		d.vcl = true
	case typ == h264.NALUTypeSPS || typ == h264.NALUTypePPS:
		d.params = true
	}
}

func naluType(b byte) h264.NALUType { return h264.NALUType(b & 0x1f) }

func (d *h264Depacketizer) isHead(payload []byte) bool {
	if len(payload) == 0 {
		return false
	}
	switch naluType(payload[0]) {
	case h264.NALUTypeFUA, h264.NALUTypeFUB:
		return len(payload) > 1 && payload[1]&0x80 != 0
	}
	return true
}

func (d *h264Depacketizer) nalu(frame, nal []byte) []byte {
	d.note(naluType(nal[0]))
	frame = append(frame, annexBStartCode[:]...)
	return append(frame, nal...)
}

func (d *h264Depacketizer) append(frame, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return frame, fmt.Errorf("h264: %w", errShortPayload)
	}
	typ := naluType(payload[0])
	if d.inFU && typ != h264.NALUTypeFUA {
		return frame, fmt.Errorf("h264: %w", errFragUnfinished)
	}
	switch {
	case typ >= h264.NALUTypeNonIDR && typ <= h264.NALUTypeReserved23:
		return d.nalu(frame, payload), nil
	case typ == h264.NALUTypeSTAPA:
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
	case typ == h264.NALUTypeFUA:
		if len(payload) < 3 {
			return frame, fmt.Errorf("h264: FU-A: %w", errShortPayload)
		}
		fu := payload[1]
		if fu&0x80 != 0 {
			if d.inFU {
				return frame, fmt.Errorf("h264: FU-A: %w", errFragUnfinished)
			}
			hdr := payload[0]&0xe0 | fu&0x1f
			d.note(naluType(hdr))
			frame = append(frame, annexBStartCode[:]...)
			frame = append(frame, hdr)
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

func (d *h264Depacketizer) pending() int     { return 0 }
func (d *h264Depacketizer) complete() bool   { return !d.inFU }
func (d *h264Depacketizer) keyframe() bool   { return d.key }
func (d *h264Depacketizer) paramsOnly() bool { return d.params && !d.vcl }
