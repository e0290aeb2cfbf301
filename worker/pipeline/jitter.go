package pipeline

import (
	"time"

	"github.com/pion/rtp"

	"github.com/roomcast/roomcast/room"
)

// jitterPacket is a packet held by the jitter buffer. It owns the buffer the
// packet was read into: a reordered packet waits here for the ones before it
// while the next ones are read into other buffers.
type jitterPacket struct {
	seq     uint16
	ts      uint32
	ssrc    uint32
	pt      uint8
	marker  bool
	arrival time.Duration // job clock time the packet was read
	payload []byte        // within buf
	buf     []byte        // the whole packet as read, from buffer
}

type slotState uint8

const (
	slotEmpty   slotState = iota
	slotHeld              // waiting to be emitted
	slotEmitted           // emitted; kept to tell a duplicate from a late packet
)

type jitterSlot struct {
	state slotState
	pkt   jitterPacket
}

// pushResult tells what the jitter buffer made of a packet.
type pushResult uint8

const (
	pushInOrder   pushResult = iota
	pushReordered            // accepted, but a later packet came first
	pushDuplicate            // dropped: already held or emitted
	pushLate                 // dropped: its gap had already been skipped
)

// emitter receives the jitter buffer's output in sequence order. lost is the
// number of packets skipped just before pk. pk is valid only during the call.
type emitter interface {
	emit(pk *jitterPacket, lost int)
}

// resyncAfter is how many packets in a row far behind the window make the
// buffer assume the sender restarted its sequence numbers.
const resyncAfter = 16

// jitterBuffer reorders packets by sequence number. It emits a packet as soon
// as every packet before it has been emitted, so an in-order stream passes
// with no added latency. A gap is given up (counted as lost) once the oldest
// packet waiting behind it has waited latency, or when a packet would not fit
// in the ring. Time is only looked at when packets arrive: the caller is
// driven by Read, and the next packet is the next chance to move on.
//
// Packets are read straight into the buffer's own packet buffers (buffer),
// and parsed in place, so a packet is never copied on its way in: a track
// holds as many buffers as packets wait at once, plus the one being read.
type jitterBuffer struct {
	latency time.Duration
	slots   []jitterSlot // ring indexed by seq & mask
	free    [][]byte     // packet buffers not in use, for reuse
	mask    uint16

	started     bool
	next        uint16 // sequence number to emit next
	highest     uint16 // highest sequence number accepted
	held        int
	pendingLost int // gap skipped, reported with the next emitted packet
	farBehind   int
	resyncs     int // sequence restarts followed
}

// newJitterBuffer returns a buffer of size packets (a power of two, at most
// 32768) that waits latency for a missing packet.
func newJitterBuffer(size int, latency time.Duration) *jitterBuffer {
	if size&(size-1) != 0 || size < 2 || size > 1<<15 {
		panic("pipeline: jitter buffer size must be a power of two in [2, 32768]")
	}
	return &jitterBuffer{
		latency: latency,
		slots:   make([]jitterSlot, size),
		// At most every slot's buffer and the one being read are free at
		// once, so appending to the list never grows it.
		free: make([][]byte, 0, size+1),
		mask: uint16(size - 1),
	}
}

// buffer returns a buffer to read the next packet into, of room's
// MaxPacketSize. Hand it back to push with the packet parsed from it, or to
// release if it holds no packet.
func (j *jitterBuffer) buffer() []byte {
	if n := len(j.free); n > 0 {
		b := j.free[n-1]
		j.free = j.free[:n-1]
		return b[:cap(b)]
	}
	return make([]byte, room.MaxPacketSize)
}

// release takes back a buffer from buffer that push did not get.
func (j *jitterBuffer) release(b []byte) {
	j.free = append(j.free, b[:0])
}

// push adds p, read at now into buf (from buffer), and emits to out whatever
// became ready. p.Payload lies in buf; the jitter buffer owns buf from now
// on, and p is not kept.
func (j *jitterBuffer) push(p *rtp.Packet, buf []byte, now time.Duration, out emitter) pushResult {
	res := j.add(p, buf, now, out)
	if res == pushDuplicate || res == pushLate {
		j.release(buf)
	}
	j.expire(now, out)
	return res
}

