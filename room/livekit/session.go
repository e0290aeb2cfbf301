package livekit

import (
	"context"
	"errors"
	"fmt"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/roomcast/roomcast/room"
)

// The recorder's SDK sessions. The first is joined by Start; when the
// server cannot resume a session (it restarted, say), the loop replaces it
// with a fresh one under the same identity. Each session has a generation
// number, and the callbacks of an old one are ignored.

// minRejoinGap bounds how often a lost track makes us rejoin.
const minRejoinGap = 10 * time.Second

// maxRejoinFailures is how many failed rejoins in a row end the room.
const maxRejoinFailures = 5

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
	joinCtx, cancel := context.WithTimeout(ctx, r.opts.JoinTimeout)
	defer cancel()
	joined := make(chan error, 1)
	go func() {
		// The SDK's join takes no context; it is bounded by its own 15 s
		// media timeout. If we give up first, the session is torn down as
		// soon as the join returns.
		joined <- lk.JoinWithToken(r.wsURL, r.token, r.connectOptions()...)
	}()
	var jerr error
	select {
	case jerr = <-joined:
	case <-joinCtx.Done():
		go func() {
			if <-joined == nil {
				lk.Disconnect()
			}
		}()
		jerr = ErrJoinTimeout
		if !errors.Is(joinCtx.Err(), context.DeadlineExceeded) {
			jerr = joinCtx.Err()
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
		r.ctx = ctx
		r.localSID = lk.LocalParticipant.SID()
		r.sync()
	})
	return nil
}

// newSession makes the SDK room for session gen, with its callbacks and its
// log routed through the redactor.
func (r *Room) newSession(gen uint64) *lksdk.Room {
	lk := lksdk.NewRoom(r.callbacks(gen))
	lk.SetLogger(newSDKLogger(r.log, r.red, nil))
	return lk
}

// rejoin replaces the SDK session with a fresh one: the same identity joins
// again and the server tells it the room as it is. That is the way back
// when the server could not resume our session (the SDK's own restart
// leaves its view of the room in doubt) and when a track could not be
// subscribed (only a new session gets it offered again). Peers stay; their
// tracks are removed now and added again by the new session.
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
			err = lk.JoinWithToken(r.wsURL, token, r.connectOptions()...)
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
		if r.rejoinFailures >= maxRejoinFailures || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrRoomNotFound) {
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

// joinError maps the SDK's join errors onto ours, scrubbed.
func (r *Room) joinError(err error) error { return joinError(err, r.red, r.roomName, r.wsURL) }

// connectOptions are the SDK's options for a join. Custom interceptors
// replace the SDK's defaults unless asked to include them; registered
// first, they sit nearest the network, so the SDK's NACKs and reports see
// what they did to the packets.
func (r *Room) connectOptions() []lksdk.ConnectOption {
	opts := []lksdk.ConnectOption{lksdk.WithAutoSubscribe(true)}
	if r.opts.Interceptors != nil {
		opts = append(opts, lksdk.WithInterceptors(r.opts.Interceptors), lksdk.WithIncludeDefaultInterceptors(true))
	}
	return opts
}
