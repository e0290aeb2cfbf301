package pipeline

import (
	"sync"
	"time"
)

// senderReport is the part of an RTCP SR the mapper needs.
type senderReport struct {
	ssrc uint32
	rtp  uint32
	ntp  time.Duration // relative to the Sync's epoch
}

// unwrapper extends 32-bit RTP timestamps to 64 bits. Each timestamp is taken
// as the nearest one to the highest seen, so reordering and wrap both work.
type unwrapper struct {
	started bool
	last    uint32
	ext     int64
}

func (u *unwrapper) peek(ts uint32) int64 {
	if !u.started {
		return int64(ts)
	}
	return u.ext + int64(int32(ts-u.last))
}

func (u *unwrapper) unwrap(ts uint32) int64 {
	e := u.peek(ts)
	if !u.started || e > u.ext {
		u.started, u.last, u.ext = true, ts, e
	}
	return e
}

// trackMapper maps one track's RTP timestamps to job time. Before the first
// sender report it anchors the first packet at its arrival; from the first
// report on, RTP time goes to NTP through the latest report and NTP to job
// time through the peer's Sync. Everything but setSR runs on Run's goroutine.
//
// An audio track's move from arrival times to its report pins the peer's
// Sync where the audio already plays (Sync.pin): the compositor keeps a
// source's audio continuous through small changes of its timestamps, so
// audio that jumped by a few ms at its first report would not move, while
// the video, whose frames are placed one by one, would. Seen with browser
// publishers: a recorded offset that changed by up to 20 ms from run to
// run, and stayed put within each.
type trackMapper struct {
	sync  *Sync
	rate  int64 // RTP clock rate, Hz
	audio bool

	mu      sync.Mutex
	pending senderReport
	hasSR   bool // pending holds a report not applied yet

	u            unwrapper
	ssrc         uint32
	haveFirst    bool
	firstExt     int64
	firstArrival time.Duration
	haveSR       bool
	srExt        int64
	srNTP        time.Duration
}

func newTrackMapper(s *Sync, rate uint32) *trackMapper {
	// Every RTP video payload format has a 90 kHz clock; no audio one does.
	return &trackMapper{sync: s, rate: int64(rate), audio: rate != 90000}
}

// setSR hands over a sender report; the RTCP goroutine calls it.
func (m *trackMapper) setSR(ssrc, rtpTS uint32, ntp uint64) {
	sr := senderReport{ssrc: ssrc, rtp: rtpTS, ntp: m.sync.ntp(ntp)}
	m.mu.Lock()
	m.pending, m.hasSR = sr, true
	m.mu.Unlock()
}

// observe takes one in-order packet.
func (m *trackMapper) observe(ssrc, ts uint32, arrival time.Duration) {
	ext := m.u.unwrap(ts)
	if !m.haveFirst {
		m.haveFirst, m.firstExt, m.firstArrival, m.ssrc = true, ext, arrival, ssrc
	}
	if ssrc != m.ssrc {
		// The sender changed streams; its timestamps start afresh.
		m.u = unwrapper{}
		ext = m.u.unwrap(ts)
		m.ssrc, m.firstExt, m.firstArrival, m.haveSR = ssrc, ext, arrival, false
	}
	m.mu.Lock()
	sr, ok := m.pending, m.hasSR
	if ok && sr.ssrc == ssrc {
		m.hasSR = false
	}
	m.mu.Unlock()
	if ok && sr.ssrc == ssrc {
		first := !m.haveSR
		m.haveSR, m.srExt, m.srNTP = true, m.u.peek(sr.rtp), sr.ntp
		if first && m.audio {
			m.sync.pin(m, m.ntpOf(ext), m.firstArrival+ticks(ext-m.firstExt, m.rate))
		}
	}
	if m.haveSR {
		m.sync.observe(m.ntpOf(ext), arrival)
	}
}

func (m *trackMapper) ntpOf(ext int64) time.Duration {
	return m.srNTP + ticks(ext-m.srExt, m.rate)
}

// jobTime maps an RTP timestamp of the current stream to job time.
func (m *trackMapper) jobTime(ts uint32) time.Duration {
	ext := m.u.peek(ts)
	if m.haveSR {
		return m.sync.jobTime(m.ntpOf(ext))
	}
	return m.firstArrival + ticks(ext-m.firstExt, m.rate)
}

// ticks converts n periods of a rate Hz clock to a duration without
// overflowing for any 64-bit n that fits one.
func ticks(n, rate int64) time.Duration {
	return time.Duration(n/rate*1e9 + n%rate*1e9/rate)
}
