package netfault

import (
	"fmt"
	"sync/atomic"
)

// Counters count what the network did to one kind of media's RTP.
type Counters struct {
	Received      atomic.Int64 // packets that reached the fault, retransmissions included
	Dropped       atomic.Int64
	Reordered     atomic.Int64 // held back behind later packets
	Duplicated    atomic.Int64
	Overflow      atomic.Int64 // dropped because too many were in flight
	Retransmitted atomic.Int64 // packets dropped here that came again
}

// KindStats is a snapshot of Counters.
type KindStats struct {
	Received, Dropped, Reordered, Duplicated, Overflow, Retransmitted int64
}

func (c *Counters) snapshot() KindStats {
	return KindStats{
		Received: c.Received.Load(), Dropped: c.Dropped.Load(), Reordered: c.Reordered.Load(),
		Duplicated: c.Duplicated.Load(), Overflow: c.Overflow.Load(), Retransmitted: c.Retransmitted.Load(),
	}
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
