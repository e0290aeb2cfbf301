package pipeline

import (
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
