package pipeline

import (
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/mediaclock"
)

// slewPPM bounds how fast an estimated offset may rise, in microseconds per
// second of arrival time. A falling offset (a packet that shows less delay) is
// taken at once; a rising one is a sender clock running fast or a longer
// route, and jumping up on one slow packet would shift the whole peer.
// 500 ppm is several times the drift of real crystal clocks.
const slewPPM = 500

// repinStep is how far the estimated offset may move away from a pinned one
// before the pinned offset follows it. It is above the compositor's audio
// snap tolerance (10 ms), which keeps a source's audio continuous through
// smaller changes of its timestamps: a step the audio ignores but the video
// takes would put them out of step by that much for the rest of the room.
const repinStep = 15 * time.Millisecond

// reportJump is the largest move of an audio track's mapping at a later
// report that moves the estimate with the pin (Sync.pin).
const reportJump = 100 * time.Millisecond

// ntpUnixOffset is the number of seconds from the NTP epoch (1900) to the Unix
// epoch (1970).
const ntpUnixOffset = 2208988800

// Sync maps one peer's sender clock (the NTP time of its RTCP sender reports)
// to the job timeline. A peer's tracks share one Sync so that its audio and
// video get the same mapping. Safe for concurrent use.
type Sync struct {
	exact bool
	epoch time.Time

	mu     sync.Mutex
	have   bool
	offset time.Duration // job time − sender NTP time (NTP taken relative to epoch)
	last   time.Duration // latest arrival seen, for the slew
	// Once an audio track has moved from arrival times to its sender
	// reports, the offset is pinned where that track's audio already
	// plays, and moves only in steps of more than repinStep; est is then
	// the estimate the offset follows.
	pinned bool
	owner  *trackMapper
	est    time.Duration
}

// NewSync returns a Sync for one peer. With exact, the room's NTP clock is the
// job clock (room.Timeline): job time = NTP − clk.Epoch(). Otherwise the offset
// is estimated from arrival times on clk: the smallest arrival − NTP seen so
// far, rising only slowly.
func NewSync(clk mediaclock.Clock, exact bool) *Sync {
	return &Sync{exact: exact, epoch: clk.Epoch()}
}

// ntp converts a 32.32 fixed-point NTP timestamp to time since the clock's
// epoch, the form Sync works in.
func (s *Sync) ntp(v uint64) time.Duration {
	sec := int64(v>>32) - ntpUnixOffset
	nsec := int64((v & 0xffffffff) * 1e9 >> 32)
	return time.Unix(sec, nsec).Sub(s.epoch)
}

// observe feeds one packet's arrival time and the NTP time its RTP timestamp
// maps to, and returns the offset after it. It does nothing in exact mode.
func (s *Sync) observe(ntp, arrival time.Duration) time.Duration {
	if s.exact {
		return 0
	}
	sample := arrival - ntp
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.have {
		s.have, s.offset, s.est, s.last = true, sample, sample, arrival
		return s.offset
	}
	elapsed := arrival - s.last
	if elapsed > 0 {
		s.last = arrival
	}
	elapsed = min(max(elapsed, 0), time.Hour) // keeps the product below in range
	switch {
	case sample < s.est:
		s.est = sample
	case sample > s.est:
		up := elapsed * slewPPM / 1e6
		s.est += min(sample-s.est, up)
	}
	if !s.pinned || s.est-s.offset > repinStep || s.offset-s.est > repinStep {
		s.offset = s.est
	}
	return s.offset
}

// pin makes ntp map to job time at, where m's audio already plays: m is
// an audio track that was timed by its packets' arrival until its first
// sender report (or a new SSRC's) came, or whose new report moved its
// RTP→NTP mapping. The peer's first such track owns the pin; another's
// would move the owner's audio. It reports the offset before and after,
// and false when the pin is not m's (or the Sync is exact).
func (s *Sync) pin(m *trackMapper, ntp, at time.Duration) (old, offset time.Duration, ok bool) {
	if s.exact {
		return 0, 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.owner != nil && s.owner != m {
		return s.offset, s.offset, false
	}
	old = s.offset
	again := s.owner == m
	s.owner, s.pinned = m, true
	s.offset = at - ntp
	switch {
	case !s.have:
		s.have, s.est = true, s.offset
	case again && s.offset-old <= reportJump && old-s.offset <= reportJump:
		// A later report moved the owner's NTP times, and with them
		// every delay the estimate was taken from: the pin moving with
		// them is no reason to repin. A larger move is the sender's
		// clock starting afresh; the estimate then decides.
		s.est += s.offset - old
	}
	return old, s.offset, true
}

// jobTime maps an NTP time (relative to the epoch) to job time.
func (s *Sync) jobTime(ntp time.Duration) time.Duration {
	if s.exact {
		return ntp
	}
	s.mu.Lock()
	off := s.offset
	s.mu.Unlock()
	return ntp + off
}
