package janus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

// Defaults.
const (
	DefaultJoinTimeout      = 10 * time.Second
	DefaultReconnectTimeout = 30 * time.Second
	DefaultPollInterval     = time.Second
	eventBuffer             = 256
)

// Options configure a Room.
type Options struct {
	// URL is janus://HOST:PORT/ROOM or janus+https://HOST/PATH/ROOM (see
	// ParseURL).
	URL string
	// PIN is the room's PIN, if it has one (JANUS_ROOM_PIN); Token is the
	// API token, if the server wants one (JANUS_TOKEN). Neither is ever
	// logged or put into an error.
	PIN, Token string
	Logger     *slog.Logger
	// JoinTimeout bounds Start when its ctx has no earlier deadline.
	JoinTimeout time.Duration
	// ReconnectTimeout is how long the server may stay unreachable (or the
	// room missing after it restarted) before the room ends with
	// ErrConnectionLost. Default DefaultReconnectTimeout.
	ReconnectTimeout time.Duration
	// PollInterval is how often listparticipants is asked: VideoRoom tells
	// a subscriber nothing about who joins or leaves.
	PollInterval time.Duration
	// HTTPClient, if set, carries the API's requests.
	HTTPClient *http.Client
}

// Room is a Janus VideoRoom room seen by a hidden recorder: a subscriber,
// which VideoRoom never lists as a participant. It implements room.Room and
// room.VideoSizer.
//
// One goroutine, the loop (loop.go), owns the room's state; the long poll,
// pion's callbacks and the public methods hand it ops.
type Room struct {
	opts   Options
	log    *slog.Logger
	red    *redactor
	base   string
	roomID id
	api    *webrtc.API
	hc     *http.Client

	events   chan room.Event
	ops      opQueue
	stop     chan struct{}
	loopDone chan struct{}
	loopCtx  context.Context
	cancel   context.CancelFunc

	startOnce sync.Once
	mu        sync.Mutex
	started   bool
	stopped   bool
	finished  bool
	err       error
	tracks    map[string]*track // by track ID; written by the loop under mu

	// Owned by the loop.
	ctx               context.Context // Start's, once joined
	gen               int             // session generation: late news of an old one is ignored
	sess              *session
	pollStop          context.CancelFunc
	ctl               id // the handle that asks listparticipants
	sub               id // the subscriber handle, once something is subscribed
	pc                *webrtc.PeerConnection
	peers             map[id]*peerState
	order             []id                  // peers in the order they were seen
	streams           map[string]subStream  // the subscription's streams by mid
	byMid             map[string]*track     // live tracks by mid
	pending           map[string]pendingRTP // tracks pion gave before their stream was described
	requested         map[id]time.Time      // feeds asked for and not yet in streams
	speaking          []room.Speaker
	reconnectingSince time.Time
	lastLoss          error
}

type peerState struct {
	peer      room.Peer
	publisher bool
}

type pendingRTP struct {
	remote   *webrtc.TrackRemote
	receiver *webrtc.RTPReceiver
}

var (
	_ room.Room       = (*Room)(nil)
	_ room.VideoSizer = (*Room)(nil)
)

// New validates opts and returns a Room that Start will join.
func New(opts Options) (*Room, error) {
	base, roomID, err := ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("janus: Options.URL: %w", err)
	}
	api, err := newAPI(false)
	if err != nil {
		return nil, err
	}
	r := &Room{
		opts: opts, log: opts.Logger, base: base, roomID: roomID, api: api, hc: opts.HTTPClient,
		red:       newRedactor(opts.PIN, opts.Token),
		events:    make(chan room.Event, eventBuffer),
		stop:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		tracks:    map[string]*track{},
		peers:     map[id]*peerState{},
		streams:   map[string]subStream{},
		byMid:     map[string]*track{},
		pending:   map[string]pendingRTP{},
		requested: map[id]time.Time{},
	}
	r.ops.ready = make(chan struct{}, 1)
	r.loopCtx, r.cancel = context.WithCancel(context.Background())
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("room", string(roomID))
	if r.hc == nil {
		r.hc = &http.Client{}
	}
	if r.opts.JoinTimeout <= 0 {
		r.opts.JoinTimeout = DefaultJoinTimeout
	}
	if r.opts.ReconnectTimeout <= 0 {
		r.opts.ReconnectTimeout = DefaultReconnectTimeout
	}
	if r.opts.PollInterval <= 0 {
		r.opts.PollInterval = DefaultPollInterval
	}
	return r, nil
}

