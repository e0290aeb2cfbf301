package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/roomcast/roomcast/muxer/output"
)

// Variants of the live stream.
const (
	VariantLowLatency = "lowLatency" // LL-HLS, fMP4 segments and parts (default)
	VariantFMP4       = "fmp4"       // plain HLS, fMP4 segments
	VariantMPEGTS     = "mpegts"     // plain HLS, MPEG-TS segments, for old players
)

const (
	// partMinDuration is just under 200 ms so that six 30 fps frames (3000
	// ticks of 90 kHz each, 199.99998 ms as a time.Duration) close a part:
	// ten even parts per 2 s segment instead of eight of seven frames and a
	// short one, which iOS dislikes (parts must be >= 85 % of the target).
	partMinDuration = 199 * time.Millisecond

	// segmentCount is the sliding window. LL-HLS needs at least 7; a window of
	// 7 x 2 s lets a player that stalls a little catch up without a 404.
	segmentCount = 7

	// maxConsecutiveErrors is how many packets in a row gohlslib may refuse
	// before the sink gives up. A single bad access unit is dropped; a muxer
	// that refuses everything (no memory, broken state) is not retried.
	maxConsecutiveErrors = 60

	// readyWait bounds how long a playlist request waits for the first
	// segment before it is answered 503 with Retry-After.
	readyWait = 15 * time.Second
)

// LiveOptions configures a Live sink.
type LiveOptions struct {
	Variant         string        // "lowLatency" (default, fMP4), "fmp4", "mpegts"
	SegmentDuration time.Duration // the encoder's GOP; 2 s if zero
	Logger          *slog.Logger
}

// Live is the live HLS stream: a output.Sink that packages the encoded
// packets with gohlslib and an http.Handler that serves them.
type Live struct {
	opts LiveOptions
	log  *slog.Logger

	// ready is closed once the stream has a first playable segment, done by
	// Close. Both exist from NewLive on so the handler can be mounted, and
	// asked, before Open.
	ready     chan struct{}
	done      chan struct{}
	readyWait time.Duration // readyWait, shortened by tests

	mu         sync.Mutex // guards hls and closed, which the HTTP side reads too
	hls        *gohlslib.Muxer
	closed     bool
	closedOnce sync.Once

	// sinkMu serializes Open, Write and Close and guards the fields below.
	// The fan-out calls them from one goroutine, but a job may Close from
	// another while a Write is in gohlslib, and gohlslib's Muxer must not be
	// closed during a write. It is held across the gohlslib calls; mu is
	// not, so requests are served while a packet is packaged.
	sinkMu     sync.Mutex
	info       output.StreamInfo
	video      *gohlslib.Track
	audio      *gohlslib.Track
	rep        output.Reporter
	anchor     time.Time // wall-clock time of stream time 0
	anchored   bool
	errsInARow int
	failed     error
}

// NewLive returns a Live sink; it starts on Open.
func NewLive(opts LiveOptions) *Live {
	if opts.Variant == "" {
		opts.Variant = VariantLowLatency
	}
	if opts.SegmentDuration <= 0 {
		opts.SegmentDuration = defaultSegmentDuration
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Live{
		opts:      opts,
		log:       opts.Logger.With("sink", "hls-live", "variant", opts.Variant),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		readyWait: readyWait,
		rep:       nopReporter{},
	}
}

func parseVariant(v string) (gohlslib.MuxerVariant, error) {
	switch v {
	case VariantLowLatency:
		return gohlslib.MuxerVariantLowLatency, nil
	case VariantFMP4:
		return gohlslib.MuxerVariantFMP4, nil
	case VariantMPEGTS:
		return gohlslib.MuxerVariantMPEGTS, nil
	}
	return 0, fmt.Errorf("unknown HLS variant %q (want %q, %q or %q)",
		v, VariantLowLatency, VariantFMP4, VariantMPEGTS)
}

// Open implements output.Sink.
func (l *Live) Open(ctx context.Context, info output.StreamInfo, r output.Reporter) error {
	l.sinkMu.Lock()
	defer l.sinkMu.Unlock()
	if r != nil {
		l.rep = r
	}
	err := l.open(ctx, info)
	if err != nil {
		err = fmt.Errorf("hls live: open: %w", err)
		l.failed = err
		l.rep.Report(output.SinkState{Err: err})
		return err
	}
	l.rep.Report(output.SinkState{Running: true})
	return nil
}

func (l *Live) open(ctx context.Context, info output.StreamInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	variant, err := parseVariant(l.opts.Variant)
	if err != nil {
		return err
	}
	asc, err := checkInfo(&info)
	if err != nil {
		return err
	}
	l.info = info
	var tracks []*gohlslib.Track
	if info.HasVideo() {
		sps, pps, err := splitParameterSets(info.Video.Extradata)
		if err != nil {
			return err
		}
		// gohlslib keeps and updates the parameter sets it is given: hand
		// it copies, never the shared extradata.
		l.video = &gohlslib.Track{
			Codec:     &codecs.H264{SPS: clone(sps), PPS: clone(pps)},
			ClockRate: 90000,
		}
		tracks = append(tracks, l.video)
	}
	l.audio = &gohlslib.Track{
		Codec:     &codecs.MPEG4Audio{Config: asc},
		ClockRate: asc.SampleRate,
	}
	// Without video, gohlslib leads with the audio track and cuts segments
	// and parts by duration alone: at the segment duration itself, as
	// there is no keyframe for a rounding error to skip.
	tracks = append(tracks, l.audio)
	segMin := minSegmentDuration(l.opts.SegmentDuration)
	if l.video == nil {
		segMin = l.opts.SegmentDuration
	}
	m := &gohlslib.Muxer{
		Tracks:             tracks,
		Variant:            variant,
		SegmentCount:       segmentCount,
		SegmentMinDuration: segMin,
		PartMinDuration:    partMinDuration,
		OnEncodeError: func(err error) {
			l.log.Warn("hls live: packaging", "err", err)
		},
	}
	if err := m.Start(); err != nil {
		return fmt.Errorf("start gohlslib: %w", err)
	}

	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		m.Close()
		return errors.New("closed")
	}
	l.hls = m
	l.mu.Unlock()

	go l.watchReady(m)
	return nil
}

