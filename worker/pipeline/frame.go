package pipeline

import (
	"errors"
	"fmt"
)

// errFrameTooLarge drops a frame that outgrew its codec's size cap.
var errFrameTooLarge = errors.New("frame over the size cap")

// frameHandler takes the frames an assembler finishes.
type frameHandler interface {
	// frameDone takes a finished frame, or nil when the frame was dropped:
	// its start or a packet was lost, it did not depacketize, it ended
	// inside a fragment, it was empty, or (tooLarge) it outgrew the size
	// cap. frame is valid only during the call.
	frameDone(frame []byte, tooLarge bool)
}

// assembler rebuilds one frame at a time from the jitter buffer's packets,
// in sequence order, with a depacketizer. A frame ends with the marker bit,
// or with the first packet of the next timestamp when the marker was lost.
// Its size is capped: a sender that never sets the marker nor moves the
// timestamp would otherwise grow the frame without bound.
type assembler struct {
	depack  depacketizer
	maxSize int

	frame    []byte
	ts       uint32
	active   bool
	corrupt  bool // lost its start or a packet, or failed to depacketize
	tooLarge bool
}

func newAssembler(d depacketizer, maxSize int) *assembler {
	return &assembler{depack: d, maxSize: maxSize}
}

// lose marks the frame being assembled, if any, as missing packets.
func (a *assembler) lose() {
	if a.active {
		a.corrupt = true
	}
}

// push adds one packet's payload, finishing the frame before it if ts starts
// a new one and the frame it ends if marker is set. The error says why the
// packet made its frame unusable; the frame is dropped when it ends.
func (a *assembler) push(payload []byte, ts uint32, marker bool, out frameHandler) error {
	if len(payload) == 0 {
		// Padding only (senders probe bandwidth with such packets): no
		// media, and no head of a frame either.
		if marker && a.active && ts == a.ts {
			a.end(out)
		}
		return nil
	}
	if a.active && ts != a.ts {
		// The frame ended without a marker (or it was lost).
		a.end(out)
	}
	if !a.active {
		// Whether lost packets began this frame shows in the head check;
		// the keyframe gate catches whole lost frames.
		a.active, a.ts = true, ts
		a.frame = a.frame[:0]
		a.depack.reset()
		a.corrupt, a.tooLarge = !a.depack.isHead(payload), false
	}
	var err error
	if !a.corrupt {
		a.frame, err = a.depack.append(a.frame, payload)
		if err != nil {
			a.corrupt = true
		} else if n := len(a.frame) + a.depack.pending(); n > a.maxSize {
			a.corrupt, a.tooLarge = true, true
			a.frame = a.frame[:0]
			err = fmt.Errorf("%w: %d bytes, cap %d", errFrameTooLarge, n, a.maxSize)
		}
	}
	if marker {
		a.end(out)
	}
	return err
}

// end finishes the frame being assembled.
func (a *assembler) end(out frameHandler) {
	a.active = false
	if a.corrupt || !a.depack.complete() || len(a.frame) == 0 {
		out.frameDone(nil, a.tooLarge)
		return
	}
	out.frameDone(a.frame, false)
}
