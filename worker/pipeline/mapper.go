package pipeline

import (
	"log/slog"
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
// Each report of an audio track pins the peer's Sync where that audio
// already plays (Sync.pin): at its first report, where its arrival put it;
// at every later one, where the report before put it. The compositor keeps
// a source's audio continuous through changes of its timestamps of up to
// 10 ms, so audio that a report moved by a few ms would stay where it was,
// while the video, whose frames are placed one by one, would not take the
// change, and the two would be out of step by that much for the rest of
// the room. Pinned, the audio stays and the video moves instead: the two
// keep the offset the reports give them. Chromium's voice reports move by
// 2 to 40 ms every few seconds (libwebrtc stamps them when a frame is
// encoded, not captured; under load its capture times slip too), and a
// move past 10 ms also left a gap or an overlap in the audio.
type trackMapper struct {
	sync  *Sync
	rate  int64 // RTP clock rate, Hz
	audio bool
	log   *slog.Logger // nil unless debugging: the mapping's decisions

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
	loggedOffset time.Duration // the Sync offset last logged
}

// offsetLogStep is how far the peer's offset moves before a debugging
// mapper logs it again.
const offsetLogStep = 2 * time.Millisecond

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
		if m.log != nil {
			m.log.Debug("sync: first packet", "ssrc", ssrc, "ts", ts, "arrival", arrival)
		}
	}
	if ssrc != m.ssrc {
		// The sender changed streams; its timestamps start afresh.
		if m.log != nil {
			m.log.Debug("sync: new ssrc, timed by arrival until its first report", "old_ssrc", m.ssrc, "ssrc", ssrc, "ts", ts, "arrival", arrival)
		}
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
		m.applySR(sr, ext, arrival)
	}
	if m.haveSR {
		off := m.sync.observe(m.ntpOf(ext), arrival)
		if m.log != nil && (off-m.loggedOffset >= offsetLogStep || m.loggedOffset-off >= offsetLogStep) {
			m.log.Debug("sync: peer offset moved", "from", m.loggedOffset, "to", off, "arrival", arrival)
			m.loggedOffset = off
		}
	}
}

// applySR makes sr the current packet's (ext) mapping; for audio it pins
// the peer's Sync where the packet already plays.
func (m *trackMapper) applySR(sr senderReport, ext int64, arrival time.Duration) {
	first := !m.haveSR
	at := m.jobTimeExt(ext)
	m.haveSR, m.srExt, m.srNTP = true, m.u.peek(sr.rtp), sr.ntp
	var old, off time.Duration
	var pinned bool
	if m.audio {
		old, off, pinned = m.sync.pin(m, m.ntpOf(ext), at)
	}
	if m.log != nil {
		after := m.jobTimeExt(ext)
		m.log.Debug("sync: sender report applied", "ssrc", sr.ssrc, "first", first, "arrival", arrival,
			"before", at, "after", after, "moved", after-at, "pinned", pinned, "offset_from", old, "offset", off)
		m.loggedOffset = off
	}
}

func (m *trackMapper) ntpOf(ext int64) time.Duration {
	return m.srNTP + ticks(ext-m.srExt, m.rate)
}

// jobTime maps an RTP timestamp of the current stream to job time.
func (m *trackMapper) jobTime(ts uint32) time.Duration {
	return m.jobTimeExt(m.u.peek(ts))
}

// jobTimeExt maps an extended RTP timestamp of the current stream.
func (m *trackMapper) jobTimeExt(ext int64) time.Duration {
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
