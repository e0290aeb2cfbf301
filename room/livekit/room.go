package livekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/livekit/server-sdk-go/v2/signalling"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

// Why a room could not be joined or why it ended. Errors returned by Start
// and Err wrap one of these, so the worker can tell them apart with
// errors.Is; their text never holds a secret.
var (
	ErrUnauthorized      = errors.New("livekit: the server rejected the credentials")
	ErrRoomNotFound      = errors.New("livekit: the room does not exist")
	ErrUnreachable       = errors.New("livekit: cannot reach the server")
	ErrJoinTimeout       = errors.New("livekit: timed out joining the room")
	ErrRoomClosed        = errors.New("livekit: the room was closed")
	ErrRemoved           = errors.New("livekit: the recorder was removed from the room")
	ErrDuplicateIdentity = errors.New("livekit: another participant joined with the recorder's identity")
	ErrConnectionLost    = errors.New("livekit: connection to the server lost and not recovered")
	ErrDisconnected      = errors.New("livekit: disconnected by the server")
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
}

// Room is a LiveKit room seen by a hidden recorder. It implements room.Room.
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
	stopped  bool          // Close was called
	stop     chan struct{} // closed by Close
	err      error
	finished bool
	tracks   map[string]*track // by track SID; written by the loop under mu

	// Owned by the loop goroutine.
	peers             map[string]*peerState // by identity
	reconnectingSince time.Time
	repairing         map[string]bool // participant SIDs being looked up
	localSID          string          // the bot's session, to notice the SDK restarting it
	rejoining         bool
	rejoinFailures    int
	lastRejoin        time.Time

	leaveReason atomic.Int32 // the server's lkproto.DisconnectReason, from the SDK's log
}

type peerState struct {
	sid      string
	peer     room.Peer
	degraded bool
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
		opts:      opts,
		log:       opts.Logger,
		wsURL:     wsURL,
		roomName:  roomName,
		events:    make(chan room.Event, eventBuffer),
		stop:      make(chan struct{}),
		loopDone:  make(chan struct{}),
		tracks:    make(map[string]*track),
		peers:     make(map[string]*peerState),
		repairing: make(map[string]bool),
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
// one of the Err* values. It gives up at ctx's deadline or after
// Options.JoinTimeout, whichever comes first.
func (r *Room) Start(ctx context.Context) error {
	err := errors.New("livekit: Start called twice")
	r.startOnce.Do(func() { err = r.start(ctx) })
	return err
}

func (r *Room) start(ctx context.Context) error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return errors.New("livekit: Start after Close")
	}
	gen := r.gen.Add(1)
	lk := r.newSession(gen)
	r.lk = lk
	r.started = true
	r.mu.Unlock()
	go r.run()

	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.opts.JoinTimeout)
	defer cancel()
	joined := make(chan error, 1)
	go func() {
		// The SDK's join takes no context; it is bounded by its own 15 s
		// media timeout. If we give up first, the session is torn down as
		// soon as the join returns.
		joined <- lk.JoinWithToken(r.wsURL, r.token, lksdk.WithAutoSubscribe(true))
	}()
	var jerr error
	select {
	case jerr = <-joined:
	case <-ctx.Done():
		go func() {
			if <-joined == nil {
				lk.Disconnect()
			}
		}()
		jerr = ErrJoinTimeout
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			jerr = ctx.Err()
		}
	}
	if jerr != nil {
		err := r.joinError(jerr)
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		r.shutdown()
		return err
	}
	r.log.Info("joined livekit room", "identity", lk.LocalParticipant.Identity(),
		"server", lk.ServerInfo().GetVersion(), "took", time.Since(began).Round(time.Millisecond))
	r.ops.push(func() {
		r.localSID = lk.LocalParticipant.SID()
		r.sync()
	})
	return nil
}

// newSession makes the SDK room for session gen, its callbacks and its log
// hook tagged with gen.
func (r *Room) newSession(gen uint64) *lksdk.Room {
	lk := lksdk.NewRoom(r.callbacks(gen))
	lk.SetLogger(newSDKLogger(r.log, r.red, func(msg string, kv []any) { r.onSDKLog(gen, msg, kv) }))
	return lk
}

