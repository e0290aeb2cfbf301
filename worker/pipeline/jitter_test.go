package pipeline

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

type emitted struct {
	seq  uint16
	lost int
}

type recorder struct{ out []emitted }

func (r *recorder) emit(pk *jitterPacket, lost int) {
	if len(pk.payload) != 1 || pk.payload[0] != byte(pk.seq) {
		panic("payload does not belong to the packet")
	}
	r.out = append(r.out, emitted{pk.seq, lost})
}

type arrival struct {
	seq uint16
	ms  int // arrival time
}

func TestJitterBuffer(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		in      []arrival
		drain   bool
		want    []emitted
		results []pushResult
		// emittedAfter[i] is how many packets were out after push i; it
		// shows that in-order packets are not held at all.
		emittedAfter []int
	}{
		{
			name:         "in order passes at once",
			in:           []arrival{{10, 0}, {11, 0}, {12, 0}},
			want:         []emitted{{10, 0}, {11, 0}, {12, 0}},
			results:      []pushResult{pushInOrder, pushInOrder, pushInOrder},
			emittedAfter: []int{1, 2, 3},
		},
		{
			name:         "reorder",
			in:           []arrival{{1, 0}, {3, 1}, {2, 2}, {4, 3}},
			want:         []emitted{{1, 0}, {2, 0}, {3, 0}, {4, 0}},
			results:      []pushResult{pushInOrder, pushInOrder, pushReordered, pushInOrder},
			emittedAfter: []int{1, 1, 3, 4},
		},
		{
			name:         "duplicates emitted and held",
			in:           []arrival{{1, 0}, {2, 0}, {2, 1}, {4, 2}, {4, 3}, {3, 4}, {1, 5}},
			want:         []emitted{{1, 0}, {2, 0}, {3, 0}, {4, 0}},
			results:      []pushResult{pushInOrder, pushInOrder, pushDuplicate, pushInOrder, pushDuplicate, pushReordered, pushDuplicate},
			emittedAfter: []int{1, 2, 2, 2, 2, 4, 4},
		},
		{
			name:    "sequence wrap with reorder",
			in:      []arrival{{65534, 0}, {0, 1}, {65535, 2}, {1, 3}},
			want:    []emitted{{65534, 0}, {65535, 0}, {0, 0}, {1, 0}},
			results: []pushResult{pushInOrder, pushInOrder, pushReordered, pushInOrder},
		},
		{
			name: "gap skipped after latency, then late",
			// 2 never comes in time; 3 waits from t=10 to t=110.
			in:           []arrival{{1, 0}, {3, 10}, {4, 50}, {5, 109}, {6, 110}, {2, 111}},
			want:         []emitted{{1, 0}, {3, 1}, {4, 0}, {5, 0}, {6, 0}},
			results:      []pushResult{pushInOrder, pushInOrder, pushInOrder, pushInOrder, pushInOrder, pushLate},
			emittedAfter: []int{1, 1, 1, 1, 5, 5},
		},
		{
			name: "gap given up while only duplicates arrive",
			// 2 is missing; 3 waits from t=10, and at t=110 a copy of 3
			// is the only thing that comes.
			in:           []arrival{{1, 0}, {3, 10}, {3, 109}, {3, 110}},
			want:         []emitted{{1, 0}, {3, 1}},
			results:      []pushResult{pushInOrder, pushInOrder, pushDuplicate, pushDuplicate},
			emittedAfter: []int{1, 1, 1, 2},
		},
		{
			name:  "two gaps",
			in:    []arrival{{1, 0}, {4, 10}, {7, 20}, {8, 200}},
			want:  []emitted{{1, 0}, {4, 2}, {7, 2}, {8, 0}},
			drain: true,
		},
		{
			name:  "drain at the end skips gaps",
			in:    []arrival{{1, 0}, {3, 1}, {6, 2}},
			drain: true,
			want:  []emitted{{1, 0}, {3, 1}, {6, 2}},
		},
		{
			name: "full ring skips the gap",
			size: 8,
			// 2 is missing; 10 would need the slot of 2.
			in:           []arrival{{1, 0}, {3, 0}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {8, 0}, {9, 0}, {10, 0}},
			want:         []emitted{{1, 0}, {3, 1}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {8, 0}, {9, 0}, {10, 0}},
			emittedAfter: []int{1, 1, 1, 1, 1, 1, 1, 1, 9},
		},
		{
			name:         "jump far ahead with nothing held",
			size:         8,
			in:           []arrival{{1, 0}, {100, 1}, {101, 2}},
			want:         []emitted{{1, 0}, {100, 98}, {101, 0}},
			emittedAfter: []int{1, 2, 3},
		},
		{
			name: "sequence restart far behind",
			size: 8,
			in: func() []arrival {
				a := []arrival{{1000, 0}, {1001, 0}}
				for s := uint16(100); s < 100+resyncAfter+1; s++ {
					a = append(a, arrival{s, 1})
				}
				return a
			}(),
			want: []emitted{{1000, 0}, {1001, 0}, {115, 0}, {116, 0}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = 64
			}
			jb := newJitterBuffer(size, 100*time.Millisecond)
			rec := &recorder{}
			var results []pushResult
			var after []int
			pkt := &rtp.Packet{Payload: make([]byte, 1)}
			for _, a := range tc.in {
				// One packet reused for every push, as a track may.
				pkt.SequenceNumber = a.seq
				pkt.Timestamp = uint32(a.seq) * 3000
				pkt.Payload[0] = byte(a.seq)
				results = append(results, pushCopy(jb, pkt, time.Duration(a.ms)*time.Millisecond, rec))
				after = append(after, len(rec.out))
			}
			if tc.drain {
				jb.drain(rec)
			}
			if !slices.Equal(rec.out, tc.want) {
				t.Errorf("emitted %v, want %v", rec.out, tc.want)
			}
			if tc.results != nil && !slices.Equal(results, tc.results) {
				t.Errorf("results %v, want %v", results, tc.results)
			}
			if tc.emittedAfter != nil && !slices.Equal(after, tc.emittedAfter) {
				t.Errorf("emitted after each push %v, want %v", after, tc.emittedAfter)
			}
		})
	}
}

