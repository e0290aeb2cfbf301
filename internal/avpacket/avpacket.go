package avpacket

import (
	"fmt"

	"github.com/asticode/go-astiav"
)

// Padding is FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE (64 since FFmpeg 4): the
// zeroed bytes every packet buffer handed to FFmpeg must carry past its end,
// because optimized bitstream readers read up to that far.
const Padding = 64

// SetData makes pkt own a copy of data followed by Padding zero bytes,
// building it in scratch, which it returns (possibly grown) for reuse.
//
// FromData copies exactly the bytes it is given into an av_malloc buffer and
// calls av_packet_from_data, which assumes that buffer is padded. Handing it
// the padded bytes and then shrinking the size to the payload gives a
// buffer whose padding is really there and zeroed. (The AVBuffer then claims
// Padding bytes more than were allocated; only in-place growth,
// av_grow_packet, reads that, and nothing in roomcast grows packets.)
func SetData(pkt *astiav.Packet, data, scratch []byte) ([]byte, error) {
	n := len(data) + Padding
	if cap(scratch) < n {
		scratch = make([]byte, n, n+n/2)
	}
	scratch = scratch[:n]
	copy(scratch, data)
	clear(scratch[len(data):])
	if err := pkt.FromData(scratch); err != nil {
		return scratch, fmt.Errorf("copying %d bytes into a packet: %w", len(data), err)
	}
	pkt.SetSize(len(data))
	return scratch, nil
}
