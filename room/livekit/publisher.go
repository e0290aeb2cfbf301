package livekit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/roomcast/roomcast/room"
)

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// URL, credentials: as for Options. The minted token may publish only.
	URL               string
	APIKey, APISecret string
	Token             string
	// Identity is the participant identity (required unless Token names it).
	Identity string
	// Name is the display name, by default Identity.
	Name string
	// Media is a file whose first video stream is published as the camera
	// and first audio stream as the microphone (VP8, VP9 or H.264; Opus),
	// e.g. a WebM. Screen, if set, is published as a screen share (its
	// audio, if any, as screen-share audio). At least one is required.
	Media, Screen string
	// Loop replays the files forever; otherwise the Publisher is done when
	// the longest has played once.
	Loop bool
	// MuteVideoAt mutes the camera that long after Start, for MuteVideoFor
	// (zero: for good). A script for smoke tests of mute handling.
	MuteVideoAt, MuteVideoFor time.Duration
	Logger                    *slog.Logger
}

// Publisher is a normal participant that publishes media files in real time,
// the way a browser would publish a camera: packets are sent passed through
// (never re-encoded) at the pace of their timestamps.
//
// It cannot make a keyframe on demand: a keyframe request from the SFU is
// counted (PLIs) and the next keyframe in the file answers it, so files for
// tests should have short GOPs.
type Publisher struct {
	opts     PublisherOptions
	log      *slog.Logger
	red      *redactor
	wsURL    string
	roomName string
	token    string

	mu      sync.Mutex
	lk      *lksdk.Room
	files   []*mediaFile
	tracks  []*pubTrack
	err     error
	started bool
	closed  bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	plis   atomic.Int64
}

// pubTrack is one published track.
type pubTrack struct {
	kind   room.Kind
	source room.Source
	local  *lksdk.LocalTrack
	pub    *lksdk.LocalTrackPublication
	muted  atomic.Bool
	// needKey holds back video after an unmute until a keyframe, so the
	// first frame a subscriber gets is decodable.
	needKey atomic.Bool
}

// NewPublisher validates opts and opens the media files, so that a missing
// file or an unsupported codec fails before anything connects.
func NewPublisher(opts PublisherOptions) (*Publisher, error) {
	wsURL, roomName, err := ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("livekit: PublisherOptions.URL: %w", err)
	}
	if opts.Media == "" && opts.Screen == "" {
		return nil, errors.New("livekit: PublisherOptions.Media or PublisherOptions.Screen is required")
	}
	p := &Publisher{opts: opts, log: opts.Logger, wsURL: wsURL, roomName: roomName, done: make(chan struct{})}
	if p.log == nil {
		p.log = discardLogger()
	}
	if p.opts.Name == "" {
		p.opts.Name = opts.Identity
	}
	switch {
	case opts.Token != "":
		p.token = opts.Token
	case opts.Identity == "":
		return nil, errors.New("livekit: PublisherOptions.Identity is required")
	case opts.APIKey == "" || opts.APISecret == "":
		return nil, errors.New("livekit: PublisherOptions.Token or PublisherOptions.APIKey and PublisherOptions.APISecret are required")
	default:
		if p.token, err = publisherToken(opts.APIKey, opts.APISecret, roomName, opts.Identity, p.opts.Name); err != nil {
			return nil, err
		}
	}
	p.red = newRedactor(opts.APISecret, p.token)
	p.log = p.log.With("room", roomName, "identity", opts.Identity)
	for _, path := range []string{opts.Media, opts.Screen} {
		if path == "" {
			p.files = append(p.files, nil)
			continue
		}
		m, err := openMedia(path)
		if err != nil {
			p.closeFiles()
			return nil, err
		}
		p.files = append(p.files, m)
	}
	return p, nil
}