// sync reconciles the peers with the SDK's participant list: participants
// already in the room came with the join response, which the SDK applies
// without callbacks, and after a rejoin some peers may be gone.
func (r *Room) sync() {
	rps := r.lk.GetRemoteParticipants()
	slices.SortFunc(rps, func(a, b *lksdk.RemoteParticipant) int { return strings.Compare(a.Identity(), b.Identity()) })
	present := make(map[string]bool, len(rps))
	for _, rp := range rps {
		present[rp.Identity()] = true
		r.ensurePeer(rp)
	}
	for _, identity := range sortedKeys(r.peers) {
		if !present[identity] {
			r.peerLeft(identity, "")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// minRejoinGap bounds how often a broken SDK state makes us rejoin.
const minRejoinGap = 10 * time.Second

// rejoin replaces the SDK session with a fresh one: the same identity joins
// again and the server tells it the room as it is. The SDK (v2.11) needs
// this after it restarted its own session, because it then keeps stale
// participants whose new sessions it ignores (see sdkDeferredTrackMsg), and
// when a peer's tracks could not be subscribed. Peers stay; their tracks are
// removed now and added again by the new session.
func (r *Room) rejoin(why string) {
	if r.rejoining || r.isFinished() {
		return
	}
	r.rejoining = true
	r.lastRejoin = time.Now()
	r.log.Warn("rejoining the livekit room", "why", why)
	if r.reconnectingSince.IsZero() {
		r.reconnectingSince = time.Now()
		r.emit(room.Event{Type: room.Reconnecting})
	}
	for _, t := range r.allTracks() {
		r.dropTrack(t)
	}
	if r.isFinished() {
		return // Close came while we announced it
	}
	gen := r.gen.Add(1)
	lk := r.newSession(gen)
	r.mu.Lock()
	old := r.lk
	r.lk = lk
	r.mu.Unlock()
	go func() {
		old.DisconnectWithReason(lkproto.DisconnectReason_CLIENT_INITIATED)
		token, err := r.joinToken()
		if err == nil {
			err = lk.JoinWithToken(r.wsURL, token, lksdk.WithAutoSubscribe(true))
		}
		r.ops.push(func() { r.rejoined(gen, lk, err) })
		if err == nil && r.isStopped() {
			lk.Disconnect()
		}
	}()
}

func (r *Room) rejoined(gen uint64, lk *lksdk.Room, err error) {
	if gen != r.gen.Load() {
		return
	}
	r.rejoining = false
	if err != nil {
		r.rejoinFailures++
		err = r.joinError(err)
		r.log.Warn("rejoining the livekit room failed", "attempt", r.rejoinFailures, "error", err)
		if r.rejoinFailures >= 5 || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrRoomNotFound) {
			r.finish(fmt.Errorf("%w: rejoining: %w", ErrConnectionLost, err))
			return
		}
		time.AfterFunc(time.Duration(r.rejoinFailures)*time.Second, func() {
			r.ops.push(func() {
				if gen == r.gen.Load() {
					r.rejoin("retrying")
				}
			})
		})
		return
	}
	r.rejoinFailures = 0
	r.localSID = lk.LocalParticipant.SID()
	r.log.Info("rejoined the livekit room", "after", time.Since(r.reconnectingSince).Round(time.Millisecond))
	r.reconnectingSince = time.Time{}
	r.emit(room.Event{Type: room.Reconnected})
	r.sync()
}

// joinToken is the token for a (re)join: a fresh one when we mint them, so
// that a rejoin hours later does not present an expired one.
func (r *Room) joinToken() (string, error) {
	if r.opts.Token != "" {
		return r.opts.Token, nil
	}
	t, err := recorderToken(r.opts.APIKey, r.opts.APISecret, r.roomName, r.identity)
	if err == nil {
		r.red.add(t)
	}
	return t, err
}

func (r *Room) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// joinError maps the SDK's join errors onto ours, scrubbed.
func (r *Room) joinError(err error) error { return joinError(err, r.red, r.roomName, r.wsURL) }

func joinError(err error, red *redactor, roomName, wsURL string) error {
	msg := red.string(err.Error())
	var kind error
	switch {
	case errors.Is(err, ErrJoinTimeout), errors.Is(err, lksdk.ErrConnectionTimeout):
		kind = ErrJoinTimeout
	case errors.Is(err, context.Canceled):
		kind = context.Canceled
	case strings.HasPrefix(msg, "unauthorized"):
		kind = ErrUnauthorized
	case msg == "not found":
		kind = ErrRoomNotFound
	case errors.Is(err, signalling.ErrCannotDialSignal), errors.Is(err, lksdk.ErrCannotConnectSignal):
		kind = ErrUnreachable
	}
	switch kind {
	case nil:
		return fmt.Errorf("livekit: joining room %q at %s: %s", roomName, wsURL, msg)
	case ErrRoomNotFound:
		return fmt.Errorf("%w: room %q at %s (the server does not create rooms on join)", kind, roomName, wsURL)
	case ErrUnauthorized:
		return fmt.Errorf("%w: joining room %q at %s: %s", kind, roomName, wsURL, msg)
	default:
		return fmt.Errorf("%w: room %q at %s", kind, roomName, wsURL)
	}
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
	return nil
}

// callbacks turns every SDK callback into an op for the loop. The SDK calls
// some callbacks on its own goroutines and some inline, so the loop is what
// gives events their order; callbacks never block. Ops of an old session
// (before a rejoin) are dropped.
func (r *Room) callbacks(gen uint64) *lksdk.RoomCallback {
	push := func(op func()) {
		r.ops.push(func() {
			if gen == r.gen.Load() {
				op()
			}
		})
	}
	return &lksdk.RoomCallback{
		OnParticipantConnected: func(rp *lksdk.RemoteParticipant) {
			push(func() { r.ensurePeer(rp) })
		},
		OnParticipantDisconnected: func(rp *lksdk.RemoteParticipant) {
			identity, sid := rp.Identity(), rp.SID()
			push(func() { r.peerLeft(identity, sid) })
		},
		OnActiveSpeakersChanged: func(ps []lksdk.Participant) {
			push(func() { r.speakers(ps) })
		},
		OnReconnecting: func() {
			push(func() {
				if r.reconnectingSince.IsZero() {
					r.reconnectingSince = time.Now()
					r.log.Warn("connection to livekit lost, reconnecting")
					r.emit(room.Event{Type: room.Reconnecting})
				}
			})
		},
		OnReconnected: func() {
			push(func() {
				if sid := r.lk.LocalParticipant.SID(); sid != r.localSID {
					// The SDK rejoined as a new session rather than resume
					// the old one (the server lost it): its view of the
					// room is stale, so start clean.
					r.rejoin("the server did not resume the session")
					return
				}
				r.log.Info("reconnected to livekit", "after", time.Since(r.reconnectingSince).Round(time.Millisecond))
				r.reconnectingSince = time.Time{}
				r.emit(room.Event{Type: room.Reconnected})
			})
		},
		OnDisconnectedWithReason: func(reason lksdk.DisconnectionReason) {
			push(func() { r.disconnected(reason) })
		},
		ParticipantCallback: lksdk.ParticipantCallback{
			OnTrackSubscribed: func(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
				// Built here, not in the loop, so that the RTCP hook and the
				// keyframe request go in as early as possible.
				t := newTrack(tr, pub, rp, r.log)
				if t.info.Kind == room.KindVideo {
					_ = t.RequestKeyframe()
				}
				r.ops.push(func() {
					if gen != r.gen.Load() {
						t.end()
						return
					}
					r.addTrack(t)
				})
			},
			OnTrackUnsubscribed: func(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
				sid := pub.SID()
				push(func() { r.removeTrack(sid, tr) })
			},
			OnTrackSubscriptionFailed: func(sid string, rp *lksdk.RemoteParticipant) {
				identity := rp.Identity()
				push(func() {
					// The SDK gave up on a track whose publication it never
					// learned of: its view of the peer is stale (see
					// sdkDeferredTrackMsg) and the track is lost to it.
					r.log.Warn("subscribing to a track failed", "peer", identity, "track", sid)
					if time.Since(r.lastRejoin) > minRejoinGap {
						r.rejoin("a track could not be subscribed")
					}
				})
			},
			OnTrackMuted: func(pub lksdk.TrackPublication, p lksdk.Participant) {
				sid := pub.SID()
				push(func() { r.muted(sid, true) })
			},
			OnTrackUnmuted: func(pub lksdk.TrackPublication, p lksdk.Participant) {
				sid := pub.SID()
				push(func() { r.muted(sid, false) })
			},
			OnMetadataChanged: func(_ string, p lksdk.Participant) {
				identity := p.Identity()
				push(func() { r.refreshPeer(identity) })
			},
			OnAttributesChanged: func(_ map[string]string, p lksdk.Participant) {
				identity := p.Identity()
				push(func() { r.refreshPeer(identity) })
			},
			OnConnectionQualityChanged: func(q *lkproto.ConnectionQualityInfo, p lksdk.Participant) {
				identity, quality := p.Identity(), q.GetQuality()
				push(func() { r.quality(identity, quality) })
			},
		},
	}
}

// run is the loop: it applies ops in order and emits events, and once a
// second looks for what the SDK has no callback for (name changes) and for a
// reconnect that takes too long.
func (r *Room) run() {
	defer close(r.loopDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.ops.ready:
			for _, op := range r.ops.take() {
				op()
				if r.isFinished() {
					return
				}
			}
		case <-tick.C:
			r.poll()
			if r.isFinished() {
				return
			}
		case <-r.stop:
			r.finish(nil)
			return
		}
	}
}

func (r *Room) isFinished() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished
}

