package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// Sink receives decoded media; *compositor.Compositor implements it. Calls
// are quick and never block on the clock.
type Sink interface {
	// PushVideo hands over a decoded frame in the decoder's pixel format. f is
	// reused after the call returns.
	PushVideo(trackID string, f *astiav.Frame, t time.Duration)
	// PushAudio hands over interleaved stereo float32 samples at 48 kHz.
	// samples is reused after the call returns.
	PushAudio(trackID string, samples []float32, t time.Duration)
}

// Config configures a Pipeline.
type Config struct {
	Track room.Track
	// Sync maps the peer's sender clock to job time; share one between a
	// peer's tracks. Nil gives the track a Sync of its own (estimated).
	Sync   *Sync
	Clock  mediaclock.Clock
	Sink   Sink
	Logger *slog.Logger // nil discards
	// JitterLatency is how long a missing packet is waited for once a later
	// one has arrived. Default 100ms.
	JitterLatency time.Duration
	// Threads is the number of decoder threads. Default 1.
	Threads int
}

// Stats counts what a Pipeline has seen. Packets counts every packet read;
// Lost, Reordered, Duplicates and Late are about sequence numbers; frames are
// video frames or audio frames.
type Stats struct {
	Packets          uint64
	Malformed        uint64 // not RTP: skipped
	Lost             uint64 // never arrived in time: the gap was skipped
	Reordered        uint64 // arrived after a later packet, still in time
	Duplicates       uint64
	Late             uint64 // arrived after its gap was skipped; dropped
	FramesDecoded    uint64
	FramesDropped    uint64 // video frames not decoded: loss inside, or waiting for a keyframe
	DecodeErrors     uint64
	KeyframeRequests uint64
	LastMediaTime    time.Duration // job time of the last frame given to the Sink
}

// Defaults and limits.
const (
	defaultJitterLatency = 100 * time.Millisecond
	// keyframeInterval is the least time between two keyframe requests.
	keyframeInterval = 500 * time.Millisecond
	// errorLogInterval rate-limits decoder error logs.
	errorLogInterval = time.Second
	// Jitter buffer sizes: a video keyframe can take a few hundred packets,
	// audio is one packet per 20 ms.
	videoJitterSlots = 512
	audioJitterSlots = 128
)

// Pipeline receives one track: RTP → jitter buffer → depacketizer → keyframe
// gate → decoder → Sink.
type Pipeline struct {
	track room.Track
	info  room.TrackInfo
	codec codecKind
	clk   mediaclock.Clock
	sink  Sink
	log   *slog.Logger
	debug bool

	rbuf []byte     // Read's buffer, reused for every packet
	pkt  rtp.Packet // the packet in rbuf, unmarshalled in place

	jb     *jitterBuffer
	depack depacketizer // nil for audio
	dec    *decoder
	mapper *trackMapper

	// Frame being assembled.
	frame        []byte
	frameTS      uint32
	frameActive  bool
	frameCorrupt bool
	params       []byte // H.264 parameter sets that came in a frame of their own
	joined       []byte // params + frame

	waitKeyframe bool
	pliSent      bool
	lastPLI      time.Duration
	errLogged    bool
	lastErrLog   time.Duration
	errSuppress  int

	audio    []float32
	channels int // of the decoded audio; 0 until the first frame

	st      Stats // owned by Run's goroutine
	statsMu sync.Mutex
	stats   Stats // copy for Stats

	running atomic.Bool
}

// New builds the pipeline for cfg.Track: it opens the decoder for the
// track's codec, and fails naming the codec if it is not supported.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Track == nil || cfg.Clock == nil || cfg.Sink == nil {
		return nil, errors.New("pipeline: Track, Clock and Sink are required")
	}
	info := cfg.Track.Info()
	c, err := codecOf(info.Codec.MimeType)
	if err != nil {
		return nil, fmt.Errorf("pipeline: track %s: %w", info.ID, err)
	}
	if cfg.JitterLatency <= 0 {
		cfg.JitterLatency = defaultJitterLatency
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Sync == nil {
		cfg.Sync = NewSync(cfg.Clock, false)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("track", info.ID, "peer", info.PeerID, "codec", info.Codec.MimeType)
	rate := info.Codec.ClockRate
	if rate == 0 {
		rate = 90000
		if c == codecOpus {
			rate = audioRate
		}
	}
	dec, err := newDecoder(c, cfg.Threads)
	if err != nil {
		return nil, fmt.Errorf("pipeline: track %s: codec %s: %w", info.ID, info.Codec.MimeType, err)
	}
	p := &Pipeline{
		track:        cfg.Track,
		info:         info,
		codec:        c,
		clk:          cfg.Clock,
		sink:         cfg.Sink,
		log:          log,
		debug:        log.Enabled(context.Background(), slog.LevelDebug),
		dec:          dec,
		mapper:       newTrackMapper(cfg.Sync, rate),
		waitKeyframe: true,
		rbuf:         make([]byte, room.MaxPacketSize),
	}
	slots := videoJitterSlots
	switch c {
	case codecVP8:
		p.depack = &vp8Depacketizer{}
	case codecVP9:
		p.depack = &vp9Depacketizer{}
	case codecH264:
		p.depack = &h264Depacketizer{}
	case codecAV1:
		p.depack = &av1Depacketizer{}
	case codecOpus:
		slots = audioJitterSlots
	}
	p.jb = newJitterBuffer(slots, cfg.JitterLatency)
	return p, nil
}

// Run reads the track until it ends (nil) or ctx is done (ctx.Err()), each
// packet handled to the end before the next is read. ctx is checked between
// packets: a ReadRTP that blocks ends when the room closes the track. RTCP is
// read on a goroutine of its own; after the track's end Run waits for it
// (the track's RTCP ends with it) unless ctx is done first.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("pipeline: Run called twice")
	}
	if p.dec == nil {
		return errors.New("pipeline: Run after Close")
	}
	rtcpDone := make(chan struct{})
	go p.readRTCP(rtcpDone)

	err := p.readRTP(ctx)
	if err == nil {
		select {
		case <-rtcpDone:
		case <-ctx.Done():
		}
	}
	return err
}

