package pipeline

import "time"

// Stats counts what a Pipeline has seen. Packets counts every packet read;
// Lost, Reordered, Duplicates and Late are about sequence numbers; frames are
// video frames or audio frames.
type Stats struct {
	Packets          uint64
	Malformed        uint64 // not RTP: skipped
	OtherPayloadType uint64 // of a payload type the track was not opened with (a codec switch): dropped
	Lost             uint64 // never arrived in time: the gap was skipped
	Reordered        uint64 // arrived after a later packet, still in time
	Duplicates       uint64
	Late             uint64 // arrived after its gap was skipped; dropped
	FramesDecoded    uint64
	FramesDropped    uint64 // video frames not decoded or not shown: loss inside, waiting for a keyframe, too large or oversize
	FramesTooLarge   uint64 // of FramesDropped: over the codec's frame size cap
	FramesOversize   uint64 // of FramesDropped: decoded wider or taller than maxFrameSide
	DecodeErrors     uint64
	KeyframeRequests uint64
	LastMediaTime    time.Duration // job time of the last frame given to the Sink
}

// publish makes the counters so far visible to Stats; Run's goroutine calls
// it once per packet.
func (p *Pipeline) publish() {
	p.statsMu.Lock()
	p.stats = p.st
	p.statsMu.Unlock()
}

// Stats returns the counters so far. Safe to call at any time.
func (p *Pipeline) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}