// pushCopy pushes a packet the caller keeps, as the track's Read would have
// written it: into a buffer of the jitter buffer.
func pushCopy(j *jitterBuffer, p *rtp.Packet, now time.Duration, out emitter) pushResult {
	buf := j.buffer()
	q := rtp.Packet{Header: p.Header, Payload: buf[:copy(buf, p.Payload)]}
	return j.push(&q, buf, now, out)
}

type nopEmitter struct{ n int }

func (e *nopEmitter) emit(*jitterPacket, int) { e.n++ }

func TestJitterBufferNoAllocs(t *testing.T) {
	jb := newJitterBuffer(64, 100*time.Millisecond)
	out := &nopEmitter{}
	pkt := &rtp.Packet{Payload: make([]byte, 1200)}
	pushCopy(jb, pkt, 0, out) // seq 0 starts the stream
	seq := uint16(1)
	push := func() {
		// A reordered pair each round exercises the held path too.
		pkt.SequenceNumber = seq + 1
		pushCopy(jb, pkt, 0, out)
		pkt.SequenceNumber = seq
		pushCopy(jb, pkt, 0, out)
		seq += 2
	}
	for i := 0; i < 100; i++ { // warm the ring's payload buffers
		push()
	}
	if n := testing.AllocsPerRun(200, push); n != 0 {
		t.Errorf("%v allocations per push, want 0", n)
	}
	if out.n != int(seq) {
		t.Errorf("emitted %d packets, want %d", out.n, seq)
	}
}

// jitterOp is one push of FuzzJitterBuffer, four bytes of its input:
//
//	flags: bits 0-1 how seq is made: 0 last+int8(a) (small steps, back,
//	       duplicates), 1 last+a<<8|b (big jumps, wraps), 2 a<<8|b, 3 last+1;
//	       bit 2 marker, bit 3 empty payload, bit 4 new SSRC, bit 5 a huge
//	       timestamp jump
//	a, b:  as above
//	dt:    time since the previous push, in ms; 255 is an hour
type jitterOp struct{ flags, a, b, dt byte }

func jitterInput(size, latencyMS byte, ops ...jitterOp) []byte {
	in := []byte{size, latencyMS}
	for _, o := range ops {
		in = append(in, o.flags, o.a, o.b, o.dt)
	}
	return in
}

// fuzzEmitter checks each emitted packet against what was pushed.
type fuzzEmitter struct {
	t       *testing.T
	jb      *jitterBuffer
	pushed  []uint16 // seq of each push
	lens    []int    // payload length of each push
	emitted []bool   // per push
	started bool
	last    uint16 // seq of the last emitted packet
	resyncs int    // jb.resyncs at the last emit
}

func (e *fuzzEmitter) emit(pk *jitterPacket, lost int) {
	t := e.t
	id := int(binary.BigEndian.Uint32(pk.buf))
	if id >= len(e.pushed) {
		t.Fatalf("emitted a packet never pushed (id %d)", id)
	}
	if e.emitted[id] {
		t.Fatalf("push %d (seq %d) emitted twice", id, pk.seq)
	}
	e.emitted[id] = true
	if pk.seq != e.pushed[id] || len(pk.payload) != e.lens[id] {
		t.Fatalf("push %d: emitted seq %d with %d bytes, pushed seq %d with %d", id, pk.seq, len(pk.payload), e.pushed[id], e.lens[id])
	}
	for _, c := range pk.payload {
		if c != byte(id) {
			t.Fatalf("push %d: payload overwritten: % x", id, pk.payload)
		}
	}
	if lost < 0 || lost > 1<<16 {
		t.Fatalf("lost %d", lost)
	}
	// In order as the buffer's window sees it: at or after the sequence
	// number that follows the last one out (a jump of 32767 ahead of it is
	// still ahead).
	if e.started && e.jb.resyncs == e.resyncs && int16(pk.seq-(e.last+1)) < 0 {
		t.Fatalf("seq %d emitted after %d with no resync", pk.seq, e.last)
	}
	e.started, e.last, e.resyncs = true, pk.seq, e.jb.resyncs
}

