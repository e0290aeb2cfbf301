package pipeline

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/pion/rtp/codecs"
)

// vp9Depacketizer strips the VP9 payload descriptor. A frame is a keyframe
// when its first packet is not inter-predicted (P=0) on the base spatial layer
// and its uncompressed header is a KEY_FRAME's.
//
// Keyframes cost a few small allocations, none of them per packet or per
// inter frame: codecs.VP9Packet makes the scalability structure's slices
// afresh whenever a packet carries one (senders put it on keyframes), and
// vp9.Header.Unmarshal allocates the colour config and frame size of a
// keyframe.
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
		d.key = !d.pkt.P && d.pkt.SID == 0 && vp9Keyframe(b)
	}
	return append(frame, b...), nil
}

func (d *vp9Depacketizer) pending() int     { return 0 }
func (d *vp9Depacketizer) complete() bool   { return true }
func (d *vp9Depacketizer) keyframe() bool   { return d.key }
func (d *vp9Depacketizer) paramsOnly() bool { return false }

// vp9Keyframe reports whether a frame's uncompressed header is a key frame's
// that the decoder can start from: KEY_FRAME, not show_existing_frame, with
// a valid sync code.
func vp9Keyframe(b []byte) bool {
	var h vp9.Header
	return h.Unmarshal(b) == nil && !h.ShowExistingFrame && !h.NonKeyFrame
}
