package janus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/roomcast/roomcast/room"
)

// speakerEvery is how often the speaker meter looks at the audio levels.
const speakerEvery = 500 * time.Millisecond

// run is the loop: it applies ops in order, asks listparticipants every
// PollInterval and meters speakers.
func (r *Room) run() {
	defer close(r.loopDone)
	defer r.teardown()
	poll := time.NewTicker(r.opts.PollInterval)
	defer poll.Stop()
	meter := time.NewTicker(speakerEvery)
	defer meter.Stop()
	for {
		select {
		case <-r.ops.ready:
			for _, op := range r.ops.take() {
				op()
				if r.isFinished() {
					return
				}
			}
		case <-poll.C:
			if r.sess != nil {
				r.pollParticipants()
			}
		case <-meter.C:
			r.meterSpeakers()
			r.checkSilence()
		case <-r.ctx.Done():
			r.log.Info("leaving the janus room: the context ended", "cause", context.Cause(r.ctx))
			r.finish(fmt.Errorf("janus: room %s: %w", r.roomID, r.ctx.Err()))
		case <-r.stop:
			r.finish(nil)
		}
		if r.isFinished() {
			return
		}
	}
}

// connect makes a session, attaches the handle that watches the room and
// checks the room and its PIN. It returns the room's participants.
func (r *Room) connect(ctx context.Context) ([]participant, error) {
	sess, err := newSession(ctx, r.base, r.opts.Token, r.hc, r.red, r.log)
	if err != nil {
		return nil, classify(err, r.roomID)
	}
	// The poll runs from the start: asynchronous answers come through it.
	r.gen++
	gen := r.gen
	pctx, stop := context.WithCancel(r.loopCtx)
	go func() {
		err := sess.poll(pctx, func(m message) { r.ops.push(func() { r.onMessage(gen, m) }) })
		if pctx.Err() == nil {
			r.ops.push(func() { r.lost(gen, err) })
		}
	}()
	ok := false
	defer func() {
		if !ok {
			stop()
			sess.destroy()
		}
	}()
	ctl, err := sess.attach(ctx)
	if err != nil {
		return nil, classify(err, r.roomID)
	}
	// A subscriber join that names no stream is refused for that, but only
	// after the room's PIN was checked: a wrong PIN fails here, before
	// anyone publishes, and nothing joins.
	probe := map[string]any{"request": "join", "ptype": "subscriber", "room": r.roomID.value(), "streams": []any{}}
	if r.opts.PIN != "" {
		probe["pin"] = r.opts.PIN
	}
	if _, _, err := sess.send(ctx, ctl, probe, nil); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.code == vrNoSuchRoom || ae.code == vrUnauthorized {
			return nil, classify(err, r.roomID)
		}
	} else {
		// Joined with nothing: this handle is a subscriber now. Use another
		// for the watching.
		sess.detach(ctx, ctl)
		if ctl, err = sess.attach(ctx); err != nil {
			return nil, classify(err, r.roomID)
		}
	}
	v, _, err := sess.send(ctx, ctl, map[string]any{"request": "listparticipants", "room": r.roomID.value()}, nil)
	if err != nil {
		return nil, classify(err, r.roomID)
	}
	ok = true
	r.sess, r.ctl, r.sub, r.pollStop = sess, ctl, "", stop
	return v.Participants, nil
}

// lost handles the end of session gen: Janus restarted, or the network
// failed. Tracks end, peers stay, and the loop tries to come back.
func (r *Room) lost(gen int, err error) {
	if gen != r.gen || r.isFinished() {
		return
	}
	r.log.Warn("lost the janus session; reconnecting", "error", err)
	r.lastLoss = err
	r.dropSession()
	r.reconnectingSince = time.Now()
	r.emit(room.Event{Type: room.Reconnecting})
	r.retryLater()
}

// dropSession ends every track and forgets the session and its
// subscription.
func (r *Room) dropSession() {
	for _, t := range r.allTracks() {
		r.removeTrack(t)
	}
	if r.pc != nil {
		_ = r.pc.Close()
		r.pc = nil
	}
	if r.pollStop != nil {
		r.pollStop()
	}
	if r.sess != nil {
		go r.sess.destroy()
	}
	r.sess, r.sub, r.ctl = nil, "", ""
	r.streams = map[string]subStream{}
	r.pending = map[string]pendingRTP{}
	r.requested = map[id]time.Time{}
}

func (r *Room) retryLater() {
	time.AfterFunc(time.Second, func() { r.ops.push(r.reconnect) })
}

func (r *Room) reconnect() {
	if r.sess != nil || r.isFinished() {
		return
	}
	if since := time.Since(r.reconnectingSince); since > r.opts.ReconnectTimeout {
		r.finish(fmt.Errorf("%w: room %s at %s: nothing for %s, last: %w", ErrConnectionLost, r.roomID, r.base,
			r.opts.ReconnectTimeout, r.red.error(r.lastLoss)))
		return
	}
	ctx, cancel := context.WithTimeout(r.loopCtx, requestTimeout)
	ps, err := r.connect(ctx)
	cancel()
	if err != nil {
		if errors.Is(err, ErrRoomNotFound) {
			err = fmt.Errorf("%w (a restarted Janus forgets rooms made by API)", err)
		}
		if errors.Is(err, ErrWrongPIN) || errors.Is(err, ErrUnauthorized) {
			r.finish(r.red.error(err))
			return
		}
		r.lastLoss = err
		r.retryLater()
		return
	}
	r.log.Info("reconnected to janus", "after", time.Since(r.reconnectingSince).Round(time.Millisecond))
	r.reconnectingSince = time.Time{}
	r.emit(room.Event{Type: room.Reconnected})
	r.syncPeers(ps)
	r.ensureSubscriptions()
}

func (r *Room) isFinished() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished
}

// emit sends ev unless the room has finished or Close is under way.
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

// teardown leaves the server: the peer connection and the session.
func (r *Room) teardown() {
	if r.pc != nil {
		_ = r.pc.Close()
	}
	if r.pollStop != nil {
		r.pollStop()
	}
	if r.sess != nil {
		r.sess.destroy()
	}
}

// opQueue is an unbounded FIFO of ops: the poller and pion's callbacks
// must never wait for the consumer of Events.
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
