package netfault

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Counters count what the network did to one kind of media's RTP.
type Counters struct {
	Received      atomic.Int64 // packets that reached the fault, retransmissions included
	Dropped       atomic.Int64
	Reordered     atomic.Int64 // held back behind later packets
	Duplicated    atomic.Int64
	Overflow      atomic.Int64 // dropped because too many were in flight
	Retransmitted atomic.Int64 // packets dropped here that came again
	// RecoveryNanos sums, and RecoveryMaxNanos is the largest of, the
	// times from a drop to the packet's retransmission; Recovered50,
	// 100 and 200 count those within 50, 100 and 200 ms.
	RecoveryNanos, RecoveryMaxNanos         atomic.Int64
	Recovered50, Recovered100, Recovered200 atomic.Int64
}

func (c *Counters) recovered(d time.Duration) {
	c.Retransmitted.Add(1)
	c.RecoveryNanos.Add(int64(d))
	for {
		m := c.RecoveryMaxNanos.Load()
		if int64(d) <= m || c.RecoveryMaxNanos.CompareAndSwap(m, int64(d)) {
			break
		}
	}
	switch {
	case d <= 50*time.Millisecond:
		c.Recovered50.Add(1)
		fallthrough
	case d <= 100*time.Millisecond:
		c.Recovered100.Add(1)
		fallthrough
	case d <= 200*time.Millisecond:
		c.Recovered200.Add(1)
	}
}

// KindStats is a snapshot of Counters.
type KindStats struct {
	Received, Dropped, Reordered, Duplicated, Overflow, Retransmitted int64
	// RecoveryMean and RecoveryMax are the retransmissions' delays after
	// the drop; Within50ms, Within100ms and Within200ms count them.
	RecoveryMean, RecoveryMax            time.Duration
	Within50ms, Within100ms, Within200ms int64
}

func (c *Counters) snapshot() KindStats {
	k := KindStats{
		Received: c.Received.Load(), Dropped: c.Dropped.Load(), Reordered: c.Reordered.Load(),
		Duplicated: c.Duplicated.Load(), Overflow: c.Overflow.Load(), Retransmitted: c.Retransmitted.Load(),
	}
	if k.Retransmitted > 0 {
		k.RecoveryMean = time.Duration(c.RecoveryNanos.Load() / k.Retransmitted)
	}
	k.RecoveryMax = time.Duration(c.RecoveryMaxNanos.Load())
	k.Within50ms, k.Within100ms, k.Within200ms = c.Recovered50.Load(), c.Recovered100.Load(), c.Recovered200.Load()
	return k
}

// Stats is what a Factory's interceptors saw and did.
type Stats struct {
	Video, Audio KindStats
	// RTX counts packets of RTX repair streams (RFC 4588), which carry the
	// retransmissions when the SFU negotiated them.
	RTX KindStats
	// RTCPReceived and RTCPDropped count received RTCP compound packets.
	RTCPReceived, RTCPDropped int64
	// NACKs, NACKedPackets, PLIs and FIRs count the feedback the peer
	// connection sent.
	NACKs, NACKedPackets, PLIs, FIRs int64
	// Streams is how many remote streams were bound.
	Streams int64
}

func (s Stats) String() string {
	return fmt.Sprintf("video %+v, audio %+v, rtx %+v, rtcp %d received %d dropped, sent %d NACKs (%d packets), %d PLIs, %d FIRs, %d streams",
		s.Video, s.Audio, s.RTX, s.RTCPReceived, s.RTCPDropped, s.NACKs, s.NACKedPackets, s.PLIs, s.FIRs, s.Streams)
}
