package livekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/interceptor"

	"github.com/roomcast/roomcast/room"
)

// Defaults.
const (
	DefaultJoinTimeout = 10 * time.Second
	eventBuffer        = 256
)

// Options configure a Room.
type Options struct {
	// URL is livekit://host:port/ROOM (ws), or livekit+https:// or
	// livekit+wss:// (TLS).
	URL string
	// APIKey and APISecret mint the recorder's own token. Token, when set,
	// is used instead (it must grant roomJoin for the room; roomcast asks
	// for nothing else, but hidden and recorder should be granted too, or
	// the bot is visible to the room).
	APIKey, APISecret string
	Token             string
	// Identity is the bot's participant identity, by default
	// "roomcast-recorder-<random>". Ignored with Token (the token names it).
	Identity string
	Logger   *slog.Logger
	// JoinTimeout bounds Start when its ctx has no earlier deadline.
	// Default DefaultJoinTimeout.
	JoinTimeout time.Duration
	// ReconnectTimeout is how long the bot's own connection may stay down
	// before the room ends with ErrConnectionLost. Zero leaves it to the
	// SDK, which gives up after about 90 s of attempts.
	ReconnectTimeout time.Duration
	// Interceptors are added to the SDK's pion interceptors, network-side
	// of its own (NACK, RTCP reports, TWCC), for tests that emulate a bad
	// network (internal/netfault). Nil in production.
	Interceptors []interceptor.Factory
}

// Room is a LiveKit room seen by a hidden recorder. It implements room.Room.
//
// One goroutine, the loop (loop.go), owns the room's state: the SDK's
// callbacks (callbacks.go) become ops that the loop applies in order, to the
// session (session.go) and to the peers and their tracks (peers.go).
type Room struct {
	opts     Options
	log      *slog.Logger
	red      *redactor
	wsURL    string
	roomName string
	identity string
	token    string

	events chan room.Event
	ops    opQueue

	startOnce sync.Once
	loopDone  chan struct{}
	// gen numbers SDK sessions: a rejoin starts a new lksdk.Room, and the
	// late callbacks of the old one are ignored.
	gen atomic.Uint64

	mu       sync.Mutex
	lk       *lksdk.Room   // the current session; replaced by the loop only
	started  bool          // the loop runs (or ran)
	stopped  bool          // Close was called, or the loop left the session
	stop     chan struct{} // closed with stopped
	err      error
	finished bool
	tracks   map[string]*track // by track SID; written by the loop under mu

	// Owned by the loop goroutine.
	ctx               context.Context       // Start's, once joined: it bounds the room
	peers             map[string]*peerState // by identity
	reconnectingSince time.Time
	localSID          string // the bot's session, to notice the SDK restarting it
	rejoining         bool
	rejoinFailures    int
	lastRejoin        time.Time
}

var _ room.Room = (*Room)(nil)

// New validates opts and returns a Room that Start will join. Errors name the
// offending field, never its value when it is a secret.
func New(opts Options) (*Room, error) {
	wsURL, roomName, err := ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("livekit: Options.URL: %w", err)
	}
	r := &Room{
		opts:     opts,
		log:      opts.Logger,
		wsURL:    wsURL,
		roomName: roomName,
		events:   make(chan room.Event, eventBuffer),
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
		tracks:   make(map[string]*track),
		peers:    make(map[string]*peerState),
	}
	r.ops.ready = make(chan struct{}, 1)
	if r.log == nil {
		r.log = discardLogger()
	}
	if r.opts.JoinTimeout <= 0 {
		r.opts.JoinTimeout = DefaultJoinTimeout
	}
	switch {
	case opts.Token != "":
		r.token = opts.Token
		r.identity = opts.Identity // for logs only; the token decides
	case opts.APIKey == "" && opts.APISecret == "":
		return nil, errors.New("livekit: Options.Token or Options.APIKey and Options.APISecret are required (LIVEKIT_TOKEN, or LIVEKIT_API_KEY and LIVEKIT_API_SECRET)")
	case opts.APIKey == "":
		return nil, errors.New("livekit: Options.APIKey is required with Options.APISecret (LIVEKIT_API_KEY)")
	case opts.APISecret == "":
		return nil, errors.New("livekit: Options.APISecret is required with Options.APIKey (LIVEKIT_API_SECRET)")
	default:
		r.identity = opts.Identity
		if r.identity == "" {
			r.identity = "roomcast-recorder-" + randomSuffix()
		}
		if r.token, err = recorderToken(opts.APIKey, opts.APISecret, roomName, r.identity); err != nil {
			return nil, err
		}
	}
	r.red = newRedactor(opts.APISecret, r.token)
	r.log = r.log.With("room", roomName)
	return r, nil
}

// Start joins the room and returns once joined, or with an error that wraps
// one of the Err* values or ctx's error. It gives up at ctx's deadline or
// after Options.JoinTimeout, whichever comes first.
//
// ctx bounds the room's whole life, as room.Room asks: when it ends after
// the join, the room ends as if Close had been called, except that Err
// reports ctx's error (errors.Is(err, context.Canceled), say).
func (r *Room) Start(ctx context.Context) error {
	err := errors.New("livekit: Start called twice")
	r.startOnce.Do(func() { err = r.start(ctx) })
	return err
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
	r.shutdown()
	return nil
}

func (r *Room) shutdown() {
	r.mu.Lock()
	first := !r.stopped
	if first {
		r.stopped = true
		close(r.stop)
	}
	started, lk := r.started, r.lk
	r.mu.Unlock()
	if first && lk != nil {
		lk.DisconnectWithReason(lkproto.DisconnectReason_CLIENT_INITIATED)
	}
	if started {
		<-r.loopDone
	} else {
		r.finish(nil)
	}
}

func (r *Room) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// SetVideoSize asks the SFU for the simulcast layer (or the resolution of a
// dynacast/SVC stream) that best fits a width x height tile. It is a hint;
// the SFU answers with what the publisher offers.
func (r *Room) SetVideoSize(trackID string, width, height int) error {
	if width <= 0 || height <= 0 {
		return fmt.Errorf("livekit: SetVideoSize: size %dx%d is not positive", width, height)
	}
	r.mu.Lock()
	t := r.tracks[trackID]
	r.mu.Unlock()
	if t == nil {
		return fmt.Errorf("livekit: SetVideoSize: no track %q", trackID)
	}
	if t.info.Kind != room.KindVideo {
		return fmt.Errorf("livekit: SetVideoSize: track %q is not video", trackID)
	}
	t.pub.SetVideoDimensions(uint32(width), uint32(height))
	r.log.Debug("asked for a video size", "peer", t.info.PeerID, "track", trackID, "width", width, "height", height)
	return nil
}
