package netfault

import (
	"fmt"
	"time"
)

// MaxHold bounds how long a packet may be held back for reordering: a
// stream that goes quiet still gets it.
const MaxHold = 250 * time.Millisecond

// Fault is what the network does to each packet received. The zero value
// is a perfect network.
type Fault struct {
	// Loss is the probability that an RTP packet is dropped, 0..1.
	Loss float64
	// RTCPLoss is the probability that a received RTCP compound packet
	// (sender reports, SDES, BYE) is dropped, 0..1.
	RTCPLoss float64
	// Reorder is the probability that a packet is held back until
	// ReorderDepth later packets of its stream have gone ahead of it (or
	// MaxHold passed); ReorderDepth defaults to 3 when Reorder is set.
	Reorder      float64
	ReorderDepth int
	// Duplicate is the probability that a packet is delivered twice.
	Duplicate float64
	// Delay is added to every packet, and Jitter, drawn uniformly in
	// [0, Jitter], on top. As netem does, packets leave in order of their
	// release times, so a jitter larger than the packet spacing reorders;
	// with InOrder a packet never leaves before the one received before
	// it (queueing delay that varies, as on a congested link).
	Delay, Jitter time.Duration
	InOrder       bool
	// BurstAt and BurstFor drop every RTP packet of a stream from BurstAt
	// after its first packet, for BurstFor: an outage the picture must
	// come back from.
	BurstAt, BurstFor time.Duration
	// Seed seeds each stream's PRNG (with the stream's codec), so a case
	// makes the same decisions every run.
	Seed uint64
}

// Validate names the first field out of range.
func (f Fault) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Loss", f.Loss}, {"RTCPLoss", f.RTCPLoss}, {"Reorder", f.Reorder}, {"Duplicate", f.Duplicate}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("netfault: Fault.%s %g is not a probability: give a value in [0, 1]", p.name, p.v)
		}
	}
	switch {
	case f.ReorderDepth < 0 || f.ReorderDepth > maxHeld:
		return fmt.Errorf("netfault: Fault.ReorderDepth %d: give 1 to %d (0: the default, 3)", f.ReorderDepth, maxHeld)
	case f.Delay < 0:
		return fmt.Errorf("netfault: Fault.Delay %v is negative", f.Delay)
	case f.Jitter < 0:
		return fmt.Errorf("netfault: Fault.Jitter %v is negative", f.Jitter)
	case f.BurstAt < 0 || f.BurstFor < 0:
		return fmt.Errorf("netfault: Fault.BurstAt %v, Fault.BurstFor %v: give non-negative durations", f.BurstAt, f.BurstFor)
	}
	return nil
}

// String describes the fault for logs and test names.
func (f Fault) String() string {
	return fmt.Sprintf("loss %g%% rtcp-loss %g%% reorder %g%%/%d dup %g%% delay %v jitter %v in-order %t burst %v+%v seed %d",
		f.Loss*100, f.RTCPLoss*100, f.Reorder*100, f.depth(), f.Duplicate*100, f.Delay, f.Jitter, f.InOrder, f.BurstAt, f.BurstFor, f.Seed)
}

func (f Fault) depth() int {
	if f.ReorderDepth == 0 {
		return 3
	}
	return f.ReorderDepth
}