func (p *Pipeline) readRTP(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := p.track.Read(p.rbuf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				p.finish()
				return nil
			}
			return fmt.Errorf("pipeline: track %s: read rtp: %w", p.info.ID, err)
		}
		if err := p.pkt.Unmarshal(p.rbuf[:n]); err != nil {
			p.st.Malformed++
			continue
		}
		p.handle(&p.pkt, p.clk.Now())
	}
}

func (p *Pipeline) readRTCP(done chan<- struct{}) {
	defer close(done)
	for {
		pkts, err := p.track.ReadRTCP()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.log.Debug("rtcp read ended", "err", err)
			}
			return
		}
		for _, pk := range pkts {
			if sr, ok := pk.(*rtcp.SenderReport); ok {
				p.mapper.setSR(sr.SSRC, sr.RTPTime, sr.NTPTime)
				if p.debug {
					p.log.Debug("sender report", "ssrc", sr.SSRC, "rtp", sr.RTPTime, "ntp", sr.NTPTime)
				}
			}
		}
	}
}

// handle runs one packet, read at now, through the pipeline.
func (p *Pipeline) handle(pkt *rtp.Packet, now time.Duration) {
	p.st.Packets++
	if p.debug {
		p.log.Debug("rtp", "seq", pkt.SequenceNumber, "ts", pkt.Timestamp, "marker", pkt.Marker, "size", len(pkt.Payload))
	}
	switch p.jb.push(pkt, now, p) {
	case pushReordered:
		p.st.Reordered++
	case pushDuplicate:
		p.st.Duplicates++
	case pushLate:
		p.st.Late++
	}
	p.publish()
}

// finish drains everything at the track's end.
func (p *Pipeline) finish() {
	p.jb.drain(p)
	if p.frameActive {
		p.finishFrame()
	}
	if err := p.dec.flush(); err == nil {
		if p.codec == codecOpus {
			p.receiveAudio(p.st.LastMediaTime)
		} else {
			p.receiveVideo(p.st.LastMediaTime)
		}
	}
	p.publish()
}

// emit takes the jitter buffer's packets in order (the emitter interface).
func (p *Pipeline) emit(pk *jitterPacket, lost int) {
	p.mapper.observe(pk.ssrc, pk.ts, pk.arrival)
	if lost > 0 {
		p.st.Lost += uint64(lost)
		if p.depack != nil {
			// The lost packets may be part of this frame, the start of the
			// next or whole frames: what follows needs a keyframe.
			p.frameCorrupt = p.frameCorrupt || p.frameActive
			p.waitKeyframe = true
			p.requestKeyframe(p.clk.Now(), "packet loss")
		}
	}
	if p.depack == nil {
		p.decodeAudio(pk.payload, p.mapper.jobTime(pk.ts))
		return
	}
	if p.frameActive && pk.ts != p.frameTS {
		// The frame ended without a marker (or it was lost).
		p.finishFrame()
	}
	if !p.frameActive {
		// Whether lost packets began this frame shows in the head check;
		// the keyframe gate catches whole lost frames.
		p.frameActive = true
		p.frameTS = pk.ts
		p.frame = p.frame[:0]
		p.depack.reset()
		p.frameCorrupt = !p.depack.isHead(pk.payload)
	}
	if !p.frameCorrupt {
		var err error
		if p.frame, err = p.depack.append(p.frame, pk.payload); err != nil {
			p.frameCorrupt = true
			if p.debug {
				p.log.Debug("depacketize", "seq", pk.seq, "err", err)
			}
		}
	}
	if pk.marker {
		p.finishFrame()
	}
}