// Start joins the room, publishes the tracks and starts sending. It returns
// once every track is published.
func (p *Publisher) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started || p.closed {
		p.mu.Unlock()
		return errors.New("livekit: Publisher.Start called twice or after Close")
	}
	p.started = true
	p.mu.Unlock()

	cb := &lksdk.RoomCallback{
		OnDisconnectedWithReason: func(reason lksdk.DisconnectionReason) {
			if reason != lksdk.LeaveRequested {
				p.fail(fmt.Errorf("%w (%s)", ErrDisconnected, reason))
			}
		},
	}
	lk := lksdk.NewRoom(cb)
	lk.SetLogger(newSDKLogger(p.log, p.red, nil))
	ctx, cancel := context.WithTimeout(ctx, DefaultJoinTimeout)
	defer cancel()
	joined := make(chan error, 1)
	go func() { joined <- lk.JoinWithToken(p.wsURL, p.token, lksdk.WithAutoSubscribe(false)) }()
	select {
	case err := <-joined:
		if err != nil {
			return fmt.Errorf("publisher: %w", joinError(err, p.red, p.roomName, p.wsURL))
		}
	case <-ctx.Done():
		go func() {
			if <-joined == nil {
				lk.Disconnect()
			}
		}()
		err := error(ErrJoinTimeout)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = ctx.Err()
		}
		return fmt.Errorf("publisher: %w", joinError(err, p.red, p.roomName, p.wsURL))
	}
	p.mu.Lock()
	p.lk = lk
	p.mu.Unlock()

	sources := [][2]lkproto.TrackSource{
		{lkproto.TrackSource_CAMERA, lkproto.TrackSource_MICROPHONE},
		{lkproto.TrackSource_SCREEN_SHARE, lkproto.TrackSource_SCREEN_SHARE_AUDIO},
	}
	perFile := make([][2]*pubTrack, len(p.files))
	for i, m := range p.files {
		if m == nil {
			continue
		}
		for j, fs := range []*fileStream{m.video, m.audio} {
			if fs == nil {
				continue
			}
			t, err := p.publish(fs, sources[i][j])
			if err != nil {
				return err
			}
			perFile[i][j] = t
		}
	}

	runCtx, stop := context.WithCancel(context.Background())
	p.mu.Lock()
	p.cancel = stop
	p.mu.Unlock()
	for i, m := range p.files {
		if m == nil {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := p.pump(runCtx, m, perFile[i][0], perFile[i][1]); err != nil {
				p.fail(err)
			}
		}()
	}
	go func() {
		p.wg.Wait()
		close(p.done)
	}()
	if p.opts.MuteVideoAt > 0 {
		go p.muteScript(runCtx)
	}
	return nil
}

