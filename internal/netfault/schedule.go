package netfault

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// seqSet holds the sequence numbers a stream's fault dropped, with when:
// a packet that comes again is a retransmission, and how long it took is
// the recovery's delay. An RTX stream reads its primary's, from another
// goroutine. 512 KiB a stream: this is for tests.
type seqSet struct{ at [1 << 16]atomic.Int64 } // UnixNano, 0: not dropped

func (s *seqSet) add(seq uint16, now time.Time) { s.at[seq].Store(now.UnixNano()) }

// take removes seq and returns how long ago it was dropped, ok false if it
// was not.
func (s *seqSet) take(seq uint16, now time.Time) (time.Duration, bool) {
	at := s.at[seq].Swap(0)
	return time.Duration(now.UnixNano() - at), at != 0
}

// originalSeq is the sequence number an RTX packet (RFC 4588) repairs: the
// first two bytes of its payload.
func originalSeq(b []byte) (uint16, bool) {
	if len(b) < 12 {
		return 0, false
	}
	i := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < i+4 {
			return 0, false
		}
		i += 4 + 4*int(binary.BigEndian.Uint16(b[i+2:i+4]))
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding: probes are padding only
		end -= int(b[end-1])
	}
	if end < i+2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(b[i : i+2]), true
}

// Per-stream bounds.
const (
	// maxQueued is how many packets a stream may have in flight; beyond,
	// the network drops them (a full router queue), counted as Overflow.
	maxQueued = 4096
	// maxHeld is how many packets may be held back for reordering at once.
	maxHeld = 64
	// packetSize is the buffer for one packet: above pion's receive MTU.
	packetSize = 1600
)

// entry is a packet (or a read error) on its way to the reader.
type entry struct {
	at    time.Time
	order uint64 // admission order: ties leave first in, first out
	buf   []byte
}

// heldPacket is a packet held back until left more packets went ahead.
type heldPacket struct {
	buf   []byte
	delay time.Duration
	left  int
	since time.Time
}

// scheduler decides the fate of one stream's packets and holds them until
// they are due. It is not safe for concurrent use: stream serializes it.
// Time is given to it, so tests drive it without sleeping.
type scheduler struct {
	f     Fault
	depth int
	rng   *rand.Rand
	c     *Counters

	q     []entry // a min-heap by (at, order)
	held  []heldPacket
	free  [][]byte
	order uint64
	last  time.Time // latest release time given, for InOrder
	// origin is the first packet's arrival (UnixNano) among all the
	// streams of a Factory: the burst hits them all at once, RTX included.
	origin *atomic.Int64
	// dropped holds the sequence numbers dropped here, so a packet that
	// comes again is known for a retransmission; repairs, for an RTX
	// stream, are those of the streams it may repair (an RTX stream is bound
	// on its first packet, with no word of its primary but the payload type).
	dropped *seqSet
	repairs *atomic.Pointer[[]*seqSet]
}

func newScheduler(f Fault, seed1, seed2 uint64, c *Counters) *scheduler {
	return &scheduler{
		f: f, depth: f.depth(), c: c,
		rng:     rand.New(rand.NewPCG(seed1, seed2)),
		q:       make([]entry, 0, 256),
		held:    make([]heldPacket, 0, maxHeld),
		dropped: &seqSet{},
		origin:  &atomic.Int64{},
	}
}

// buffer returns a packet buffer, reused when one is free.
func (s *scheduler) buffer() []byte {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b[:cap(b)]
	}
	return make([]byte, packetSize)
}

func (s *scheduler) recycle(b []byte) { s.free = append(s.free, b[:0]) }

