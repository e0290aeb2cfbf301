package rtmp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/roomcast/roomcast/muxer/output"
)

// Defaults for Options.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultRetryWindow    = 60 * time.Second
)

// Reconnect backoff: the first retry comes quickly (a restarted ingest is
// usually back within a second), later ones no further apart than maxBackoff
// so a returning server is found within that long.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 8 * time.Second
	// stableAfter is how long a connection must have lasted for its drop to
	// start a new retry window; shorter-lived ones (a server that accepts
	// the publish and kicks us right away) count as the same outage, so the
	// window still ends and the backoff keeps growing.
	stableAfter = 5 * time.Second
	// shortLived is a connection dropped so soon after the server accepted
	// the publish that a refusal is the likely cause.
	shortLived = 2 * time.Second
)

// Options configures one RTMP(S) output.
type Options struct {
	URL            string
	ConnectTimeout time.Duration // default 5s: dial, TLS, handshake and publish confirmation together
	RetryWindow    time.Duration // default 60s: how long to keep reconnecting before Write fails
	CAFile         string        // extra CA bundle (PEM) for rtmps, e.g. a self-signed test CA
	Logger         *slog.Logger  // nil: no logging
}

// Sink publishes the encoded stream to one RTMP(S) URL. It implements
// output.Sink; the fan-out calls Open, Write and Close from one goroutine.
type Sink struct {
	opts   Options
	target *target
	red    redactor
	log    *slog.Logger
	tls    *tls.Config

	mu   sync.Mutex // guards everything below; Write and Close are not meant to overlap, but must not race if they do
	info output.StreamInfo
	rep  output.Reporter
	c    *conn

	needKey     bool      // drop until the next keyframe (new connection)
	connectedAt time.Time // when the current connection's publish was confirmed
	outageStart time.Time // when the current outage began; zero while healthy
	nextAttempt time.Time
	backoff     time.Duration
	retries     int
	lastErr     error // masked
	failed      error // masked; once set, Write returns it for good
	closed      bool

	tsOffset    int64 // ms added to every timestamp so the first is >= 0
	tsOffsetSet bool
	lastTS      [2]int64 // per kind, per connection: timestamps only go forward

	aacHeader []byte
	au        h264.AnnexB // the video packet being sent, split into NAL units
	buf       []byte

	sent atomic.Int64 // media bytes the ingest accepted, over every connection
}

// BytesWritten reports the media bytes sent to the ingest, which is less than
// what the encoder produced while the ingest was unreachable.
func (s *Sink) BytesWritten() int64 { return s.sent.Load() }

// writeMedia sends one message on the current connection and counts it.
func (s *Sink) writeMedia(typ byte, ts uint32, payload []byte) error {
	if err := s.c.writeMedia(typ, ts, payload); err != nil {
		return err
	}
	s.sent.Add(int64(len(payload)))
	return nil
}

var _ output.Sink = (*Sink)(nil)

