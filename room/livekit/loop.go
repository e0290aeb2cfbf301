package livekit

import (
	"context"
	"fmt"
	"sync"
	"time"

	lkproto "github.com/livekit/protocol/livekit"

	"github.com/roomcast/roomcast/room"
)

// run is the loop: it applies ops in order and emits events, and once a
// second looks for what the SDK has no callback for (name changes) and for a
// reconnect that takes too long. Once joined, it ends the room when
// Start's context ends (during the join, start itself watches it).
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
		case <-r.ctxDone():
			r.log.Info("leaving the livekit room: the context ended", "cause", context.Cause(r.ctx))
			r.end(contextError(r.ctx, r.roomName))
			return
		case <-r.stop:
			r.finish(nil)
			return
		}
	}
}

// ctxDone is Start's context's Done once joined, before that nil: a
// channel the loop's select never takes.
func (r *Room) ctxDone() <-chan struct{} {
	if r.ctx == nil {
		return nil
	}
	return r.ctx.Done()
}

func (r *Room) poll() {
	if r.opts.ReconnectTimeout > 0 && !r.reconnectingSince.IsZero() && time.Since(r.reconnectingSince) > r.opts.ReconnectTimeout {
		r.log.Warn("giving up reconnecting to livekit", "after", r.opts.ReconnectTimeout)
		r.end(fmt.Errorf("%w: room %q: no connection for %s", ErrConnectionLost, r.roomName, r.opts.ReconnectTimeout))
		return
	}
	r.pollNames()
	r.logLayers()
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

// end is the loop's own Close: it finishes the room with err and leaves the
// SDK session. Marking the room stopped makes a rejoin still under way leave
// the session it is joining.
func (r *Room) end(err error) {
	r.finish(err)
	r.mu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.stop)
	}
	lk := r.lk
	r.mu.Unlock()
	lk.DisconnectWithReason(lkproto.DisconnectReason_CLIENT_INITIATED)
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