// emit sends ev unless the room has finished or Close is under way. Only the
// loop emits, and only the loop finishes a started room, so the check cannot
// race with the close of Events.
func (r *Room) emit(ev room.Event) {
	if r.isFinished() {
		return
	}
	select {
	case r.events <- ev:
	case <-r.stop:
		r.finish(nil)
	}
}

// finish ends every track, records why the room ended (the first reason
// wins) and closes Events.
func (r *Room) finish(err error) {
	r.mu.Lock()
	if r.finished {
		r.mu.Unlock()
		return
	}
	r.finished = true
	if r.err == nil {
		r.err = err
	}
	tracks := r.tracks
	r.tracks = map[string]*track{}
	r.mu.Unlock()
	r.ops.close()
	for _, t := range tracks {
		t.end()
	}
	close(r.events)
}

func (r *Room) disconnected(reason lksdk.DisconnectionReason) {
	raw := lkproto.DisconnectReason(r.leaveReason.Load())
	if reason == lksdk.OtherReason {
		switch raw {
		case lkproto.DisconnectReason_ROOM_DELETED, lkproto.DisconnectReason_ROOM_CLOSED:
			reason = lksdk.RoomClosed
		case lkproto.DisconnectReason_UNKNOWN_REASON:
		default:
			reason = lksdk.DisconnectionReason(strings.ToLower(raw.String()))
		}
	}
	var err error
	switch reason {
	case lksdk.LeaveRequested:
		err = nil
	case lksdk.RoomClosed:
		err = ErrRoomClosed
	case lksdk.ParticipantRemoved:
		err = ErrRemoved
	case lksdk.DuplicateIdentity:
		err = ErrDuplicateIdentity
	case lksdk.Failed:
		err = ErrConnectionLost
	default:
		err = fmt.Errorf("%w (%s)", ErrDisconnected, reason)
	}
	if err != nil {
		err = fmt.Errorf("%w: room %q", err, r.roomName)
	}
	r.log.Info("livekit room ended", "reason", string(reason), "server_reason", raw.String())
	r.finish(err)
}