func (j *jitterBuffer) add(p *rtp.Packet, buf []byte, now time.Duration, out emitter) pushResult {
	seq := p.SequenceNumber
	if !j.started {
		j.started = true
		j.next = seq
		j.highest = seq
	}
	size := len(j.slots)
	d := int(int16(seq - j.next))
	if d < 0 {
		if d >= -size {
			s := &j.slots[seq&j.mask]
			if s.state == slotEmitted && s.pkt.seq == seq {
				return pushDuplicate
			}
			return pushLate
		}
		// Far behind anything we remember: a very late packet, or a sender
		// that restarted its sequence numbers. Only a run of them means the
		// latter.
		j.farBehind++
		if j.farBehind < resyncAfter {
			return pushLate
		}
		j.drain(out)
		j.resyncs++
		j.next = seq
		j.highest = seq
		d = 0
	}
	j.farBehind = 0

	// Make room: a packet a whole ring ahead pushes everything out.
	for d >= size {
		if j.held == 0 {
			j.pendingLost += int(uint16(seq - j.next))
			j.next = seq
			break
		}
		j.skipGap(out)
		d = int(int16(seq - j.next))
	}

	s := &j.slots[seq&j.mask]
	if s.state == slotHeld && s.pkt.seq == seq {
		return pushDuplicate
	}
	res := pushInOrder
	if int16(seq-j.highest) < 0 {
		res = pushReordered
	} else {
		j.highest = seq
	}
	s.state = slotHeld
	s.pkt.seq = seq
	s.pkt.ts = p.Timestamp
	s.pkt.ssrc = p.SSRC
	s.pkt.pt = p.PayloadType
	s.pkt.marker = p.Marker
	s.pkt.arrival = now
	s.pkt.payload = p.Payload
	s.pkt.buf = buf
	j.held++

	j.emitReady(out)
	return res
}

// expire gives up the gaps that packets have waited latency behind. It runs
// on every push, duplicates and late packets included, so that a gap is
// given up in time whatever arrives.
func (j *jitterBuffer) expire(now time.Duration, out emitter) {
	for j.held > 0 {
		if _, oldest := j.firstHeld(); now-oldest < j.latency {
			return
		}
		j.skipGap(out)
	}
}

// drain emits every held packet, skipping the gaps between them: the stream
// has ended and nothing more will fill them.
func (j *jitterBuffer) drain(out emitter) {
	for j.held > 0 {
		j.skipGap(out)
	}
}

// emitReady emits packets from next on for as long as there is no gap.
func (j *jitterBuffer) emitReady(out emitter) {
	for {
		s := &j.slots[j.next&j.mask]
		if s.state != slotHeld || s.pkt.seq != j.next {
			return
		}
		s.state = slotEmitted
		j.held--
		j.next++
		lost := j.pendingLost
		j.pendingLost = 0
		out.emit(&s.pkt, lost)
		// An emitted slot keeps only its sequence number, to tell
		// duplicates; its buffer goes back to the free list.
		j.release(s.pkt.buf)
		s.pkt.payload, s.pkt.buf = nil, nil
	}
}

// skipGap gives up the packets missing before the first held one.
func (j *jitterBuffer) skipGap(out emitter) {
	first, _ := j.firstHeld()
	j.pendingLost += int(first - j.next)
	j.next = first
	j.emitReady(out)
}

// firstHeld returns the lowest held sequence number and the earliest arrival
// among held packets, which is when the gap before them was first seen. The
// buffer must hold a packet. The scan is bounded by the ring size and only
// runs while a gap is open.
func (j *jitterBuffer) firstHeld() (first uint16, oldest time.Duration) {
	found := 0
	for i := 0; i < len(j.slots) && found < j.held; i++ {
		seq := j.next + uint16(i)
		s := &j.slots[seq&j.mask]
		if s.state != slotHeld || s.pkt.seq != seq {
			continue
		}
		if found == 0 || s.pkt.arrival < oldest {
			oldest = s.pkt.arrival
		}
		if found == 0 {
			first = seq
		}
		found++
	}
	return first, oldest
}