func (p *Publisher) publish(fs *fileStream, src lkproto.TrackSource) (*pubTrack, error) {
	t := &pubTrack{kind: fs.kind, source: sourceOf(src)}
	local, err := lksdk.NewLocalTrack(fs.codec, lksdk.WithRTCPHandler(func(pkt rtcp.Packet) {
		switch pkt.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			p.plis.Add(1)
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("livekit: creating %s track: %w", src, err)
	}
	local.SetLogger(newSDKLogger(p.log, p.red, nil))
	popts := &lksdk.TrackPublicationOptions{
		Name:        trackName(src),
		Source:      src,
		VideoWidth:  fs.width,
		VideoHeight: fs.height,
	}
	pub, err := p.lk.LocalParticipant.PublishTrack(local, popts)
	if err != nil {
		return nil, fmt.Errorf("livekit: publishing %s track: %s", src, p.red.string(err.Error()))
	}
	t.local, t.pub = local, pub
	p.mu.Lock()
	p.tracks = append(p.tracks, t)
	p.mu.Unlock()
	p.log.Info("published track", "source", src.String(), "codec", fs.codec.MimeType, "sid", pub.SID())
	return t, nil
}

func trackName(src lkproto.TrackSource) string {
	switch src {
	case lkproto.TrackSource_CAMERA:
		return "camera"
	case lkproto.TrackSource_MICROPHONE:
		return "microphone"
	case lkproto.TrackSource_SCREEN_SHARE:
		return "screen"
	default:
		return "screen-audio"
	}
}

// pump sends a file's packets at the pace of their timestamps, looping if
// asked. Timestamps keep growing across loops, as a live source's would.
func (p *Publisher) pump(ctx context.Context, m *mediaFile, video, audio *pubTrack) error {
	base := time.Now()
	var offset, end time.Duration
	for {
		s, err := m.next()
		if errors.Is(err, io.EOF) {
			if !p.opts.Loop {
				return nil
			}
			if end <= 0 {
				return fmt.Errorf("livekit: %s: nothing to loop", m.path)
			}
			offset += end
			end = 0
			if err := m.rewind(); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		end = max(end, s.at+s.duration)
		at := base.Add(offset + s.at)
		if d := time.Until(at); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil
			}
		} else if ctx.Err() != nil {
			return nil
		}
		t := video
		if s.stream.kind == room.KindAudio {
			t = audio
		}
		if t == nil || t.muted.Load() {
			continue
		}
		if t.kind == room.KindVideo && t.needKey.Load() {
			if !s.keyframe {
				continue
			}
			t.needKey.Store(false)
		}
		var wo *lksdk.SampleWriteOptions
		if s.level != nil {
			wo = &lksdk.SampleWriteOptions{AudioLevel: s.level}
		}
		if err := t.local.WriteSample(media.Sample{Data: s.data, Duration: s.duration, Timestamp: at}, wo); err != nil {
			// An out-of-order frame (B-frames, which WebRTC senders do not
			// use) is dropped; the stream goes on.
			p.log.Debug("dropping a sample", "source", t.source, "kind", t.kind, "error", err)
		}
	}
}

func (p *Publisher) muteScript(ctx context.Context) {
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !wait(p.opts.MuteVideoAt) {
		return
	}
	if err := p.SetMuted(room.SourceRegular, room.KindVideo, true); err != nil {
		p.log.Warn("scripted mute failed", "error", err)
		return
	}
	if p.opts.MuteVideoFor <= 0 || !wait(p.opts.MuteVideoFor) {
		return
	}
	if err := p.SetMuted(room.SourceRegular, room.KindVideo, false); err != nil {
		p.log.Warn("scripted unmute failed", "error", err)
	}
}

// SetMuted mutes or unmutes the published track of that source and kind:
// the room sees TrackMuted/TrackUnmuted and no media flows meanwhile.
func (p *Publisher) SetMuted(source room.Source, kind room.Kind, muted bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tracks {
		if t.source == source && t.kind == kind {
			if kind == room.KindVideo && !muted {
				t.needKey.Store(true)
			}
			t.muted.Store(muted)
			t.pub.SetMuted(muted)
			p.log.Info("track mute changed", "source", source, "kind", kind, "muted", muted)
			return nil
		}
	}
	return fmt.Errorf("livekit: no published %s %s track", source, kind)
}

// Unpublish stops publishing the track of that source and kind, as a
// browser does when the user stops a screen share.
func (p *Publisher) Unpublish(source room.Source, kind room.Kind) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, t := range p.tracks {
		if t.source == source && t.kind == kind {
			t.muted.Store(true) // stops the pump writing to it
			p.tracks = append(p.tracks[:i], p.tracks[i+1:]...)
			if err := p.lk.LocalParticipant.UnpublishTrack(t.pub.SID()); err != nil {
				return fmt.Errorf("livekit: unpublishing %s %s: %w", source, kind, err)
			}
			return nil
		}
	}
	return fmt.Errorf("livekit: no published %s %s track", source, kind)
}

// TrackID returns the SID the server gave the track of that source and kind,
// or "" if there is none.
func (p *Publisher) TrackID(source room.Source, kind room.Kind) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tracks {
		if t.source == source && t.kind == kind {
			return t.pub.SID()
		}
	}
	return ""
}

// PLIs reports how many keyframe requests (PLI or FIR) the SFU has sent.
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
		p.err = err
		p.log.Warn("publisher stopped", "error", err)
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
	lk, cancel := p.lk, p.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.wg.Wait()
	if lk != nil {
		lk.DisconnectWithReason(lkproto.DisconnectReason_CLIENT_INITIATED)
	}
	if cancel == nil {
		close(p.done) // the pumps never started
	}
	p.closeFiles()
	return nil
}

func (p *Publisher) closeFiles() {
	for _, m := range p.files {
		if m != nil {
			m.close()
		}
	}
	p.files = nil
}