func (r *Room) poll() {
	if r.opts.ReconnectTimeout > 0 && !r.reconnectingSince.IsZero() && time.Since(r.reconnectingSince) > r.opts.ReconnectTimeout {
		r.log.Warn("giving up reconnecting to livekit", "after", r.opts.ReconnectTimeout)
		go r.lk.DisconnectWithReason(lkproto.DisconnectReason_CLIENT_INITIATED)
		r.finish(fmt.Errorf("%w: room %q: no connection for %s", ErrConnectionLost, r.roomName, r.opts.ReconnectTimeout))
		return
	}
	for identity := range r.peers {
		r.refreshPeer(identity)
	}
}

// current reports whether rp is still the SDK's participant for its
// identity: ops run after the fact, and a stale one must not bring back a
// peer that has left.
func (r *Room) current(rp *lksdk.RemoteParticipant) bool {
	return r.lk.GetParticipantByIdentity(rp.Identity()) == rp
}

func peerOf(p lksdk.Participant) room.Peer {
	attrs := p.Attributes()
	role := attrs["role"]
	if role == "" {
		switch p.Kind() {
		case lksdk.ParticipantIngress:
			role = "ingress"
		case lksdk.ParticipantEgress:
			role = "egress"
		case lksdk.ParticipantSIP:
			role = "sip"
		case lksdk.ParticipantAgent:
			role = "agent"
		}
	}
	return room.Peer{ID: p.Identity(), Name: p.Name(), Role: role, Metadata: p.Metadata()}
}

