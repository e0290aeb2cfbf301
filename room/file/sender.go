package file

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomcast/roomcast/internal/mediafile"
	"github.com/roomcast/roomcast/room"
)

// mtu is the RTP packet size limit browsers use.
const mtu = 1200

// srInterval is how much media time passes between sender reports.
const srInterval = time.Second

// frame is one demuxed access unit, ready to packetize.
type frame struct {
	data  []byte
	rel   int64         // RTP ticks since the file's time zero
	at    time.Duration // media time on the job timeline: join + rel
	sched time.Duration // when it is delivered: at, in decode order, never before join
	key   bool
}

// demuxer reads one media file lazily and hands each sample to the sender
// of its stream. Only the scheduler goroutine touches it.
type demuxer struct {
	r       *mediafile.Reader
	sample  mediafile.Sample
	senders []*sender // by stream index; nil for streams not sent
	origin  float64   // seconds subtracted from timestamps
	eof     bool
}

func openDemuxer(mf *MediaFile) (*demuxer, error) {
	r, err := mediafile.Open(mf.Path)
	if err != nil {
		return nil, err
	}
	d := &demuxer{r: r}
	info := r.Info()
	n := 0
	for _, s := range info.Streams {
		n = max(n, s.Index+1)
	}
	for _, si := range []*mediafile.Stream{mf.Video, mf.Audio} {
		if si != nil && !slices.ContainsFunc(info.Streams, func(s *mediafile.Stream) bool {
			return s.Index == si.Index && s.Codec.MimeType == si.Codec.MimeType
		}) {
			d.close()
			return nil, fmt.Errorf("%s: stream #%d is gone; the file changed since the manifest was loaded", mf.Path, si.Index)
		}
	}
	d.senders = make([]*sender, n)
	// Time zero is the file's zero. A positive start time (a cut from a
	// longer recording) is taken off so the media starts at join; a
	// negative one is Opus pre-roll, which must stay before zero to keep
	// audio and video in sync.
	if st := info.StartTime; st > 0 {
		d.origin = float64(st.Microseconds()) / 1e6
	}
	return d, nil
}

// add makes s the sender of its stream; the reader then demuxes only the
// streams that have one.
func (d *demuxer) add(s *sender) error {
	d.senders[s.info.Index] = s
	var sel []*mediafile.Stream
	for _, o := range d.senders {
		if o != nil {
			sel = append(sel, o.info)
		}
	}
	return d.r.Select(sel...)
}

func (d *demuxer) close() {
	if d.r != nil {
		d.r.Close()
		d.r = nil
	}
}

// readOne demuxes one sample into its sender's pending frames.
func (d *demuxer) readOne() error {
	if d.eof {
		return nil
	}
	if err := d.r.Read(&d.sample); err != nil {
		if errors.Is(err, io.EOF) {
			d.eof = true
			return nil
		}
		return err
	}
	s := d.senders[d.sample.Stream.Index]
	d.sample.Stream = nil
	if s == nil {
		return nil
	}
	err := s.ingest(&d.sample, d.origin)
	d.sample.Data = nil // the frame owns it now
	return err
}

// sender turns one stream into RTP for one track. Only the scheduler
// goroutine touches it.
type sender struct {
	t      *track
	src    *demuxer
	info   *mediafile.Stream
	log    *slog.Logger
	video  bool
	screen bool
	rate   int64 // RTP clock rate
	join   time.Duration
	mutes  []Interval

	pending []frame // pending[head:] is demuxed but not sent; reused
	head    int
	done    bool // stopped sending (removed, or past leave)
	removed bool // TrackRemoved sent

	started   bool
	nextRel   int64 // audio: where the next packet should start
	lastSched time.Duration
	endAt     time.Duration // media time the last demuxed frame ends

	packetizer rtp.Packetizer
	ssrc       uint32
	tsBase     uint32
	needKey    bool // video: resume only at a keyframe after a mute
	talkspurt  bool // audio: the next packet starts a talkspurt (marker bit)
	srSent     bool
	lastSR     time.Duration
	sentPkts   uint32
	sentOctets uint32

	impair  Impairment
	rng     *rand.Rand
	delayed *rtp.Packet // held back by the reorder impairment
}