// watchReady closes l.ready once gohlslib has a playlist to serve. gohlslib's
// own playlist handler blocks until then (and on Close), so one internal
// request tells us without copying gohlslib's rules for "has content" (one
// segment for LL-HLS and MPEG-TS, two for fMP4).
func (l *Live) watchReady(m *gohlslib.Muxer) {
	req, err := http.NewRequest(http.MethodGet, "/index.m3u8", nil)
	if err != nil {
		return
	}
	var w statusRecorder
	m.Handle(&w, req)
	if w.status == http.StatusOK {
		close(l.ready)
		l.log.Info("hls live: first segment ready")
	}
}

// Write implements output.Sink. After Close it returns an error.
func (l *Live) Write(ctx context.Context, p *output.Packet) error {
	l.sinkMu.Lock()
	defer l.sinkMu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	m, closed := l.hls, l.closed
	l.mu.Unlock()
	if m == nil || closed {
		return errors.New("hls live: write before open or after close")
	}

	// Program date-time: the stream's wall clock, anchored on the first
	// packet, so players (and the latency test) can tell how far behind real
	// time they are.
	pt := p.Time(&l.info)
	if !l.anchored {
		l.anchor, l.anchored = time.Now().Add(-pt), true
	}
	ntp := l.anchor.Add(pt)

	// gohlslib keeps references to what it is given (queued fMP4 samples,
	// parameter sets) past this call: give it a private copy of the data.
	data := clone(p.Data)
	var err error
	switch p.Kind {
	case output.Video:
		if l.video == nil {
			return nil
		}
		var au h264.AnnexB
		if err = au.Unmarshal(data); err == nil {
			pts := rescale(p.PTS, l.info.Video.TimeBase, 90000)
			err = m.WriteH264(l.video, ntp, pts, au)
		}
	case output.Audio:
		pts := rescale(p.PTS, l.info.Audio.TimeBase, int64(l.audio.ClockRate))
		err = m.WriteMPEG4Audio(l.audio, ntp, pts, [][]byte{data})
	default:
		return nil
	}
	return l.account(err, p)
}

// account turns gohlslib's verdict on one packet into the sink's state.
func (l *Live) account(err error, p *output.Packet) error {
	if err == nil {
		if l.errsInARow > 0 {
			l.errsInARow = 0
			l.rep.Report(output.SinkState{Running: true})
		}
		return nil
	}
	l.errsInARow++
	err = fmt.Errorf("hls live: %s packet at %v: %w", p.Kind, p.Time(&l.info), err)
	if l.errsInARow < maxConsecutiveErrors {
		if l.errsInARow == 1 {
			l.log.Warn("hls live: packet dropped", "err", err)
			l.rep.Report(output.SinkState{Running: true, Err: err})
		}
		return nil
	}
	l.failed = fmt.Errorf("hls live: giving up after %d failed packets: %w", l.errsInARow, err)
	l.log.Error("hls live: stopped", "err", l.failed)
	l.rep.Report(output.SinkState{Err: l.failed})
	return l.failed
}

// Close implements output.Sink. It stops serving: gohlslib drops its segments
// and every waiting request is answered. It may be called from any goroutine
// at any time; a Write in progress finishes first.
func (l *Live) Close() error {
	// Waiting requests are released before the write in progress ends: they
	// must not wait on it.
	l.closedOnce.Do(func() { close(l.done) })
	l.sinkMu.Lock()
	defer l.sinkMu.Unlock()
	l.mu.Lock()
	m := l.hls
	l.closed = true
	l.mu.Unlock()
	if m != nil {
		m.Close()
	}
	l.rep.Report(output.SinkState{Err: l.failed})
	return nil
}

func clone(b []byte) []byte {
	return append([]byte(nil), b...)
}

// statusRecorder is a ResponseWriter that keeps only the status.
type statusRecorder struct {
	h      http.Header
	status int
}

func (w *statusRecorder) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
