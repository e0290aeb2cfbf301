package muxer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// outlet is one sink with its queue and goroutine.
type outlet struct {
	f        *Fanout
	name     string
	sink     output.Sink
	log      *slog.Logger
	maxDelay time.Duration
	// stallAfter and stallTimer watch the Write in progress: the timer is
	// armed for each Write and fires onStall if it has not returned.
	stallAfter time.Duration
	stallTimer *time.Timer
	ctx        context.Context
	cancel     context.CancelFunc
	wake       chan struct{} // cap 1: the queue gained packets or drain began
	done       chan struct{} // closed when the sink is closed and the goroutine ends

	mu       sync.Mutex
	q        []*output.Packet // ring buffer
	head, n  int
	started  bool          // a video keyframe has been queued
	dropping bool          // dropping until the next video keyframe (audio only: for audioDropSpan)
	dropFrom time.Duration // audio only: the time of the first packet dropped
	draining bool          // no more packets will come: stop when the queue is empty
	stopped  bool          // no more packets are wanted
	opened   bool
	reported bool
	report   output.SinkState
	err      error // what ended the outlet
	bytes    int64
	dropped  int64
	errors   int64
	finished bool
	// writing is set while a Write runs, since writeStart; stalled once it
	// has run for stallAfter, until it returns.
	writing    bool
	writeStart time.Time
	stalled    bool
	stalls     int64

	notifyMu sync.Mutex
	last     OutputState
	notified bool
}

func (o *outlet) run() {
	defer close(o.done)
	defer o.cancel()
	r := output.ReporterFunc(o.onReport)
	if err := o.sink.Open(o.ctx, o.f.info, r); err != nil {
		o.fail(fmt.Errorf("opening: %w", err))
	} else {
		o.mu.Lock()
		o.opened = true
		o.mu.Unlock()
		o.log.Info("output opened")
		o.notify()
		o.loop()
	}
	if err := o.sink.Close(); err != nil {
		o.log.Warn("closing output failed", "err", err)
		o.mu.Lock()
		if o.err == nil {
			o.err = fmt.Errorf("closing: %w", err)
			o.errors++
		}
		o.mu.Unlock()
	}
	o.mu.Lock()
	o.finished = true
	o.stopped = true
	o.clearQueue()
	o.mu.Unlock()
	o.log.Info("output done")
	o.notify()
}

func (o *outlet) loop() {
	defer o.stallTimer.Stop()
	for {
		p, ok := o.next()
		if !ok {
			return
		}
		o.mu.Lock()
		o.writing, o.writeStart = true, time.Now()
		o.mu.Unlock()
		o.stallTimer.Reset(o.stallAfter)
		err := o.sink.Write(o.ctx, p)
		o.stallTimer.Stop()
		o.mu.Lock()
		o.writing = false
		wasStalled := o.stalled
		// An output stopped in a stalled Write ends stalled: its last
		// word stays why it was down.
		o.stalled = wasStalled && o.ctx.Err() != nil
		took := time.Since(o.writeStart)
		o.mu.Unlock()
		if wasStalled && !o.stalled {
			o.log.Info("output no longer stalled", "write_took", took.Round(time.Millisecond).String())
			o.notify()
		}
		if err != nil {
			if o.ctx.Err() != nil {
				// Stopped on purpose (Remove, Close's deadline, the job's
				// context): not a failure of the sink.
				o.log.Debug("write interrupted by stop", "err", err)
				return
			}
			o.fail(fmt.Errorf("writing: %w", err))
			return
		}
		o.mu.Lock()
		o.bytes += int64(len(p.Data))
		o.mu.Unlock()
	}
}

func (o *outlet) fail(err error) {
	err = fmt.Errorf("muxer: output %q: %w", o.name, err)
	o.log.Warn("output failed", "err", err)
	o.mu.Lock()
	o.err = err
	o.errors++
	o.stopped = true
	o.clearQueue()
	o.mu.Unlock()
	o.notify()
}

// onStall runs on the stall timer: the Write in progress has not returned
// for stallAfter. The output is reported stalled until it does; while the
// fan-out closes, it is stopped instead of waited for.
func (o *outlet) onStall() {
	o.mu.Lock()
	if !o.writing || o.stalled || o.finished || time.Since(o.writeStart) < o.stallAfter {
		// A Write that returned meanwhile, or a firing armed for an
		// earlier Write.
		o.mu.Unlock()
		return
	}
	o.stalled = true
	o.stalls++
	if !o.reported || o.report.Err == nil {
		o.errors++
	}
	draining := o.draining
	o.mu.Unlock()
	o.log.Warn("output stalled: a write has not returned", "for", o.stallAfter.String())
	o.notify()
	if draining {
		o.log.Warn("stopping a stalled output instead of draining its queue")
		o.stop()
	}
}

func (o *outlet) onReport(s output.SinkState) {
	o.mu.Lock()
	if o.finished {
		o.mu.Unlock()
		return
	}
	if s.Err != nil && (!o.reported || o.report.Err == nil) {
		o.errors++
	}
	o.reported = true
	o.report = s
	o.mu.Unlock()
	o.notify()
}

// drain lets the output finish its queue and stop.
func (o *outlet) drain() {
	o.mu.Lock()
	o.draining = true
	stalled := o.stalled
	o.mu.Unlock()
	if stalled {
		o.log.Warn("stopping a stalled output instead of draining its queue")
		o.stop()
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// stop ends the output now, discarding its queue.
func (o *outlet) stop() {
	o.mu.Lock()
	o.stopped = true
	o.clearQueue()
	o.mu.Unlock()
	o.cancel()
}

func (o *outlet) stateLocked() OutputState {
	s := OutputState{
		Running: o.opened && !o.finished && o.err == nil && !o.stalled && (!o.reported || o.report.Running),
		Err:     o.err,
		Failed:  o.err != nil,
		Retries: o.report.Retries,
		Bytes:   o.bytes,
		Dropped: o.dropped,
		Errors:  o.errors,
		Queued:  o.n,
		Done:    o.finished,
		Stalled: o.stalled,
		Stalls:  o.stalls,
	}
	if bc, ok := o.sink.(output.ByteCounter); ok {
		s.Bytes = bc.BytesWritten()
	}
	if s.Err == nil {
		// The sink's own last word, also once it is done: a sink stopped
		// during an outage still says why it was down.
		s.Err = o.report.Err
	}
	if s.Err == nil && o.stalled {
		// Only when the sink says nothing of its own: one reconnecting
		// inside Write has already said why it is down.
		s.Err = &StallError{Output: o.name, After: o.stallAfter}
	}
	return s
}

// notify calls OnChange's function if Running, Err, Retries or Done changed
// since the last call for this output. notifyMu keeps the calls in order.
func (o *outlet) notify() {
	o.notifyMu.Lock()
	defer o.notifyMu.Unlock()
	o.mu.Lock()
	s := o.stateLocked()
	o.mu.Unlock()
	if o.notified && s.Running == o.last.Running && s.Retries == o.last.Retries &&
		s.Done == o.last.Done && errText(s.Err) == errText(o.last.Err) {
		return
	}
	o.notified = true
	o.last = s
	if fn := o.f.callback(); fn != nil {
		fn(o.name, s)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
