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

// Queue defaults.
const (
	DefaultMaxDelay   = 4 * time.Second
	DefaultMaxPackets = 1024 // 4 s at 30 fps is ~310 packets; a guard against odd timestamps
)

// removeTimeout bounds how long Remove waits for a sink to stop after its
// context is cancelled.
const removeTimeout = 5 * time.Second

// closeGrace bounds how long Close waits for sinks to stop once its context
// is done and their contexts are cancelled.
const closeGrace = 5 * time.Second

// QueueOptions bounds a sink's queue. A sink that falls further behind than
// either bound loses whole GOPs.
type QueueOptions struct {
	MaxDelay   time.Duration // media time between the oldest queued packet and a new one; 0 means DefaultMaxDelay
	MaxPackets int           // 0 means DefaultMaxPackets
}

// OutputState is an output's state as the job reports it.
type OutputState struct {
	Running bool  // opened, and the sink's last report says running
	Err     error // the failure that ended it, else the sink's last reported error
	Failed  bool  // the sink gave up for good (Open or Write failed)
	Retries int   // as reported by the sink
	Bytes   int64 // bytes the sink delivered (output.ByteCounter), else packet data it accepted
	Dropped int64 // packets dropped because the sink fell behind
	Done    bool  // the sink has stopped and been closed
}

// Fanout hands every encoded packet to each sink through that sink's own
// bounded queue and goroutine, so a slow or stuck sink costs only its own
// packets. Each sink starts at a video keyframe; a sink that falls behind
// loses whole GOPs (and the audio alongside) and resumes at a keyframe.
type Fanout struct {
	info output.StreamInfo
	log  *slog.Logger

	mu      sync.RWMutex
	outputs map[string]*outlet
	closed  bool

	cbMu     sync.RWMutex
	onChange func(string, OutputState)
}

var _ PacketWriter = (*Fanout)(nil)

// NewFanout returns a fanout for streams described by info. log may be nil.
func NewFanout(info output.StreamInfo, log *slog.Logger) *Fanout {
	return &Fanout{info: info, log: loggerOrDiscard(log), outputs: make(map[string]*outlet)}
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
		maxDelay: opts.MaxDelay,
		q:        make([]*output.Packet, opts.MaxPackets),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		log:      f.log.With("output", name),
	}
	o.ctx, o.cancel = context.WithCancel(ctx)
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
// waits for them. It returns an error naming outputs whose queue was cut
// short or that did not stop.
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

// output is one sink with its queue and goroutine.
type outlet struct {
	f        *Fanout
	name     string
	sink     output.Sink
	log      *slog.Logger
	maxDelay time.Duration
	ctx      context.Context
	cancel   context.CancelFunc
	wake     chan struct{} // cap 1: the queue gained packets or drain began
	done     chan struct{} // closed when the sink is closed and the goroutine ends

	mu       sync.Mutex
	q        []*output.Packet // ring buffer
	head, n  int
	started  bool // a video keyframe has been queued
	dropping bool // dropping until the next video keyframe
	draining bool // no more packets will come: stop when the queue is empty
	stopped  bool // no more packets are wanted
	opened   bool
	reported bool
	report   output.SinkState
	err      error // what ended the outlet
	bytes    int64
	dropped  int64
	finished bool

	notifyMu sync.Mutex
	last     OutputState
	notified bool
}

// push queues p, applying the keyframe start and the GOP dropping.
func (o *outlet) push(p *output.Packet) {
	key := p.Kind == output.Video && p.Key
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stopped || o.draining {
		return
	}
	if !o.started {
		// Nothing before the first keyframe is decodable; it was never
		// this sink's to lose, so it is not counted as dropped.
		if !key {
			return
		}
		o.started = true
	}
	if o.dropping {
		if !key {
			o.dropped++
			return
		}
		o.dropping = false
	}
	if o.full(p) {
		if !key {
			// Take back the queued GOP that dropping from here would cut
			// short, so the sink receives whole GOPs. If the queue holds
			// no keyframe, its GOP is already being written and stays
			// truncated.
			o.dropped += int64(o.trimLastGOP())
		}
		o.dropped++
		o.dropping = true
		return
	}
	o.q[(o.head+o.n)%len(o.q)] = p
	o.n++
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

func (o *outlet) full(p *output.Packet) bool {
	if o.n == 0 {
		return false
	}
	if o.n == len(o.q) {
		return true
	}
	oldest := o.q[o.head]
	return p.Time(&o.f.info)-oldest.Time(&o.f.info) > o.maxDelay
}

// trimLastGOP removes the queue's tail from its last video keyframe on and
// returns how many packets it removed.
func (o *outlet) trimLastGOP() int {
	for i := o.n - 1; i >= 0; i-- {
		idx := (o.head + i) % len(o.q)
		if p := o.q[idx]; p.Kind == output.Video && p.Key {
			removed := o.n - i
			for j := i; j < o.n; j++ {
				o.q[(o.head+j)%len(o.q)] = nil
			}
			o.n = i
			return removed
		}
	}
	return 0
}

func (o *outlet) clearQueue() {
	for i := 0; i < o.n; i++ {
		o.q[(o.head+i)%len(o.q)] = nil
	}
	o.head, o.n = 0, 0
}

// next waits for the next packet; false means stop.
func (o *outlet) next() (*output.Packet, bool) {
	for {
		if o.ctx.Err() != nil {
			return nil, false
		}
		o.mu.Lock()
		if o.n > 0 {
			p := o.q[o.head]
			o.q[o.head] = nil
			o.head = (o.head + 1) % len(o.q)
			o.n--
			o.mu.Unlock()
			return p, true
		}
		draining := o.draining
		o.mu.Unlock()
		if draining {
			return nil, false
		}
		select {
		case <-o.wake:
		case <-o.ctx.Done():
		}
	}
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
	for {
		p, ok := o.next()
		if !ok {
			return
		}
		if err := o.sink.Write(o.ctx, p); err != nil {
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
	o.stopped = true
	o.clearQueue()
	o.mu.Unlock()
	o.notify()
}

func (o *outlet) onReport(s output.SinkState) {
	o.mu.Lock()
	if o.finished {
		o.mu.Unlock()
		return
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
	o.mu.Unlock()
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
		Running: o.opened && !o.finished && o.err == nil && (!o.reported || o.report.Running),
		Err:     o.err,
		Failed:  o.err != nil,
		Retries: o.report.Retries,
		Bytes:   o.bytes,
		Dropped: o.dropped,
		Done:    o.finished,
	}
	if bc, ok := o.sink.(output.ByteCounter); ok {
		s.Bytes = bc.BytesWritten()
	}
	if s.Err == nil {
		// The sink's own last word, also once it is done: a sink stopped
		// during an outage still says why it was down.
		s.Err = o.report.Err
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