// New validates opts and prepares a sink; nothing connects before Open.
func New(opts Options) (*Sink, error) {
	t, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.RetryWindow <= 0 {
		opts.RetryWindow = DefaultRetryWindow
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{
		opts:    opts,
		target:  t,
		red:     newRedactor(opts.URL, t),
		log:     log.With("url", t.masked),
		backoff: minBackoff,
	}
	if t.scheme == "rtmps" {
		s.tls, err = tlsConfig(t.host, opts.CAFile)
		if err != nil {
			return nil, s.red.err(fmt.Errorf("rtmp %s: %w", t.masked, err))
		}
	}
	return s, nil
}

// tlsConfig trusts the system roots plus caFile's certificates.
func tlsConfig(host, caFile string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// Open makes the first connection attempt, bounded by ConnectTimeout. A
// failed attempt is reported through r (within the connect timeout, with the
// server's message when it sent one) and retried from Write like a dropped
// connection; Open itself fails only on a cancelled ctx or unusable stream
// info.
func (s *Sink) Open(ctx context.Context, info output.StreamInfo, r output.Reporter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r == nil {
		r = output.ReporterFunc(func(output.SinkState) {})
	}
	s.info, s.rep = info, r
	if (info.HasVideo() && info.Video.TimeBase.Den == 0) || info.Audio.TimeBase.Den == 0 {
		return s.red.err(fmt.Errorf("rtmp %s: stream info without time bases", s.target.masked))
	}
	h, err := aacSequenceHeader(info.Audio)
	if err != nil {
		return s.red.err(fmt.Errorf("rtmp %s: %w", s.target.masked, err))
	}
	s.aacHeader = h

	now := time.Now()
	if err := s.connect(ctx); err != nil {
		if ctx.Err() != nil {
			return s.red.err(fmt.Errorf("rtmp %s: open: %w", s.target.masked, ctx.Err()))
		}
		s.outageStart = now
		s.scheduleRetry(err)
	}
	return nil
}

// connect makes one attempt and, on success, resets per-connection state.
func (s *Sink) connect(ctx context.Context) error {
	start := time.Now()
	c, err := dialPublish(ctx, dialConfig{
		target:  s.target,
		tls:     s.tls,
		timeout: s.opts.ConnectTimeout,
		log:     s.log,
		sendBuf: sendBufferSize(s.info.Video.Bitrate + s.info.Audio.Bitrate),
	})
	if err != nil {
		return s.red.err(fmt.Errorf("rtmp %s: %w", s.target.masked, err))
	}
	s.c = c
	s.connectedAt = time.Now()
	s.needKey = true
	s.lastTS = [2]int64{-1 << 62, -1 << 62}
	s.lastErr = nil
	s.log.Info("rtmp publishing", "retries", s.retries, "connect_ms", time.Since(start).Milliseconds())
	s.rep.Report(output.SinkState{Running: true, Retries: s.retries})
	return nil
}

// scheduleRetry records a failed attempt or a drop and when to try next.
func (s *Sink) scheduleRetry(err error) {
	s.lastErr = err
	s.nextAttempt = time.Now().Add(s.backoff)
	s.log.Warn("rtmp output down, will retry", "err", err.Error(), "retries", s.retries,
		"next_in", s.backoff.String())
	s.backoff = min(s.backoff*2, maxBackoff)
	s.rep.Report(output.SinkState{Running: false, Retries: s.retries, Err: err})
}

// drop ends the current connection after a failure.
func (s *Sink) drop(err error) {
	now := time.Now()
	if s.outageStart.IsZero() || now.Sub(s.connectedAt) >= stableAfter {
		s.outageStart = now
		s.backoff = minBackoff
	}
	s.c.close(s.target)
	s.c = nil
	lasted := now.Sub(s.connectedAt)
	hint := ""
	if lasted < shortLived {
		// Some servers (nginx-rtmp's "deny publish") confirm a publish
		// and hang up right after: most likely a refused key.
		hint = " (stream key or app refused?)"
	}
	s.scheduleRetry(s.red.err(fmt.Errorf("rtmp %s: connection lost %v after the publish started%s: %w",
		s.target.masked, lasted.Round(time.Millisecond), hint, err)))
}

// Write sends one packet. While disconnected it drops packets and, when the
// backoff allows, tries to reconnect (blocking up to ConnectTimeout); after
// a reconnect it sends the sequence headers again and resumes at the next
// keyframe. It returns an error only once the connection has been down for
// RetryWindow, or when ctx is cancelled.
func (s *Sink) Write(ctx context.Context, p *output.Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return s.failed
	}
	if s.closed || s.rep == nil {
		return fmt.Errorf("rtmp %s: write on a sink that is closed or not open", s.target.masked)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.c != nil && s.c.dead() {
		s.drop(s.c.err)
	}
	if s.c == nil {
		if err := s.reconnect(ctx); err != nil || s.c == nil {
			return err
		}
	}
	if ctx.Done() != nil {
		// A cancelled ctx must not wait for a stalled socket. A message cut
		// halfway breaks the chunk stream anyway, so the connection goes.
		c := s.c
		stop := context.AfterFunc(ctx, func() { c.fail(fmt.Errorf("write cancelled: %w", context.Cause(ctx))) })
		defer stop()
	}
	if err := s.send(p); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.drop(err)
	}
	return nil
}

// reconnect gives up when the outage has lasted RetryWindow, waits out the
// backoff, or makes one attempt. A nil error with no connection means the
// packet is dropped.
func (s *Sink) reconnect(ctx context.Context) error {
	now := time.Now()
	if now.Sub(s.outageStart) >= s.opts.RetryWindow {
		s.failed = s.red.err(fmt.Errorf("rtmp %s: giving up after %v without a connection (%d retries): %w",
			s.target.masked, s.opts.RetryWindow.Round(time.Second), s.retries, s.lastErr))
		s.log.Error("rtmp output failed", "err", s.failed.Error())
		s.rep.Report(output.SinkState{Running: false, Retries: s.retries, Err: s.failed})
		return s.failed
	}
	if now.Before(s.nextAttempt) {
		return nil
	}
	s.retries++
	s.rep.Report(output.SinkState{Running: false, Retries: s.retries, Err: s.lastErr})
	if err := s.connect(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.scheduleRetry(err)
	}
	return nil
}

// send writes p on the live connection, starting each connection with
// metadata and sequence headers at its first keyframe.
func (s *Sink) send(p *output.Packet) error {
	kind := 0
	tb := s.info.Video.TimeBase
	if p.Kind == output.Audio {
		kind, tb = 1, s.info.Audio.TimeBase
	}
	dts, pts := toMillis(p.DTS, tb), toMillis(p.PTS, tb)
	if !s.tsOffsetSet {
		// Timestamps follow the job's timeline across reconnects (what OBS
		// does, and what players and ingests handle best). Only a negative
		// start (B-frames) is shifted, once, for the sink's whole life.
		s.tsOffsetSet = true
		s.tsOffset = max(0, -dts)
	}
	ts := max(dts+s.tsOffset, 0, s.lastTS[kind])
	cts := max(pts-dts, 0)

	if p.Kind == output.Video {
		var err error
		if s.au, err = splitAnnexB(p.Data, s.au); err != nil {
			// Not an access unit (no NAL unit, no start code first, or
			// over 8 MiB): skip it, as a decoder would.
			return nil
		}
	}
	if s.needKey {
		// Without video, every AAC frame is a place to start.
		if s.info.HasVideo() && (p.Kind != output.Video || !p.Key) {
			return nil
		}
		if err := s.sendHeaders(uint32(ts)); err != nil {
			if err == errNoParamSets {
				// Nothing was sent: wait for a keyframe that has them.
				s.log.Warn("rtmp: keyframe without SPS/PPS and none in the stream info; skipping it")
				return nil
			}
			return err
		}
		s.needKey = false
	}
	s.lastTS[kind] = ts

	s.buf = s.buf[:0]
	if p.Kind == output.Audio {
		s.buf = appendAACAudio(s.buf, p.Data)
		return s.writeMedia(msgAudio, uint32(ts), s.buf)
	}
	s.buf = appendAVCVideo(s.buf, p.Key, int32(cts), s.au)
	return s.writeMedia(msgVideo, uint32(ts), s.buf)
}

var errNoParamSets = errors.New("no H.264 SPS/PPS")

// sendHeaders sends metadata and the sequence headers, with the SPS/PPS of
// the keyframe about to go out (the stream info's as a fallback), so that
// whatever the server records or relays from here decodes on its own.
func (s *Sink) sendHeaders(ts uint32) error {
	if !s.info.HasVideo() {
		// An FLV with an AAC track alone: no AVC sequence header, and
		// metadata without video fields, so that players do not wait for
		// a video track.
		if err := s.writeMedia(msgAMF0Data, ts, metadata(&s.info)); err != nil {
			return err
		}
		return s.writeMedia(msgAudio, ts, s.aacHeader)
	}
	sps, pps := paramSets(s.au)
	if sps == nil || pps == nil {
		var ex h264.AnnexB
		if ex.Unmarshal(s.info.Video.Extradata) == nil {
			sps, pps = paramSets(ex)
		}
	}
	avc, err := avcSequenceHeader(sps, pps)
	if err != nil {
		return errNoParamSets
	}
	if err := s.writeMedia(msgAMF0Data, ts, metadata(&s.info)); err != nil {
		return err
	}
	if err := s.writeMedia(msgVideo, ts, avc); err != nil {
		return err
	}
	return s.writeMedia(msgAudio, ts, s.aacHeader)
}

// Close ends the publish (FCUnpublish, deleteStream) and the connection.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	wasDown := s.c == nil
	if s.c != nil {
		s.c.close(s.target)
		s.c = nil
	}
	if s.rep != nil {
		err := s.failed
		if err == nil && wasDown {
			err = s.lastErr // stopped during an outage: keep saying why
		}
		s.rep.Report(output.SinkState{Running: false, Retries: s.retries, Err: err})
	}
	s.log.Info("rtmp output closed", "retries", s.retries)
	return nil
}