// finishFrame decodes the assembled frame, unless it is damaged or the
// decoder waits for a keyframe it is not.
func (p *Pipeline) finishFrame() {
	p.frameActive = false
	now := p.clk.Now()
	if p.frameCorrupt || !p.depack.complete() || len(p.frame) == 0 {
		p.st.FramesDropped++
		p.waitKeyframe = true
		p.requestKeyframe(now, "incomplete frame")
		return
	}
	if p.depack.paramsOnly() {
		// FFmpeg's H.264 decoder takes parameter sets but fails a packet
		// with no slice ("no frame!"): keep them for the next frame.
		p.params = append(p.params[:0], p.frame...)
		return
	}
	if p.depack.keyframe() {
		p.waitKeyframe = false
	} else if p.waitKeyframe {
		p.st.FramesDropped++
		p.requestKeyframe(now, "waiting for a keyframe")
		return
	}
	data := p.frame
	if len(p.params) > 0 {
		p.joined = append(append(p.joined[:0], p.params...), p.frame...)
		p.params = p.params[:0]
		data = p.joined
	}
	t := p.mapper.jobTime(p.frameTS)
	if err := p.dec.send(data, int64(t)); err != nil {
		p.decodeError(err)
		return
	}
	p.receiveVideo(t)
}

func (p *Pipeline) receiveVideo(fallback time.Duration) {
	for {
		ok, err := p.dec.receive()
		if err != nil {
			p.decodeError(err)
			return
		}
		if !ok {
			return
		}
		t := fallback
		if pts := p.dec.frame.Pts(); pts != astiav.NoPtsValue {
			t = time.Duration(pts)
		}
		p.st.FramesDecoded++
		p.st.LastMediaTime = t
		p.sink.PushVideo(p.info.ID, p.dec.frame, t)
		p.dec.frame.Unref()
	}
}

func (p *Pipeline) decodeAudio(payload []byte, t time.Duration) {
	if len(payload) == 0 {
		return
	}
	if err := p.dec.send(payload, int64(t)); err != nil {
		p.decodeError(err)
		return
	}
	p.receiveAudio(t)
}

func (p *Pipeline) receiveAudio(fallback time.Duration) {
	for {
		ok, err := p.dec.receive()
		if err != nil {
			p.decodeError(err)
			return
		}
		if !ok {
			return
		}
		f := p.dec.frame
		t := fallback
		if pts := f.Pts(); pts != astiav.NoPtsValue {
			t = time.Duration(pts)
		}
		if p.channels == 0 {
			// Read once: Frame.ChannelLayout copies the layout on every
			// call, and a decoder keeps its layout for the whole stream.
			p.channels = f.ChannelLayout().NbChannels()
		}
		p.audio, err = appendStereo(p.audio[:0], f, p.channels)
		n := f.NbSamples()
		f.Unref()
		if err != nil {
			p.decodeError(err)
			continue
		}
		p.st.FramesDecoded++
		p.st.LastMediaTime = t
		p.sink.PushAudio(p.info.ID, p.audio, t)
		// A second frame from the same packet follows this one.
		fallback = t + ticks(int64(n), audioRate)
	}
}

func (p *Pipeline) decodeError(err error) {
	p.st.DecodeErrors++
	now := p.clk.Now()
	if p.depack != nil {
		p.waitKeyframe = true
		p.requestKeyframe(now, "decoder error")
	}
	if p.errLogged && now-p.lastErrLog < errorLogInterval {
		p.errSuppress++
		return
	}
	p.log.Info("decode error", "err", err, "suppressed", p.errSuppress, "errors", p.st.DecodeErrors)
	p.errLogged, p.lastErrLog, p.errSuppress = true, now, 0
}

// requestKeyframe sends a PLI unless one went out less than keyframeInterval
// ago; a keyframe takes a round trip and an encode to come.
func (p *Pipeline) requestKeyframe(now time.Duration, reason string) {
	if p.pliSent && now-p.lastPLI < keyframeInterval {
		return
	}
	p.pliSent, p.lastPLI = true, now
	p.st.KeyframeRequests++
	if err := p.track.RequestKeyframe(); err != nil {
		p.log.Info("keyframe request failed", "reason", reason, "err", err)
		return
	}
	p.log.Info("keyframe requested", "reason", reason, "requests", p.st.KeyframeRequests)
}

func (p *Pipeline) publish() {
	p.statsMu.Lock()
	p.stats = p.st
	p.statsMu.Unlock()
}

// Stats returns the counters so far. Safe to call at any time.
func (p *Pipeline) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}

// Close frees the decoder. Call it after Run has returned.
func (p *Pipeline) Close() {
	if p.dec != nil {
		p.dec.close()
		p.dec = nil
	}
}
