package janus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomcast/roomcast/internal/mediafile"
	"github.com/roomcast/roomcast/room"
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// URL, PIN and Token: as for Options.
	URL, PIN, Token string
	// Display is the participant's display name (required).
	Display string
	// Media is a file whose first video stream is published as the camera
	// and first audio stream as the microphone (VP8, VP9, H.264 or AV1;
	// Opus). Screen, if set, is published as a screen share, described
	// "screen" (the connector's convention). At least one is required.
	Media, Screen string
	// Simulcast, if set, holds three video-only files of one camera, the
	// high, middle and low layers (rids "h", "m", "l"), sent as simulcast
	// in place of Media's video. Media may then hold the audio only.
	Simulcast []string
	// AudioLevel, if set, is the RFC 6464 level (-dBov, 0 the loudest,
	// 127 silence) stamped on every audio packet: the recorder finds the
	// active speaker from it. A test script; SetAudioLevel changes it.
	AudioLevel *uint8
	// Loop replays the files forever.
	Loop       bool
	Logger     *slog.Logger
	HTTPClient *http.Client
}

// Publisher is a VideoRoom publisher that sends media files in real time,
// passed through (never re-encoded) at the pace of their timestamps: what
// `roomcast publish` runs against a Janus room, and the tests' sender.
type Publisher struct {
	opts   PublisherOptions
	log    *slog.Logger
	red    *redactor
	base   string
	roomID id
	hc     *http.Client

	mu      sync.Mutex
	sess    *session
	pc      *webrtc.PeerConnection
	files   []*pubFile
	id      id
	handle  id
	err     error
	started bool
	pumping bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	done    chan struct{}
	plis    atomic.Int64
	level   atomic.Int32
}

// pubFile is one file and the tracks its streams go out on.
type pubFile struct {
	path         string
	r            *mediafile.Reader
	desc         string // "camera" or "screen"
	video, audio *mediafile.Stream
	vt, at       *webrtc.TrackLocalStaticSample
	vMid, aMid   string
	rid          string // a simulcast layer's
}

// The fmtp lines pion's default codecs register for H.264 and VP9; a track
// must use them to be matched.
const (
	pionH264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	pionVP9Fmtp  = "profile-id=0"
)

// NewPublisher validates opts and opens the files, so a missing file or an
// unsupported codec fails before anything connects.
func NewPublisher(opts PublisherOptions) (*Publisher, error) {
	base, roomID, err := ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("janus: PublisherOptions.URL: %w", err)
	}
	if opts.Display == "" {
		return nil, errors.New("janus: PublisherOptions.Display is required (--identity)")
	}
	if len(opts.Simulcast) != 0 && len(opts.Simulcast) != 3 {
		return nil, errors.New("janus: PublisherOptions.Simulcast needs three files: high, middle and low")
	}
	if opts.Media == "" && opts.Screen == "" && len(opts.Simulcast) == 0 {
		return nil, errors.New("janus: PublisherOptions.Media or PublisherOptions.Screen is required (--media, --screen)")
	}
	p := &Publisher{opts: opts, log: opts.Logger, red: newRedactor(opts.PIN, opts.Token), base: base, roomID: roomID, hc: opts.HTTPClient, done: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("room", string(roomID), "display", opts.Display)
	p.level.Store(-1)
	if opts.AudioLevel != nil {
		p.level.Store(int32(min(*opts.AudioLevel, 127)))
	}
	if p.hc == nil {
		p.hc = &http.Client{}
	}
	for _, f := range []struct{ path, desc string }{{opts.Media, "camera"}, {opts.Screen, "screen"}} {
		if f.path == "" {
			continue
		}
		pf, err := openPubFile(f.path, f.desc)
		if err != nil {
			p.closeFiles()
			return nil, err
		}
		p.files = append(p.files, pf)
	}
	for i, path := range opts.Simulcast {
		pf, err := openPubFile(path, "camera")
		if err != nil || pf.video == nil {
			if err == nil {
				err = fmt.Errorf("janus: %s has no video", path)
				pf.r.Close()
			}
			p.closeFiles()
			return nil, err
		}
		pf.rid = simulcastRIDs[i]
		p.files = append(p.files, pf)
	}
	return p, nil
}

// simulcastRIDs name the layers, highest first, as browsers send them.
var simulcastRIDs = []string{"h", "m", "l"}

