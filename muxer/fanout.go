package muxer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// removeTimeout bounds how long Remove waits for a sink to stop after its
// context is cancelled.
const removeTimeout = 5 * time.Second

// closeGrace bounds how long Close waits for sinks to stop once its context
// is done and their contexts are cancelled.
const closeGrace = 5 * time.Second

// OutputState is an output's state as the job reports it.
type OutputState struct {
	Running bool  // opened, and the sink's last report says running
	Err     error // the failure that ended it, else the sink's last reported error
	Failed  bool  // the sink gave up for good (Open or Write failed)
	Retries int   // as reported by the sink
	Bytes   int64 // bytes the sink delivered (output.ByteCounter), else packet data it accepted
	Dropped int64 // packets dropped because the sink fell behind
	// Errors counts the errors the output hit: each report that brought
	// an error after a healthy one, and the failure that ended it.
	Errors int64
	Queued int  // packets waiting in the output's queue
	Done   bool // the sink has stopped and been closed
	// Stalled is set while a Write has not returned for
	// QueueOptions.StallAfter; Running is false meanwhile, and Err a
	// *StallError unless the sink reported an error of its own. Stalls
	// counts the times it happened.
	Stalled bool
	Stalls  int64
}

// StallError is an output's error while it is stalled.
type StallError struct {
	Output string
	After  time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("muxer: output %q stalled: its destination has accepted nothing for %v", e.Output, e.After)
}

// Fanout hands every encoded packet to each sink through that sink's own
// bounded queue and goroutine, so a slow or stuck sink costs only its own
// packets. Each sink starts at a video keyframe; a sink that falls behind
// loses whole GOPs (and the audio alongside) and resumes at a keyframe.
// Without video, a sink starts at the first packet and loses a GOP's length
// of audio at a time.
type Fanout struct {
	info     output.StreamInfo
	hasVideo bool // else every packet is audio, and each one a start
	log      *slog.Logger

	mu      sync.RWMutex
	outputs map[string]*outlet
	closed  bool

	cbMu     sync.RWMutex
	onChange func(string, OutputState)
}

var _ PacketWriter = (*Fanout)(nil)

// NewFanout returns a fanout for streams described by info. log may be nil.
func NewFanout(info output.StreamInfo, log *slog.Logger) *Fanout {
	return &Fanout{info: info, hasVideo: info.HasVideo(), log: loggerOrDiscard(log), outputs: make(map[string]*outlet)}
}

// OnChange sets a function called when an output's Running, Err, Retries or
// Done changes (not for bytes or drops: poll States for those). It is called
// from the output's goroutine or from whichever goroutine the sink reports on,
// one call at a time per output and in order; it must return quickly and may
// call States, but not Add, Remove or Close (hand those to another goroutine).
func (f *Fanout) OnChange(fn func(name string, s OutputState)) {
	f.cbMu.Lock()
	f.onChange = fn
	f.cbMu.Unlock()
}

// Add starts an output: on its own goroutine it opens s and then writes it
// the packets from the next video keyframe on. ctx bounds the sink's whole
// life; cancelling it stops the sink as Remove does.
func (f *Fanout) Add(ctx context.Context, name string, s output.Sink, opts QueueOptions) error {
	if s == nil {
		return fmt.Errorf("muxer: output %q: nil sink", name)
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxPackets <= 0 {
		opts.MaxPackets = DefaultMaxPackets
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = DefaultStallAfter
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("muxer: output %q: fanout is closed", name)
	}
	if _, ok := f.outputs[name]; ok {
		return fmt.Errorf("muxer: output %q already exists", name)
	}
	o := &outlet{
		f: f, name: name, sink: s,
		maxDelay:   opts.MaxDelay,
		stallAfter: opts.StallAfter,
		q:          make([]*output.Packet, opts.MaxPackets),
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		log:        f.log.With("output", name),
	}
	o.ctx, o.cancel = context.WithCancel(ctx)
	o.stallTimer = time.AfterFunc(time.Hour, o.onStall)
	o.stallTimer.Stop()
	f.outputs[name] = o
	go o.run()
	return nil
}

// Remove stops an output at once (its queue is discarded), closes its sink
// and waits, up to a bound, for that to finish. The name can then be added
// again.
func (f *Fanout) Remove(name string) error {
	f.mu.Lock()
	o, ok := f.outputs[name]
	if ok {
		delete(f.outputs, name)
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("muxer: no output %q", name)
	}
	o.stop()
	select {
	case <-o.done:
		return nil
	case <-time.After(removeTimeout):
		return fmt.Errorf("muxer: output %q did not stop within %s", name, removeTimeout)
	}
}

// WritePacket queues p for every output. It never blocks on a sink. p must
// not be modified afterwards.
func (f *Fanout) WritePacket(p *output.Packet) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return
	}
	for _, o := range f.outputs {
		o.push(p)
	}
}

// States returns every output's state.
func (f *Fanout) States() map[string]OutputState {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m := make(map[string]OutputState, len(f.outputs))
	for name, o := range f.outputs {
		o.mu.Lock()
		m[name] = o.stateLocked()
		o.mu.Unlock()
	}
	return m
}

// Close stops accepting packets, lets every output write what it has queued
// until ctx is done, then cancels the stragglers; it closes every sink and
// waits for them. An output that is stalled (a Write that has not returned
// for QueueOptions.StallAfter), or stalls while it drains, is stopped at
// once: what is left of its queue could not reach its destination in time,
// and the job's end must not wait on a socket that never drains. It
// returns an error naming outputs whose queue was cut short or that did
// not stop.
func (f *Fanout) Close(ctx context.Context) error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	outs := make([]*outlet, 0, len(f.outputs))
	for _, o := range f.outputs {
		outs = append(outs, o)
	}
	f.mu.Unlock()

	for _, o := range outs {
		o.drain()
	}
	var errs []error
	for _, o := range outs {
		select {
		case <-o.done:
			continue
		case <-ctx.Done():
		}
		errs = append(errs, fmt.Errorf("output %q: draining cut short: %w", o.name, ctx.Err()))
		o.stop()
		select {
		case <-o.done:
		case <-time.After(closeGrace):
			errs = append(errs, fmt.Errorf("output %q did not stop", o.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("muxer: closing fanout: %w", err)
	}
	return nil
}

func (f *Fanout) callback() func(string, OutputState) {
	f.cbMu.RLock()
	defer f.cbMu.RUnlock()
	return f.onChange
}
