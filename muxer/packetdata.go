package muxer

import (
	"fmt"

	"github.com/asticode/go-astiav"
)

// inputPadding is FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE (64 since FFmpeg 4):
// the zeroed bytes every packet buffer handed to FFmpeg must carry past its
// end, because optimized bitstream readers read up to that far.
const inputPadding = 64

// setPacketData makes pkt own a copy of data followed by inputPadding zero
// bytes, reusing scratch (returned, possibly grown) to build it.
//
// astiav's Packet.FromData copies exactly len(data) bytes into an av_malloc
// buffer and calls av_packet_from_data, which assumes the buffer is padded;
// the copy is not, so readers would run off its end. Handing FromData the
// padded bytes and then shrinking the size to the payload gives a buffer
// whose padding is really there and zeroed. (The AVBuffer then claims 64
// bytes more than were allocated; only in-place growth, av_grow_packet, reads
// that, and nothing on our paths grows packets.)
func setPacketData(pkt *astiav.Packet, data, scratch []byte) ([]byte, error) {
	n := len(data) + inputPadding
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
