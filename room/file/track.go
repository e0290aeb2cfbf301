package file

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// rtcpBuffer is how many RTCP compounds a track buffers for a slow reader;
// past that they are dropped, as a congested network would.
const rtcpBuffer = 16

// track is the receiving end of one sender: what room.Track's reader sees.
//
// Clock holds: every packet in the queue holds the clock (the scheduler took
// the hold before pushing it). Read hands the packet and its hold to the
// reader, and releases that hold on the reader's next Read, which is how
// the room knows the reader has finished with it. Close releases whatever is
// still held. So holds == queued packets + (1 if owed).
type track struct {
	info  room.TrackInfo
	clock mediaclock.Clock

	mu     sync.Mutex
	cond   sync.Cond
	queue  []*rtp.Packet // queue[head:] is pending; the slice is reused
	head   int
	owed   bool // the reader holds the hold of the last packet it got
	ended  bool // removed: drain, then io.EOF
	closed bool // room closed: io.EOF at once

	rtcp       chan []rtcp.Packet
	endOnce    sync.Once
	rtcpEnded  chan struct{}
	closeOnce  sync.Once
	rtcpClosed chan struct{}

	stats trackCounters
}

// trackCounters are read by Stats while the scheduler updates them.
type trackCounters struct {
	frames, packets, octets, lost, reordered, overlaps atomic.Uint64
	senderReports, rtcpDropped, keyframeReqs           atomic.Uint64
}

func newTrack(info room.TrackInfo, clock mediaclock.Clock) *track {
	t := &track{
		info:       info,
		clock:      clock,
		rtcp:       make(chan []rtcp.Packet, rtcpBuffer),
		rtcpEnded:  make(chan struct{}),
		rtcpClosed: make(chan struct{}),
	}
	t.cond.L = &t.mu
	return t
}

var _ room.Track = (*track)(nil)

// Info implements room.Track.
func (t *track) Info() room.TrackInfo { return t.info }

// Read implements room.Track. One goroutine reads a track; calling Read
// again is what tells the room the previous packet was processed.
func (t *track) Read(b []byte) (int, error) {
	p, err := t.next()
	if err != nil {
		return 0, err
	}
	return p.MarshalTo(b)
}

// next takes the next queued packet, releasing the hold of the previous one.
func (t *track) next() (*rtp.Packet, error) {
	t.mu.Lock()
	if t.owed {
		t.owed = false
		t.mu.Unlock()
		t.clock.Release()
		t.mu.Lock()
	}
	defer t.mu.Unlock()
	for {
		if t.closed {
			return nil, io.EOF
		}
		if t.head < len(t.queue) {
			p := t.queue[t.head]
			t.queue[t.head] = nil
			t.head++
			if t.head == len(t.queue) {
				t.queue, t.head = t.queue[:0], 0
			}
			t.owed = true
			return p, nil
		}
		if t.ended {
			return nil, io.EOF
		}
		t.cond.Wait()
	}
}

// ReadRTCP implements room.Track. It takes no clock holds: RTCP is advisory
// and a reader that ignores it must not stall the clock.
func (t *track) ReadRTCP() ([]rtcp.Packet, error) {
	select {
	case <-t.rtcpClosed:
		return nil, io.EOF
	default:
	}
	select {
	case p := <-t.rtcp:
		return p, nil
	case <-t.rtcpClosed:
		return nil, io.EOF
	case <-t.rtcpEnded:
		select {
		case p := <-t.rtcp:
			return p, nil
		default:
			return nil, io.EOF
		}
	}
}

// RequestKeyframe implements room.Track. The files' keyframes are where they
// are; the request is counted so tests can see the pipeline asked.
func (t *track) RequestKeyframe() error {
	t.stats.keyframeReqs.Add(1)
	return nil
}

// push queues a packet for the reader, holding the clock for it.
func (t *track) push(p *rtp.Packet) {
	t.clock.Hold()
	t.mu.Lock()
	if t.closed || t.ended {
		t.mu.Unlock()
		t.clock.Release()
		return
	}
	t.queue = append(t.queue, p)
	t.mu.Unlock()
	t.cond.Signal()
}

// sendRTCP offers an RTCP compound to the reader, dropping it if the buffer
// is full.
func (t *track) sendRTCP(pkts []rtcp.Packet) {
	select {
	case t.rtcp <- pkts:
	default:
		t.stats.rtcpDropped.Add(1)
	}
}

// end marks the track removed: readers drain what is queued, then get EOF.
func (t *track) end() {
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
	t.cond.Broadcast()
	t.endOnce.Do(func() { close(t.rtcpEnded) })
}

// close drops everything queued, releases every hold the track has, and
// makes reads return io.EOF at once.
func (t *track) close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	n := len(t.queue) - t.head
	if t.owed {
		n++
		t.owed = false
	}
	clear(t.queue)
	t.queue, t.head = nil, 0
	t.mu.Unlock()
	t.cond.Broadcast()
	t.closeOnce.Do(func() { close(t.rtcpClosed) })
	for range n {
		t.clock.Release()
	}
}