func newSender(t *track, src *demuxer, si *mediafile.Stream, join time.Duration, mutes []Interval, imp Impairment, log *slog.Logger) *sender {
	s := &sender{
		t:         t,
		src:       src,
		info:      si,
		log:       log,
		video:     t.info.Kind == room.KindVideo,
		screen:    t.info.Source == room.SourceScreen,
		rate:      int64(si.Codec.ClockRate),
		join:      join,
		mutes:     mutes,
		ssrc:      rand.Uint32(),
		tsBase:    rand.Uint32(), // real senders start at a random timestamp
		lastSched: join,
		endAt:     join,
		talkspurt: true,
		impair:    imp,
	}
	var payloader rtp.Payloader
	switch si.Codec.MimeType {
	case "video/VP8":
		payloader = &codecs.VP8Payloader{EnablePictureID: true}
	case "video/VP9":
		payloader = &codecs.VP9Payloader{}
	case "video/H264":
		payloader = &codecs.H264Payloader{}
	case "video/AV1":
		payloader = &codecs.AV1Payloader{}
	default:
		payloader = &codecs.OpusPayloader{}
	}
	s.packetizer = rtp.NewPacketizer(mtu, si.Codec.PayloadType, s.ssrc, payloader, rtp.NewRandomSequencer(), si.Codec.ClockRate)
	if imp.LossPct > 0 || imp.ReorderPct > 0 {
		h := fnv.New64a()
		h.Write([]byte(t.info.ID))
		s.rng = rand.New(rand.NewPCG(uint64(imp.Seed), h.Sum64()))
	}
	return s
}

// ticksToDuration converts RTP ticks to a duration without overflow for any
// realistic length.
func ticksToDuration(ticks, rate int64) time.Duration {
	return time.Duration(ticks/rate)*time.Second + time.Duration((ticks%rate)*int64(time.Second)/rate)
}

// ingest converts a demuxed sample into a pending frame.
func (s *sender) ingest(smp *mediafile.Sample, origin float64) error {
	if s.done {
		return nil
	}
	data := smp.Data
	tbSec := float64(s.info.TimeBaseNum) / float64(s.info.TimeBaseDen)
	pts, dts := smp.PTS, smp.DTS
	if pts == mediafile.NoTimestamp {
		pts = dts
	}
	key := smp.Key

	var rel, dur int64
	if s.video {
		if pts == mediafile.NoTimestamp {
			rel = s.nextRel
		} else {
			rel = s.videoTicks(float64(pts)*tbSec - origin)
		}
		if d := smp.Duration; d > 0 && pts != mediafile.NoTimestamp {
			// The end snaps to the frame grid like the start does.
			dur = s.videoTicks(float64(pts+d)*tbSec-origin) - rel
		} else if s.info.FrameRateNum > 0 {
			dur = s.rate * int64(s.info.FrameRateDen) / int64(s.info.FrameRateNum)
		}
	} else {
		dur = opus.PacketDuration2(data)
		if dur == 0 && smp.Duration > 0 {
			dur = int64(math.Round(float64(smp.Duration) * tbSec * float64(s.rate)))
		}
		rel = s.nextRel
		if pts != mediafile.NoTimestamp {
			ticks := int64(math.Round((float64(pts)*tbSec - origin) * float64(s.rate)))
			if s.started && ticks+audioSlack < s.nextRel {
				// This packet overlaps audio already sent (an edited or
				// looped file). A sender's clock never runs back, and
				// sending it after the rest would put every later packet
				// that much late for good: drop it instead.
				s.t.stats.overlaps.Add(1)
				return nil
			}
			rel = s.audioTicks(ticks)
		}
	}
	s.started = true
	s.nextRel = rel + dur

	f := frame{data: data, rel: rel, key: key}
	f.at = s.join + ticksToDuration(rel, s.rate)
	f.sched = f.at
	if s.video && dts != mediafile.NoTimestamp && dts != pts {
		// Decode order differs from presentation order (B-frames): send in
		// decode order, at the decode time.
		f.sched = s.join + time.Duration((float64(dts)*tbSec-origin)*float64(time.Second))
	}
	// Delivery never goes backwards, and nothing is sent before the peer
	// joined (Opus pre-roll has a media time just before zero).
	f.sched = max(f.sched, s.lastSched)
	s.lastSched = f.sched
	s.endAt = max(s.endAt, s.join+ticksToDuration(rel+dur, s.rate))

	// The demuxer reads ahead for the file's other streams, so this queue
	// is seldom empty when a frame arrives: compact it once the sent prefix
	// is as long as what waits, or a long room grows it without bound.
	if s.head > 0 && s.head >= len(s.pending)-s.head {
		n := copy(s.pending, s.pending[s.head:])
		clear(s.pending[n:])
		s.pending, s.head = s.pending[:n], 0
	}
	s.pending = append(s.pending, f)
	return nil
}

// videoTicks maps a presentation time to RTP ticks, snapped to the nominal
// frame grid when the container's rounding is all that separates them (WebM
// stores milliseconds, so 30 fps frames land on 33 and 67 ms), so the
// timestamps step evenly like a camera's.
func (s *sender) videoTicks(secs float64) int64 {
	ticks := math.Round(secs * float64(s.rate))
	if s.info.FrameRateNum > 0 && s.info.FrameRateDen > 0 {
		fps := float64(s.info.FrameRateNum) / float64(s.info.FrameRateDen)
		grid := math.Round(math.Round(secs*fps) * float64(s.rate) / fps)
		// Within one time-base unit: a start is rounded once, an end
		// (pts + duration) twice.
		unit := float64(s.rate)*float64(s.info.TimeBaseNum)/float64(s.info.TimeBaseDen) + 1
		if math.Abs(grid-ticks) <= unit {
			ticks = grid
		}
	}
	return int64(ticks)
}