// ensurePeer announces rp if it is new, and notes a changed SID (the same
// identity reconnected) without announcing it again.
func (r *Room) ensurePeer(rp *lksdk.RemoteParticipant) *peerState {
	identity := rp.Identity()
	ps := r.peers[identity]
	if ps != nil {
		ps.sid = rp.SID()
		r.refreshPeer(identity)
		return ps
	}
	if !r.current(rp) {
		return nil
	}
	ps = &peerState{sid: rp.SID(), peer: peerOf(rp)}
	r.peers[identity] = ps
	r.log.Info("peer joined", "peer", identity, "name", ps.peer.Name)
	r.emit(room.Event{Type: room.PeerJoined, Peer: ps.peer})
	return ps
}

func (r *Room) refreshPeer(identity string) {
	ps := r.peers[identity]
	if ps == nil {
		return
	}
	rp := r.lk.GetParticipantByIdentity(identity)
	if rp == nil {
		return
	}
	if p := peerOf(rp); p != ps.peer {
		ps.peer = p
		r.emit(room.Event{Type: room.PeerUpdated, Peer: p})
	}
}

func (r *Room) peerLeft(identity, sid string) {
	ps := r.peers[identity]
	if ps == nil || (sid != "" && ps.sid != sid) {
		// Already gone, or the identity has rejoined since: stale.
		return
	}
	for _, t := range r.tracksOf(identity) {
		r.dropTrack(t)
	}
	delete(r.peers, identity)
	r.log.Info("peer left", "peer", identity)
	r.emit(room.Event{Type: room.PeerLeft, Peer: ps.peer})
}

func (r *Room) allTracks() []*track {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*track, 0, len(r.tracks))
	for _, t := range r.tracks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *track) int { return strings.Compare(a.info.ID, b.info.ID) })
	return out
}

func (r *Room) tracksOf(identity string) []*track {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*track
	for _, t := range r.tracks {
		if t.info.PeerID == identity {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *track) int { return strings.Compare(a.info.ID, b.info.ID) })
	return out
}

func (r *Room) addTrack(t *track) {
	if !r.current(t.rp) || !hasPublication(t.rp, t.info.ID) {
		t.end()
		return
	}
	ps := r.ensurePeer(t.rp)
	if ps == nil {
		t.end()
		return
	}
	r.mu.Lock()
	old := r.tracks[t.info.ID]
	r.mu.Unlock()
	if old != nil {
		// Resubscribed under the same SID: the old one is over.
		r.dropTrack(old)
	}
	// Mute state may have changed between the callback and now.
	t.info.Muted = t.pub.IsMuted()
	r.mu.Lock()
	r.tracks[t.info.ID] = t
	r.mu.Unlock()
	r.log.Info("track added", "peer", t.info.PeerID, "track", t.info.ID, "kind", t.info.Kind,
		"source", t.info.Source, "codec", t.info.Codec.MimeType, "muted", t.info.Muted)
	r.emit(room.Event{Type: room.TrackAdded, Peer: ps.peer, Track: t, TrackID: t.info.ID})
}

