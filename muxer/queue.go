package muxer

import (
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// Queue defaults.
const (
	DefaultMaxDelay   = 4 * time.Second
	DefaultMaxPackets = 1024 // 4 s at 30 fps is ~310 packets; a guard against odd timestamps
	// DefaultStallAfter is how long one Write may take before the output
	// counts as stalled. A healthy network or disk returns within a
	// fraction of it; longer, viewers already see a frozen picture.
	DefaultStallAfter = 3 * time.Second
)

// QueueOptions bounds a sink's queue. A sink that falls further behind than
// either bound loses whole GOPs.
type QueueOptions struct {
	MaxDelay   time.Duration // media time between the oldest queued packet and a new one; 0 means DefaultMaxDelay
	MaxPackets int           // 0 means DefaultMaxPackets
	// StallAfter: a Write that has not returned for this long marks the
	// output stalled (not running, with an error) until it returns, and
	// while the fan-out closes it stops the output rather than wait for
	// the rest of its queue. 0 means DefaultStallAfter.
	StallAfter time.Duration
}

// An outlet's queue is a ring buffer of packets, guarded by outlet.mu. It
// starts at a video keyframe and, when a bound is hit, drops whole GOPs, so
// that a sink that fell behind resumes cleanly at a keyframe.
//
// Without video every AAC frame decodes on its own, so the queue starts at
// the first packet. Dropping one packet at a time would then feed a slow
// sink at exactly its own pace with a 21 ms hole every few frames, which
// plays as a crackle for as long as it lasts; instead a full queue drops a
// span as long as a GOP (audioDropSpan), a gap a listener hears once, and
// the sink gets that much time to catch up.

// audioDropSpan is the media time an audio-only queue drops at once.
const audioDropSpan = gopSeconds * time.Second

// push queues p, applying the keyframe start and the GOP dropping.
func (o *outlet) push(p *output.Packet) {
	if !o.f.hasVideo {
		o.pushAudioOnly(p)
		return
	}
	key := p.Kind == output.Video && p.Key
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped || o.draining {
		return
	}
	if !o.started {
		// Nothing before the first keyframe is decodable; it was never
		// this sink's to lose, so it is not counted as dropped.
		if !key {
			return
		}
		o.started = true
	}
	if o.dropping {
		if !key {
			o.dropped++
			return
		}
		o.dropping = false
	}
	if o.full(p) {
		if !key {
			// Take back the queued GOP that dropping from here would cut
			// short, so the sink receives whole GOPs. If the queue holds
			// no keyframe, its GOP is already being written and stays
			// truncated.
			o.dropped += int64(o.trimLastGOP())
		}
		o.dropped++
		o.dropping = true
		return
	}
	o.enqueue(p)
}

// pushAudioOnly queues p for a stream without video, dropping
// audioDropSpan at a time when the queue is full.
func (o *outlet) pushAudioOnly(p *output.Packet) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped || o.draining {
		return
	}
	o.started = true
	if o.dropping {
		if p.Time(&o.f.info)-o.dropFrom < audioDropSpan {
			o.dropped++
			return
		}
		o.dropping = false
	}
	if o.full(p) {
		o.dropped++
		o.dropping, o.dropFrom = true, p.Time(&o.f.info)
		return
	}
	o.enqueue(p)
}

func (o *outlet) enqueue(p *output.Packet) {
	o.q[(o.head+o.n)%len(o.q)] = p
	o.n++
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outlet) full(p *output.Packet) bool {
	if o.n == 0 {
		return false
	}
	if o.n == len(o.q) {
		return true
	}
	oldest := o.q[o.head]
	return p.Time(&o.f.info)-oldest.Time(&o.f.info) > o.maxDelay
}

// trimLastGOP removes the queue's tail from its last video keyframe on and
// returns how many packets it removed.
func (o *outlet) trimLastGOP() int {
	for i := o.n - 1; i >= 0; i-- {
		idx := (o.head + i) % len(o.q)
		if p := o.q[idx]; p.Kind == output.Video && p.Key {
			removed := o.n - i
			for j := i; j < o.n; j++ {
				o.q[(o.head+j)%len(o.q)] = nil
			}
			o.n = i
			return removed
		}
	}
	return 0
}

func (o *outlet) clearQueue() {
	for i := 0; i < o.n; i++ {
		o.q[(o.head+i)%len(o.q)] = nil
	}
	o.head, o.n = 0, 0
}

// next waits for the next packet; false means stop.
func (o *outlet) next() (*output.Packet, bool) {
	for {
		if o.ctx.Err() != nil {
			return nil, false
		}
		o.mu.Lock()
		if o.n > 0 {
			p := o.q[o.head]
			o.q[o.head] = nil
			o.head = (o.head + 1) % len(o.q)
			o.n--
			o.mu.Unlock()
			return p, true
		}
		draining := o.draining
		o.mu.Unlock()
		if draining {
			return nil, false
		}
		select {
		case <-o.wake:
		case <-o.ctx.Done():
		}
	}
}