// Start joins the room: it checks that the room exists and that the PIN
// opens it, and subscribes to whoever publishes. ctx bounds the room's
// whole life, as room.Room asks.
func (r *Room) Start(ctx context.Context) error {
	err := errors.New("janus: Start called twice")
	r.startOnce.Do(func() { err = r.start(ctx) })
	return err
}

func (r *Room) start(ctx context.Context) error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return errors.New("janus: Start after Close")
	}
	r.started = true
	r.mu.Unlock()
	began := time.Now()
	jctx, cancel := context.WithTimeout(ctx, r.opts.JoinTimeout)
	defer cancel()
	ps, err := r.connect(jctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w: room %s at %s", ErrJoinTimeout, r.roomID, r.base)
		}
		err = r.red.error(err)
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(r.loopDone)
		r.finish(err)
		return err
	}
	r.log.Info("joined janus room as a hidden subscriber", "server", r.base, "took", time.Since(began).Round(time.Millisecond))
	r.ctx = ctx
	go r.run()
	r.ops.push(func() {
		r.syncPeers(ps)
		r.ensureSubscriptions()
	})
	return nil
}

// Events implements room.Room.
func (r *Room) Events() <-chan room.Event { return r.events }

// Err implements room.Room: why the room ended, nil when Close ended it.
func (r *Room) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close leaves the room, ends every track and closes Events.
func (r *Room) Close() error {
	r.mu.Lock()
	first := !r.stopped
	if first {
		r.stopped = true
		close(r.stop)
	}
	started := r.started
	r.mu.Unlock()
	r.cancel()
	if started {
		<-r.loopDone
	}
	r.finish(nil)
	return nil
}

// SetVideoSize picks the simulcast substream that fits a width x height
// tile, with configure. VideoRoom does not tell a subscriber the layers'
// sizes, so the choice assumes the usual ladder (full, half, quarter of a
// 720p camera): a tile up to 180 lines high gets substream 0, up to 360
// substream 1, larger ones 2. A stream sent without simulcast ignores it.
func (r *Room) SetVideoSize(trackID string, width, height int) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("janus: SetVideoSize: size %dx%d is not positive", width, height)
	}
	r.mu.Lock()
	t := r.tracks[trackID]
	r.mu.Unlock()
	if t == nil {
		return fmt.Errorf("janus: SetVideoSize: no track %q", trackID)
	}
	if t.info.Kind != room.KindVideo {
		return fmt.Errorf("janus: SetVideoSize: track %q is not video", trackID)
	}
	r.ops.push(func() { r.setSubstream(t, substreamFor(height)) })
	return nil
}

func substreamFor(height int) int {
	switch {
	case height <= 180:
		return 0
	case height <= 360:
		return 1
	default:
		return 2
	}
}

// Substream reports the simulcast substream last asked for a track (-1:
// none). For tests and diagnostics.
func (r *Room) Substream(trackID string) int {
	done := make(chan int, 1)
	r.ops.push(func() {
		r.mu.Lock()
		t := r.tracks[trackID]
		r.mu.Unlock()
		if t == nil {
			done <- -1
			return
		}
		done <- t.substream
	})
	select {
	case s := <-done:
		return s
	case <-r.loopDone:
		return -1
	}
}