func hasPublication(rp *lksdk.RemoteParticipant, sid string) bool {
	for _, p := range rp.TrackPublications() {
		if p.SID() == sid {
			return true
		}
	}
	return false
}

func (r *Room) removeTrack(sid string, tr *webrtc.TrackRemote) {
	r.mu.Lock()
	t := r.tracks[sid]
	r.mu.Unlock()
	if t == nil || t.remote != tr {
		return
	}
	r.dropTrack(t)
}

// dropTrack ends t and announces its removal.
func (r *Room) dropTrack(t *track) {
	r.mu.Lock()
	delete(r.tracks, t.info.ID)
	r.mu.Unlock()
	t.end()
	var peer room.Peer
	if ps := r.peers[t.info.PeerID]; ps != nil {
		peer = ps.peer
	} else {
		peer.ID = t.info.PeerID
	}
	r.log.Info("track removed", "peer", t.info.PeerID, "track", t.info.ID)
	r.emit(room.Event{Type: room.TrackRemoved, Peer: peer, TrackID: t.info.ID})
}

func (r *Room) muted(sid string, muted bool) {
	r.mu.Lock()
	t := r.tracks[sid]
	r.mu.Unlock()
	if t == nil {
		// Not subscribed yet: TrackAdded will carry the state.
		return
	}
	typ := room.TrackUnmuted
	if muted {
		typ = room.TrackMuted
	}
	r.emit(room.Event{Type: typ, Peer: r.peers[t.info.PeerID].peer, TrackID: sid})
}

// quality maps a peer's connection quality onto its tracks: poor or lost is
// "degraded (bad network)" in the contract's terms.
func (r *Room) quality(identity string, q lkproto.ConnectionQuality) {
	ps := r.peers[identity]
	if ps == nil {
		return
	}
	degraded := q == lkproto.ConnectionQuality_POOR || q == lkproto.ConnectionQuality_LOST
	if degraded == ps.degraded {
		return
	}
	ps.degraded = degraded
	typ := room.TrackRestored
	if degraded {
		typ = room.TrackDegraded
	}
	for _, t := range r.tracksOf(identity) {
		r.emit(room.Event{Type: typ, Peer: ps.peer, TrackID: t.info.ID})
	}
}

func (r *Room) speakers(ps []lksdk.Participant) {
	out := make([]room.Speaker, 0, len(ps))
	for _, p := range ps {
		rp, ok := p.(*lksdk.RemoteParticipant)
		if !ok || r.peers[rp.Identity()] == nil {
			continue // the bot itself, or a peer not announced (yet or any more)
		}
		level := int(math.Round(float64(p.AudioLevel()) * 100))
		out = append(out, room.Speaker{PeerID: rp.Identity(), TrackID: r.speakingTrack(rp.Identity()), Level: min(max(level, 1), 100)})
	}
	r.emit(room.Event{Type: room.ActiveSpeakers, Speakers: out})
}

// speakingTrack picks the peer's microphone, else any audio track of theirs.
func (r *Room) speakingTrack(identity string) string {
	id := ""
	for _, t := range r.tracksOf(identity) {
		if t.info.Kind != room.KindAudio {
			continue
		}
		if t.info.Source == room.SourceRegular {
			return t.info.ID
		}
		if id == "" {
			id = t.info.ID
		}
	}
	return id
}

// The SDK (v2.11) drops a participant update whose version is lower than the
// one it holds for that identity, even when the session ID changed. When a
// participant rejoins under the same identity before its old session timed
// out (a client's full reconnect, a crashed tab reopened), the server
// replaces the session and sends the new one with a fresh, lower version: the
// SDK ignores it and parks the new tracks, saying so only in its log
// (server-sdk-go issue 914, fixed upstream by PR 915). We watch for that line
// and, with API credentials, fetch the participant from the server's API and
// hand the SDK the update it dropped, after retiring the old session.
const sdkDeferredTrackMsg = "could not find participant, deferring track update"