func openPubFile(path, desc string) (*pubFile, error) {
	r, err := mediafile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("janus: %w", err)
	}
	f := &pubFile{path: path, r: r, desc: desc}
	info := r.Info()
	var sel []*mediafile.Stream
	if s := info.First(room.KindVideo); s != nil {
		switch s.Codec.MimeType {
		case webrtc.MimeTypeVP8, webrtc.MimeTypeVP9, webrtc.MimeTypeH264, webrtc.MimeTypeAV1:
		default:
			r.Close()
			return nil, fmt.Errorf("janus: %s: video codec %s is not supported (VP8, VP9, H.264, AV1)", path, s.CodecName)
		}
		f.video = s
		sel = append(sel, s)
	}
	if s := info.First(room.KindAudio); s != nil {
		if s.Codec.MimeType != webrtc.MimeTypeOpus {
			r.Close()
			return nil, fmt.Errorf("janus: %s: audio codec %s is not supported (Opus)", path, s.CodecName)
		}
		f.audio = s
		sel = append(sel, s)
	}
	if len(sel) == 0 {
		r.Close()
		return nil, fmt.Errorf("janus: %s has neither video nor audio", path)
	}
	if err := r.Select(sel...); err != nil {
		r.Close()
		return nil, fmt.Errorf("janus: %w", err)
	}
	return f, nil
}

func capabilityOf(s *mediafile.Stream) webrtc.RTPCodecCapability {
	c := webrtc.RTPCodecCapability{MimeType: s.Codec.MimeType, ClockRate: s.Codec.ClockRate}
	switch s.Codec.MimeType {
	case webrtc.MimeTypeH264:
		c.SDPFmtpLine = pionH264Fmtp
	case webrtc.MimeTypeVP9:
		c.SDPFmtpLine = pionVP9Fmtp
	case webrtc.MimeTypeOpus:
		c.Channels = s.Codec.Channels
		c.SDPFmtpLine = s.Codec.SDPFmtpLine
	}
	return c
}

// Start joins the room as a publisher, publishes the tracks and starts
// sending. It returns once Janus accepted the publication.
func (p *Publisher) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started || p.closed {
		p.mu.Unlock()
		return errors.New("janus: Publisher.Start called twice or after Close")
	}
	p.started = true
	p.mu.Unlock()
	err := p.start(ctx)
	if err != nil {
		err = p.red.error(classify(err, p.roomID))
	}
	return err
}

