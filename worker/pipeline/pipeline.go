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

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

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
	// Tap, when set, receives every frame as it goes to the decoder (the
	// per-track recordings); nil for none.
	Tap Tap
	// TapOnly opens no decoder: the track's frames go to Tap alone, and
	// Sink may be nil (an audio-only job's video tracks, recorded on their
	// own).
	TapOnly bool
}

// Tap takes a track's encoded media as the decoder gets it: data is an
// assembled video frame (H.264 in Annex-B, with its parameter sets before
// a keyframe) or an Opus packet, valid only during the call; t is the job
// time it is decoded at; key says a video frame is a keyframe (always true
// for audio). It runs on the pipeline's goroutine, per frame, so it must
// neither block for long nor allocate.
type Tap interface {
	Frame(data []byte, t time.Duration, key bool)
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
	// Room for the CSRCs (at most 15) and header extensions of a packet, so
	// that unmarshalling into the reused packet does not grow its slices.
	maxCSRC       = 15
	extensionsCap = 16
)

// Pipeline receives one track: RTP → jitter buffer → depacketizer → keyframe
// gate → decoder → Sink.
type Pipeline struct {
	track room.Track
	info  room.TrackInfo
	codec codecKind
	clk   mediaclock.Clock
	sink  Sink
	tap   Tap // nil without
	log   *slog.Logger
	debug bool

	pkt rtp.Packet // the packet last read, unmarshalled in place

	jb     *jitterBuffer
	asm    *assembler // nil for audio
	dec    *decoder   // nil with TapOnly
	closed bool
	mapper *trackMapper

	params []byte // H.264 parameter sets that came in a frame of their own
	joined []byte // params + frame

	waitKeyframe bool
	pliSent      bool
	lastPLI      time.Duration
	errLogged    bool
	lastErrLog   time.Duration
	errSuppress  int
	ptLogged     bool
	lastPTLog    time.Duration

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
	if cfg.TapOnly && cfg.Tap == nil {
		return nil, errors.New("pipeline: TapOnly needs a Tap")
	}
	if cfg.Track == nil || cfg.Clock == nil || (cfg.Sink == nil && !cfg.TapOnly) {
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
	var dec *decoder
	if !cfg.TapOnly {
		if dec, err = newDecoder(c, cfg.Threads); err != nil {
			return nil, fmt.Errorf("pipeline: track %s: codec %s: %w", info.ID, info.Codec.MimeType, err)
		}
	}
	p := &Pipeline{
		track:        cfg.Track,
		info:         info,
		codec:        c,
		clk:          cfg.Clock,
		sink:         cfg.Sink,
		tap:          cfg.Tap,
		log:          log,
		debug:        log.Enabled(context.Background(), slog.LevelDebug),
		dec:          dec,
		mapper:       newTrackMapper(cfg.Sync, rate),
		waitKeyframe: true,
	}
	if p.debug {
		p.mapper.log = log
	}
	p.pkt.CSRC = make([]uint32, 0, maxCSRC)
	p.pkt.Extensions = make([]rtp.Extension, 0, extensionsCap)
	slots := audioJitterSlots
	if d, maxSize := newDepacketizer(c); d != nil {
		p.asm = newAssembler(d, maxSize)
		slots = videoJitterSlots
	}
	p.jb = newJitterBuffer(slots, cfg.JitterLatency)
	return p, nil
}

// Run reads the track until it ends (nil) or ctx is done (ctx.Err()), each
// packet handled to the end before the next is read. ctx is checked between
// packets: a Read that blocks ends when the room closes the track. RTCP is
// read on a goroutine of its own; after the track's end Run waits for it
// (the track's RTCP ends with it) unless ctx is done first.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("pipeline: Run called twice")
	}
	if p.closed {
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
		if err := p.readPacket(); err != nil {
			if errors.Is(err, io.EOF) {
				p.finish()
				return nil
			}
			return fmt.Errorf("pipeline: track %s: read rtp: %w", p.info.ID, err)
		}
	}
}

// readPacket reads one packet and runs it through the pipeline. A packet that
// is not RTP is counted and skipped.
func (p *Pipeline) readPacket() error {
	buf, err := readInto(p.track, p.jb, &p.pkt)
	if errors.Is(err, errNotRTP) {
		p.st.Malformed++
		return nil
	}
	if err != nil {
		return err
	}
	p.handle(&p.pkt, buf, p.clk.Now())
	return nil
}

// otherPayloadType drops a packet of a payload type the track was not
// opened with: its sender switched codec mid-stream (pion follows such a
// switch on the same track). Its frames are another codec's bitstream,
// which the track's depacketizer and decoder can only take for garbage, so
// the tile keeps its last frame, and the track's own codec shows again
// from its next keyframe. The packet went through the jitter buffer, so its
// sequence number is no loss. Logged at most once a second.
func (p *Pipeline) otherPayloadType(pk *jitterPacket) {
	p.st.OtherPayloadType++
	if p.asm != nil {
		p.asm.lose() // a frame it was in the middle of is cut short
		p.waitKeyframe = true
	}
	now := p.clk.Now()
	if p.ptLogged && now-p.lastPTLog < errorLogInterval {
		return
	}
	p.ptLogged, p.lastPTLog = true, now
	p.log.Info("packets of another payload type dropped: the sender switched codec on this track",
		"payloadType", pk.pt, "want", p.info.Codec.PayloadType, "dropped", p.st.OtherPayloadType)
}

// errNotRTP is readInto's error for a packet that does not parse as RTP.
var errNotRTP = errors.New("not an RTP packet")

// readInto reads the track's next packet straight into a buffer of jb and
// parses it in place into pkt, whose payload then lies in the buffer it
// returns; the buffer goes to jb.push. On error the buffer is back in jb.
func readInto(track room.Track, jb *jitterBuffer, pkt *rtp.Packet) ([]byte, error) {
	buf := jb.buffer()
	n, err := track.Read(buf)
	if err == nil {
		err = pkt.Unmarshal(buf[:n])
		if err != nil {
			err = fmt.Errorf("%w: %w", errNotRTP, err)
		}
	}
	if err != nil {
		jb.release(buf)
		return nil, err
	}
	return buf, nil
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

// handle runs one packet, read at now into buf, through the pipeline; the
// jitter buffer takes buf.
func (p *Pipeline) handle(pkt *rtp.Packet, buf []byte, now time.Duration) {
	p.st.Packets++
	if p.debug {
		p.log.Debug("rtp", "seq", pkt.SequenceNumber, "ts", pkt.Timestamp, "marker", pkt.Marker, "size", len(pkt.Payload))
	}
	switch p.jb.push(pkt, buf, now, p) {
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
	if p.asm != nil && p.asm.active {
		p.asm.end(p)
	}
	if p.dec != nil { // TapOnly decodes nothing
		if err := p.dec.flush(); err == nil {
			if p.codec == codecOpus {
				p.receiveAudio(p.st.LastMediaTime)
			} else {
				p.receiveVideo(p.st.LastMediaTime)
			}
		}
	}
	p.publish()
}

// Close frees the decoder. Call it after Run has returned.
func (p *Pipeline) Close() {
	p.closed = true
	if p.dec != nil {
		p.dec.close()
		p.dec = nil
	}
}