// repairDelay lets the ordinary participant update, which usually follows
// the tracks closely, arrive first.
const repairDelay = 750 * time.Millisecond

// sdkLeaveMsg is logged with the server's own reason just before the SDK
// reports a disconnect, in which it folds several reasons (a deleted room
// among them) into "other reasons".
const sdkLeaveMsg = "server initiated leave"

func (r *Room) onSDKLog(gen uint64, msg string, kv []any) {
	if gen != r.gen.Load() {
		return // an old session's last words
	}
	if msg == sdkLeaveMsg {
		for i := 0; i+1 < len(kv); i += 2 {
			if reason, ok := kv[i+1].(lkproto.DisconnectReason); ok && kv[i] == "reason" {
				r.leaveReason.Store(int32(reason))
			}
		}
		return
	}
	if msg != sdkDeferredTrackMsg {
		return
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if k, _ := kv[i].(string); k == "pID" {
			if sid, _ := kv[i+1].(string); sid != "" {
				time.AfterFunc(repairDelay, func() {
					r.ops.push(func() {
						if gen == r.gen.Load() {
							r.repair(sid)
						}
					})
				})
			}
			return
		}
	}
}

func (r *Room) repair(sid string) {
	if r.lk.GetParticipantBySID(sid) != nil || r.repairing[sid] {
		return // the SDK caught up by itself, or a lookup is under way
	}
	if r.opts.APIKey == "" || r.opts.APISecret == "" {
		// No API access to look the participant up: start clean instead.
		if time.Since(r.lastRejoin) > minRejoinGap {
			r.rejoin("a participant's new session is unknown to the SDK")
		}
		return
	}
	r.repairing[sid] = true
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api := lksdk.NewRoomServiceClient(r.wsURL, r.opts.APIKey, r.opts.APISecret)
		res, err := api.ListParticipants(ctx, &lkproto.ListParticipantsRequest{Room: r.roomName})
		r.ops.push(func() {
			delete(r.repairing, sid)
			if err != nil {
				r.log.Warn("looking up a rejoined participant failed", "sid", sid, "error", r.red.string(err.Error()))
				return
			}
			for _, pi := range res.GetParticipants() {
				if pi.GetSid() == sid {
					r.applyRejoin(pi)
					return
				}
			}
		})
	}()
}

// applyRejoin retires the identity's old session in the SDK and gives it the
// new one; the SDK's callbacks then remove the old tracks and add the new.
func (r *Room) applyRejoin(pi *lkproto.ParticipantInfo) {
	if cur := r.lk.GetParticipantByIdentity(pi.GetIdentity()); cur != nil && cur.SID() == pi.GetSid() {
		return // the SDK has it right
	}
	if ps := r.peers[pi.GetIdentity()]; ps != nil {
		// The same peer: the old session's departure is not a PeerLeft.
		ps.sid = pi.GetSid()
	}
	if old := r.lk.GetParticipantByIdentity(pi.GetIdentity()); old != nil {
		r.log.Info("peer rejoined under a new session", "peer", pi.GetIdentity(), "old", old.SID(), "new", pi.GetSid())
		r.lk.OnParticipantUpdate([]*lkproto.ParticipantInfo{{
			Sid: old.SID(), Identity: pi.GetIdentity(), State: lkproto.ParticipantInfo_DISCONNECTED,
		}})
	}
	r.lk.OnParticipantUpdate([]*lkproto.ParticipantInfo{pi})
}

// opQueue is an unbounded FIFO of ops: SDK callbacks must never wait for the
// consumer of Events.
type opQueue struct {
	mu     sync.Mutex
	ops    []func()
	closed bool
	ready  chan struct{}
}

func (q *opQueue) push(op func()) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.ops = append(q.ops, op)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *opQueue) take() []func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	ops := q.ops
	q.ops = nil
	return ops
}

func (q *opQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.ops = nil
	q.mu.Unlock()
}