func (p *Publisher) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, DefaultJoinTimeout)
	defer cancel()
	sess, err := newSession(ctx, p.base, p.opts.Token, p.hc, p.red, p.log)
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.Background())
	p.mu.Lock()
	p.sess, p.cancel = sess, stop
	p.mu.Unlock()
	go func() {
		if err := sess.poll(runCtx, func(m message) {
			if m.Janus == "hangup" {
				p.fail(fmt.Errorf("janus: the server hung up the publication: %s", m.Reason))
			}
		}); err != nil {
			p.fail(fmt.Errorf("%w: %w", ErrConnectionLost, err))
		}
	}()
	h, err := sess.attach(ctx)
	if err != nil {
		return err
	}
	join := map[string]any{"request": "join", "ptype": "publisher", "room": p.roomID.value(), "display": p.opts.Display}
	if p.opts.PIN != "" {
		join["pin"] = p.opts.PIN
	}
	v, _, err := sess.send(ctx, h, join, nil)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.id, p.handle = v.ID, h
	p.mu.Unlock()
	api, err := newAPI(true, levelStamperFactory{&p.level})
	if err != nil {
		return err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("janus: %w", err)
	}
	p.mu.Lock()
	p.pc = pc
	p.mu.Unlock()
	type added struct {
		f     *pubFile
		video bool
		tr    *webrtc.RTPTransceiver
	}
	var trs []added
	var simulcast *webrtc.RTPTransceiver
	for _, f := range p.files {
		for _, s := range []*mediafile.Stream{f.video, f.audio} {
			if s == nil {
				continue
			}
			var topts []func(*webrtc.TrackLocalStaticRTP)
			if f.rid != "" {
				topts = append(topts, webrtc.WithRTPStreamID(f.rid))
			}
			t, err := webrtc.NewTrackLocalStaticSample(capabilityOf(s), fmt.Sprintf("%s-%s", f.desc, s.Kind), "roomcast-"+f.desc, topts...)
			if err != nil {
				return fmt.Errorf("janus: %s: %w", f.path, err)
			}
			if f.rid != "" && simulcast != nil {
				// A lower layer: another encoding of the same sender.
				if err := simulcast.Sender().AddEncoding(t); err != nil {
					return fmt.Errorf("janus: %s: simulcast layer %s: %w", f.path, f.rid, err)
				}
				f.vt = t
				continue
			}
			tr, err := pc.AddTransceiverFromTrack(t, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
			if err != nil {
				return fmt.Errorf("janus: %s: %w", f.path, err)
			}
			if f.rid != "" {
				simulcast = tr
			}
			// Janus answers with the room's favourite codec among those
			// offered, so offer only the track's own.
			for _, c := range publisherCodecs {
				if c.p.MimeType == s.Codec.MimeType {
					if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{c.p}); err != nil {
						return fmt.Errorf("janus: %s: %w", f.path, err)
					}
				}
			}
			go p.drainRTCP(tr.Sender())
			if s.Kind == room.KindVideo {
				f.vt = t
			} else {
				f.at = t
			}
			trs = append(trs, added{f, s.Kind == room.KindVideo, tr})
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("janus: offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("janus: offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	var descs []any
	for _, a := range trs {
		descs = append(descs, map[string]any{"mid": a.tr.Mid(), "description": a.f.desc})
		if a.video {
			a.f.vMid = a.tr.Mid()
		} else {
			a.f.aMid = a.tr.Mid()
		}
	}
	_, answer, err := sess.send(ctx, h, map[string]any{"request": "publish", "descriptions": descs}, &jsep{Type: "offer", SDP: ssrcSimulcast(pc.LocalDescription().SDP)})
	if err != nil {
		return err
	}
	if answer == nil || answer.Type != "answer" {
		return fmt.Errorf("%w: publish: Janus sent no answer", ErrNegotiation)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		return fmt.Errorf("%w: %w", ErrNegotiation, err)
	}
	p.log.Info("publishing to janus", "id", string(p.id), "tracks", len(trs))
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("janus: Publisher closed while starting")
	}
	p.pumping = true
	for _, f := range p.files {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.pump(runCtx, f); err != nil {
				p.fail(err)
			}
		}()
	}
	p.mu.Unlock()
	go func() {
		p.wg.Wait()
		close(p.done)
	}()
	return nil
}

func (p *Publisher) drainRTCP(s *webrtc.RTPSender) {
	for {
		ps, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range ps {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.plis.Add(1)
			}
		}
	}
}

// pump sends a file's samples at the pace of their timestamps, looping if
// asked, with timestamps growing across loops as a live source's would.
func (p *Publisher) pump(ctx context.Context, f *pubFile) error {
	base := time.Now()
	start := f.r.Info().StartTime
	var offset, end time.Duration
	var s mediafile.Sample
	for {
		err := f.r.Read(&s)
		if errors.Is(err, io.EOF) {
			if !p.opts.Loop {
				return nil
			}
			if end <= 0 {
				return fmt.Errorf("janus: %s: nothing to loop", f.path)
			}
			offset += end
			end = 0
			if err := f.r.Rewind(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		ts := s.PTS
		if ts == mediafile.NoTimestamp {
			ts = s.DTS
		}
		var at time.Duration
		if ts != mediafile.NoTimestamp {
			at = max(s.Stream.Duration(ts)-start, 0)
		}
		dur := 20 * time.Millisecond
		if s.Stream.Kind == room.KindVideo {
			dur = time.Second / 30
			if s.Stream.FrameRateNum > 0 && s.Stream.FrameRateDen > 0 {
				dur = time.Duration(float64(time.Second) * float64(s.Stream.FrameRateDen) / float64(s.Stream.FrameRateNum))
			}
		}
		if s.Duration > 0 {
			dur = s.Stream.Duration(s.Duration)
		}
		end = max(end, at+dur)
		if d := time.Until(base.Add(offset + at)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil
			}
		} else if ctx.Err() != nil {
			return nil
		}
		t := f.vt
		if s.Stream.Kind == room.KindAudio {
			t = f.at
		}
		if t == nil {
			continue
		}
		if err := t.WriteSample(media.Sample{Data: s.Data, Duration: dur}); err != nil && !errors.Is(err, io.ErrClosedPipe) {
			p.log.Debug("dropping a sample", "error", err)
		}
	}
}

// Unpublish stops publishing but stays in the room, as a browser does when
// the user stops the camera and microphone.
func (p *Publisher) Unpublish(ctx context.Context) error {
	p.mu.Lock()
	sess, h := p.sess, p.handle
	p.mu.Unlock()
	if sess == nil {
		return errors.New("janus: Unpublish before Start")
	}
	if _, _, err := sess.send(ctx, h, map[string]any{"request": "unpublish"}, nil); err != nil {
		return p.red.error(err)
	}
	return nil
}

// SetSending stops or resumes relaying the camera file's stream of that
// kind, with configure's per-stream "send": what a client does when the user
// stops the camera without unpublishing. The recorder sees it muted.
func (p *Publisher) SetSending(ctx context.Context, kind room.Kind, send bool) error {
	p.mu.Lock()
	sess, h := p.sess, p.handle
	mid := ""
	for _, f := range p.files {
		if f.desc == "camera" && f.rid == "" {
			mid = f.aMid
			if kind == room.KindVideo {
				mid = f.vMid
			}
		}
	}
	p.mu.Unlock()
	if sess == nil || mid == "" {
		return fmt.Errorf("janus: no published camera %s stream", kind)
	}
	body := map[string]any{"request": "configure", "streams": []any{map[string]any{"mid": mid, "send": send}}}
	if _, _, err := sess.send(ctx, h, body, nil); err != nil {
		return p.red.error(err)
	}
	return nil
}

// SetAudioLevel changes the level stamped on the audio (see
// PublisherOptions.AudioLevel); a negative one stops the stamping.
func (p *Publisher) SetAudioLevel(level int) { p.level.Store(int32(min(level, 127))) }

// ID is the participant id Janus gave the publisher ("" before Start).
func (p *Publisher) ID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.id)
}