// checkJitter checks the jitter buffer's invariants after a push at now.
func checkJitter(t *testing.T, jb *jitterBuffer, now time.Duration) {
	held := 0
	for i := range jb.slots {
		s := &jb.slots[i]
		if s.state != slotHeld {
			if s.pkt.buf != nil {
				t.Fatalf("slot %d keeps a buffer while not holding a packet", i)
			}
			continue
		}
		held++
		if now-s.pkt.arrival >= jb.latency {
			t.Fatalf("seq %d held since %v, now %v, latency %v", s.pkt.seq, s.pkt.arrival, now, jb.latency)
		}
	}
	if held != jb.held || held > len(jb.slots) {
		t.Fatalf("held %d, counted %d, ring %d", jb.held, held, len(jb.slots))
	}
	if len(jb.free)+held > len(jb.slots)+1 || cap(jb.free) != len(jb.slots)+1 {
		t.Fatalf("%d free and %d held buffers (free list cap %d) for a ring of %d", len(jb.free), held, cap(jb.free), len(jb.slots))
	}
}

// FuzzJitterBuffer feeds hostile sequences: wraps, duplicates, gaps, jumps
// in sequence numbers and time, empty payloads, SSRC changes. Every packet is
// emitted at most once and as pushed, in sequence order but for a sequence
// restart, the ring never holds more than it has slots, and no packet waits
// longer than the latency once another packet comes.
func FuzzJitterBuffer(f *testing.F) {
	f.Add(jitterInput(3, 100, jitterOp{3, 0, 0, 1}, jitterOp{3, 0, 0, 1}, jitterOp{0, 2, 0, 1}, jitterOp{0, 0xff, 0, 1}))
	f.Add(jitterInput(6, 50, jitterOp{2, 0xff, 0xfe, 0}, jitterOp{3, 0, 0, 0}, jitterOp{3, 0, 0, 0}, jitterOp{0, 0xfe, 0, 0}))
	f.Add(jitterInput(1, 10, jitterOp{0, 5, 0, 0}, jitterOp{0, 9, 0, 0}, jitterOp{0, 0xfd, 0, 0}, jitterOp{3, 0, 0, 20}))
	f.Add(jitterInput(2, 100, jitterOp{1, 0x80, 0x00, 0}, jitterOp{1, 0x7f, 0xff, 0}, jitterOp{0x18, 0, 0, 255}, jitterOp{0x24, 0, 0, 0}))
	restart := []jitterOp{{2, 0x10, 0, 0}}
	for range resyncAfter + 2 {
		restart = append(restart, jitterOp{0, 1, 0, 1})
		restart[len(restart)-1].flags = 3
	}
	restart = append(restart, jitterOp{2, 0, 5, 1})
	for range resyncAfter + 2 {
		restart = append(restart, jitterOp{3, 0, 0, 1})
	}
	f.Add(jitterInput(4, 100, restart...))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		size := 2 << (in[0] % 8) // 2 to 256 slots
		jb := newJitterBuffer(size, time.Duration(in[1])*time.Millisecond)
		e := &fuzzEmitter{t: t, jb: jb}
		var (
			now  time.Duration
			seq  uint16
			ts   uint32
			ssrc uint32 = 1
			pkt  rtp.Packet
		)
		for ops := in[2:]; len(ops) >= 4; ops = ops[4:] {
			o := jitterOp{ops[0], ops[1], ops[2], ops[3]}
			switch o.flags & 3 {
			case 0:
				seq += uint16(int8(o.a))
			case 1:
				seq += uint16(o.a)<<8 | uint16(o.b)
			case 2:
				seq = uint16(o.a)<<8 | uint16(o.b)
			case 3:
				seq++
			}
			if o.flags&0x10 != 0 {
				ssrc++
			}
			ts += 3000
			if o.flags&0x20 != 0 {
				ts += 1 << 31
			}
			if o.dt == 255 {
				now += time.Hour
			} else {
				now += time.Duration(o.dt) * time.Millisecond
			}
			id := len(e.pushed)
			n := 1 + int(o.b)%64
			if o.flags&0x08 != 0 {
				n = 0
			}
			e.pushed = append(e.pushed, seq)
			e.lens = append(e.lens, n)
			e.emitted = append(e.emitted, false)
			// As Read would: the packet in the buffer, the header (here
			// the push's id) before the payload.
			buf := jb.buffer()
			binary.BigEndian.PutUint32(buf, uint32(id))
			payload := buf[12 : 12+n]
			for i := range payload {
				payload[i] = byte(id)
			}
			pkt.Header = rtp.Header{SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: o.flags&0x04 != 0}
			pkt.Payload = payload
			jb.push(&pkt, buf, now, e)
			checkJitter(t, jb, now)
		}
		jb.drain(e)
		if jb.held != 0 {
			t.Fatalf("%d packets held after drain", jb.held)
		}
	})
}