// audioTicks places an Opus packet on the sample timeline. The first packet
// of a file encoded with pre-skip starts exactly pre-skip samples before zero
// (containers round that to their time base); later packets follow on from
// the previous one unless the container shows a real gap.
func (s *sender) audioTicks(ticks int64) int64 {
	const slack = audioSlack
	if !s.started {
		if p := int64(s.info.PreSkip); p > 0 && abs(ticks+p) <= slack {
			return -p
		}
		return ticks
	}
	if abs(ticks-s.nextRel) <= slack {
		return s.nextRel
	}
	return ticks
}

// audioSlack is the container's timestamp rounding (1 ms at 48 kHz) that
// audio timestamps are snapped over.
const audioSlack = 48

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// peek returns the next frame to send, demuxing as needed, or nil when the
// stream has nothing more before leave.
func (s *sender) peek(leave time.Duration) (*frame, error) {
	for !s.done && s.head >= len(s.pending) {
		if s.src.eof {
			s.done = true
			break
		}
		if err := s.src.readOne(); err != nil {
			return nil, err
		}
	}
	if s.done || s.head >= len(s.pending) {
		return nil, nil
	}
	f := &s.pending[s.head]
	if leave > 0 && f.at >= leave {
		s.stop()
		return nil, nil
	}
	return f, nil
}

// stop ends sending: nothing more is demuxed for this stream.
func (s *sender) stop() {
	s.done = true
	clear(s.pending)
	s.pending, s.head = s.pending[:0], 0
}

// muted reports whether media time at falls in a scripted mute.
func (s *sender) muted(at time.Duration) bool {
	for _, m := range s.mutes {
		if at >= m.From && at < m.To {
			return true
		}
	}
	return false
}

// sendNext packetizes the frame peek returned and queues its packets.
func (s *sender) sendNext(epoch time.Time) {
	f := s.pending[s.head]
	s.pending[s.head] = frame{}
	s.head++

	if s.muted(f.at) {
		// A muted sender sends nothing. On unmute, video resumes at a
		// keyframe as a real encoder does when its track is re-enabled.
		s.needKey = s.video
		s.talkspurt = true
		return
	}
	if s.needKey && !f.key {
		return
	}
	s.needKey = false

	ts := s.tsBase + uint32(f.rel)
	if !s.srSent || f.at-s.lastSR >= srInterval {
		s.sendSR(epoch.Add(f.at), ts)
		s.srSent, s.lastSR = true, f.at
	}
	pkts := s.packetizer.Packetize(f.data, 0)
	s.t.stats.frames.Add(1)
	for i, p := range pkts {
		// The packetizer keeps its own timestamp counter; the frame's
		// media time is the truth, so it is set here.
		p.Timestamp = ts
		if !s.video {
			// Audio's marker bit starts a talkspurt (RFC 3551).
			p.Marker = s.talkspurt && i == 0
			s.talkspurt = false
		}
		s.sentPkts++
		s.sentOctets += uint32(len(p.Payload))
		s.t.stats.packets.Add(1)
		s.t.stats.octets.Add(uint64(len(p.Payload)))
		s.deliver(p)
	}
}

// deliver applies the impairment and queues a packet.
func (s *sender) deliver(p *rtp.Packet) {
	if s.rng != nil {
		if s.impair.LossPct > 0 && s.rng.Float64()*100 < s.impair.LossPct {
			s.t.stats.lost.Add(1)
			return
		}
		if s.delayed == nil && s.impair.ReorderPct > 0 && s.rng.Float64()*100 < s.impair.ReorderPct {
			s.delayed = p // goes out after the next packet
			s.t.stats.reordered.Add(1)
			return
		}
	}
	s.t.push(p)
	if s.delayed != nil {
		s.t.push(s.delayed)
		s.delayed = nil
	}
}

// flush sends a packet still held back by the reorder impairment.
func (s *sender) flush() {
	if s.delayed != nil {
		s.t.push(s.delayed)
		s.delayed = nil
	}
}

func (s *sender) sendSR(ntp time.Time, ts uint32) {
	s.t.stats.senderReports.Add(1)
	s.t.sendRTCP([]rtcp.Packet{&rtcp.SenderReport{
		SSRC:        s.ssrc,
		NTPTime:     ntpTime(ntp),
		RTPTime:     ts,
		PacketCount: s.sentPkts,
		OctetCount:  s.sentOctets,
	}})
}

// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// ntpTime converts wall time to the 32.32 fixed-point NTP format.
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second)
	return secs<<32 | frac
}