// PLIs counts the keyframe requests (PLI, FIR) Janus sent.
func (p *Publisher) PLIs() int64 { return p.plis.Load() }

// Done is closed when every file has played out (without Loop), on a
// failure, or after Close.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Err tells why the Publisher stopped early; nil when it played out or was
// closed.
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Publisher) fail(err error) {
	p.mu.Lock()
	if p.err == nil && !p.closed {
		p.err = p.red.error(err)
		p.log.Warn("publisher stopped", "error", p.err)
	}
	cancel := p.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// Close stops sending, leaves the room and frees the files.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	sess, pc, cancel, pumping := p.sess, p.pc, p.cancel, p.pumping
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.wg.Wait()
	if pc != nil {
		_ = pc.Close()
	}
	if sess != nil {
		sess.destroy()
	}
	if !pumping {
		close(p.done) // the pumps, and the goroutine that closes done, never started
	}
	p.closeFiles()
	return nil
}

func (p *Publisher) closeFiles() {
	for _, f := range p.files {
		f.r.Close()
	}
	p.files = nil
}

// ssrcSimulcast rewrites a simulcast m-section from rids to SSRCs: pion
// lists each layer's SSRC but does not put the rtp-stream-id extension on
// its packets, so Janus, told of rids, could not tell the layers apart.
// An "a=ssrc-group:SIM" of the SSRCs, lowest layer first (as Chrome's
// legacy simulcast has it), tells it by SSRC instead; the rid lines go.
func ssrcSimulcast(sdp string) string {
	lines := strings.SplitAfter(sdp, "\n")
	var out strings.Builder
	var section []string
	flush := func() {
		simulcast := false
		var ssrcs []string
		for _, l := range section {
			if strings.HasPrefix(l, "a=simulcast:") {
				simulcast = true
			}
			if strings.HasPrefix(l, "a=ssrc:") {
				f := strings.Fields(strings.TrimPrefix(l, "a=ssrc:"))
				if len(f) > 0 && !slices.Contains(ssrcs, f[0]) {
					ssrcs = append(ssrcs, f[0])
				}
			}
		}
		for _, l := range section {
			if simulcast && (strings.HasPrefix(l, "a=rid:") || strings.HasPrefix(l, "a=simulcast:")) {
				continue
			}
			if simulcast && strings.HasPrefix(l, "a=sendonly") {
				slices.Reverse(ssrcs) // pion lists them highest first
				out.WriteString("a=ssrc-group:SIM " + strings.Join(ssrcs, " ") + "\r\n")
			}
			out.WriteString(l)
		}
		section = section[:0]
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "m=") {
			flush()
		}
		section = append(section, l)
	}
	flush()
	return out.String()
}