// admit takes a packet received at now; s owns buf from now on. The PRNG
// is drawn the same number of times for every packet, so one fault's
// decisions do not shift another's.
func (s *scheduler) admit(buf []byte, now time.Time) {
	lossDraw, jitterDraw, reorderDraw, dupDraw := s.rng.Float64(), s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	s.c.Received.Add(1)
	seq, hasSeq := uint16(0), len(buf) >= 12
	if hasSeq {
		seq = binary.BigEndian.Uint16(buf[2:4])
		if d, ok := s.dropped.take(seq, now); ok {
			s.c.recovered(d)
		}
	}
	if s.repairs != nil {
		if osn, ok := originalSeq(buf); ok {
			for _, r := range *s.repairs.Load() {
				if d, ok := r.take(osn, now); ok {
					s.c.recovered(d)
					break
				}
			}
		}
	}
	s.expire(now)
	s.origin.CompareAndSwap(0, now.UnixNano())
	since := time.Duration(now.UnixNano() - s.origin.Load())
	inBurst := s.f.BurstFor > 0 && since >= s.f.BurstAt && since < s.f.BurstAt+s.f.BurstFor
	if inBurst || lossDraw < s.f.Loss {
		if hasSeq {
			s.dropped.add(seq, now)
		}
		s.c.Dropped.Add(1)
		s.recycle(buf)
		return
	}
	delay := s.f.Delay + time.Duration(jitterDraw*float64(s.f.Jitter))
	var dup []byte
	if dupDraw < s.f.Duplicate {
		dup = append(s.buffer()[:0], buf...)
		s.c.Duplicated.Add(1)
	}
	if reorderDraw < s.f.Reorder && len(s.held) < maxHeld {
		s.held = append(s.held, heldPacket{buf: buf, delay: delay, left: s.depth, since: now})
		s.c.Reordered.Add(1)
	} else {
		s.schedule(buf, now.Add(delay))
		s.wentAhead(now)
	}
	if dup != nil {
		s.schedule(dup, now.Add(delay))
	}
}

// wentAhead counts a packet past every held one, and releases those that
// have been passed by enough.
func (s *scheduler) wentAhead(now time.Time) {
	kept := s.held[:0]
	for _, h := range s.held {
		if h.left--; h.left <= 0 {
			s.schedule(h.buf, now.Add(h.delay))
			continue
		}
		kept = append(kept, h)
	}
	s.held = kept
}

// expire releases held packets that waited MaxHold: a stream that stops
// never keeps one.
func (s *scheduler) expire(now time.Time) {
	kept := s.held[:0]
	for _, h := range s.held {
		if now.Sub(h.since) >= MaxHold {
			s.schedule(h.buf, now.Add(h.delay))
			continue
		}
		kept = append(kept, h)
	}
	s.held = kept
}

func (s *scheduler) schedule(buf []byte, at time.Time) {
	if len(s.q) >= maxQueued {
		s.c.Overflow.Add(1)
		s.recycle(buf)
		return
	}
	if s.f.InOrder && at.Before(s.last) {
		at = s.last
	}
	if at.After(s.last) {
		s.last = at
	}
	s.order++
	s.q = append(s.q, entry{at: at, order: s.order, buf: buf})
	s.up(len(s.q) - 1)
}

// pop returns the first packet due at now. Otherwise it returns, in wake,
// when to look again (zero: only when a packet comes).
func (s *scheduler) pop(now time.Time) (buf []byte, ok bool, wake time.Time) {
	s.expire(now)
	if len(s.q) > 0 && !s.q[0].at.After(now) {
		e := s.q[0]
		n := len(s.q) - 1
		s.q[0] = s.q[n]
		s.q[n] = entry{}
		s.q = s.q[:n]
		if n > 0 {
			s.down(0)
		}
		return e.buf, true, time.Time{}
	}
	if len(s.q) > 0 {
		wake = s.q[0].at
	}
	for _, h := range s.held {
		if at := h.since.Add(MaxHold); wake.IsZero() || at.Before(wake) {
			wake = at
		}
	}
	return nil, false, wake
}

// pending is how many packets are queued or held.
func (s *scheduler) pending() int { return len(s.q) + len(s.held) }

func (s *scheduler) less(i, j int) bool {
	a, b := &s.q[i], &s.q[j]
	if a.at.Equal(b.at) {
		return a.order < b.order
	}
	return a.at.Before(b.at)
}

func (s *scheduler) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			return
		}
		s.q[i], s.q[p] = s.q[p], s.q[i]
		i = p
	}
}

func (s *scheduler) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(s.q) {
			return
		}
		m := l
		if r := l + 1; r < len(s.q) && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			return
		}
		s.q[i], s.q[m] = s.q[m], s.q[i]
		i = m
	}
}
