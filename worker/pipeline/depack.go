package pipeline

import "errors"

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
	// pending is the number of bytes kept aside for the frame but not yet
	// in it (a fragmented unit waiting for its end), which counts against
	// the frame's size cap.
	pending() int
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
