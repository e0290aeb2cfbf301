package pipeline

import (
	"fmt"

	"github.com/pion/rtp/codecs"
)

// vp8Depacketizer strips the VP8 payload descriptor (RFC 7741). A frame is a
// keyframe when the P bit of its frame tag, the first byte of the first
// partition, is 0. mediacommon has no VP8 header parser, and that one bit is
// all the frame tag is needed for.
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

func (d *vp8Depacketizer) pending() int     { return 0 }
func (d *vp8Depacketizer) complete() bool   { return true }
func (d *vp8Depacketizer) keyframe() bool   { return d.key }
func (d *vp8Depacketizer) paramsOnly() bool { return false }
