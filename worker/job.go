package worker

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/muxer/output"
	"github.com/roomcast/roomcast/room"
)

// RoomOpener opens the room a job's meetingUrl names, on the job's clock.
// The CLI and the job API provide it, so that this package does not depend on
// every connector.
type RoomOpener func(ctx context.Context, meetingURL string, clk mediaclock.Clock, log *slog.Logger) (room.Room, error)

// SinkFactory makes the sinks of the outputs other than the archive. Nil
// factories mean those outputs are not available in this build.
type SinkFactory struct {
	RTMP         func(url string, connectTimeout, retryWindow time.Duration) (output.Sink, error)
	HLSLive      func() (sink output.Sink, handler http.Handler)
	HLSRecording func(dir string) output.Sink
}

// Options are how a job runs, beyond its config.
type Options struct {
	Out    string // output folder; created if missing
	Fast   bool   // virtual clock: file rooms only
	Logger *slog.Logger
	Open   RoomOpener
	Sinks  SinkFactory
	// HTTPMux and HTTPBase serve live HLS at HTTPBase + /hls/<id>/index.m3u8.
	HTTPMux  *http.ServeMux
	HTTPBase string
	// OnEvent is called, in order, with the contract's state-change events.
	// It runs on the job's loop: it must return quickly and must not call
	// the Job's methods (s is the state it would get); hand anything slower
	// to a goroutine of its own.
	OnEvent func(name string, s State)
	// Latency is how far the output runs behind media time, so that late
	// packets still make their frame. Default 200 ms.
	Latency time.Duration
	// X264Threads is libx264's thread count; 0 lets x264 choose.
	X264Threads int
	// Part is the job's part, from 1: a job continued on another node
	// (fleet failover) names its files for its part (jobstate.PartFile:
	// recording.part2.mp4, hls.part2/). 0 is the first part.
	Part int
}

// Job is one recording/streaming job: Start it, Stop it, read its State.
//
// A job's state belongs to one goroutine, its loop (loop.go), which every
// method talks to by message. So every method is safe from any goroutine
// at any time, also while the job starts or stops; a request the job can no
// longer serve gets an error saying so, never a wait without end.
type Job struct {
	cfg  config.Job // as given to New, defaults applied; never changed
	opts Options
	log  *slog.Logger

	requests chan any       // from the methods
	notes    *inbox         // from the graph's goroutines
	ticks    chan emptyTick // from the empty-room watcher
	loopOnce sync.Once
	done     chan struct{}
	// final and finalCfg are the job's last state and config, written by
	// the loop before it closes done and never changed after.
	final    State
	finalCfg config.Job

	loopState // the loop's alone (loop.go)
}

// New validates the config and prepares a job; nothing runs until Start.
func New(cfg config.Job, opts Options) (*Job, error) {
	cfg.ApplyDefaults()
	if cfg.ID == "" {
		cfg.ID = newID()
	}
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Code: CodeInvalidConfig, Message: err.Error(), Cause: err}
	}
	kind, _, _ := config.ParseMeetingURL(cfg.MeetingURL)
	if opts.Fast && kind == config.RoomLiveKit {
		return nil, errorf(CodeInvalidConfig, "fast: --fast works only with file: and demo: rooms, not with a live room")
	}
	if (cfg.HLS) && (opts.Sinks.HLSLive == nil || opts.HTTPMux == nil) {
		return nil, errorf(CodeInvalidConfig, "hls: live HLS needs the HTTP server (--http ADDR)")
	}
	if cfg.HLSRecord && opts.Sinks.HLSRecording == nil {
		return nil, errorf(CodeInvalidConfig, "hlsRecord: the HLS recording output is not available in this build")
	}
	if len(cfg.RTMPURLs) > 0 && opts.Sinks.RTMP == nil {
		return nil, errorf(CodeInvalidConfig, "rtmpUrls: RTMP output is not available in this build")
	}
	if opts.Open == nil {
		return nil, errorf(CodeInternal, "no room opener")
	}
	if opts.Out == "" {
		opts.Out = filepath.Join("out", cfg.ID)
	}
	if opts.Latency == 0 {
		opts.Latency = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, errorf(CodeInvalidConfig, "out: cannot create the output folder: %w", err)
	}
	j := &Job{
		cfg:      cfg,
		opts:     opts,
		log:      opts.Logger.With("job", cfg.ID),
		requests: make(chan any),
		notes:    newInbox(),
		ticks:    make(chan emptyTick),
		done:     make(chan struct{}),
	}
	j.initLoop()
	return j, nil
}

// ID returns the job's id.
func (j *Job) ID() string { return j.cfg.ID }

// Out returns the job's output folder.
func (j *Job) Out() string { return j.opts.Out }

// Done is closed when the job has ended, whatever the reason.
func (j *Job) Done() <-chan struct{} { return j.done }

// ask hands a request to the loop, starting the loop on first use. It
// fails with ErrEnded once the job has ended, or with ctx's error.
func (j *Job) ask(ctx context.Context, req any) error {
	j.loopOnce.Do(func() { go j.run() })
	select {
	case j.requests <- req:
		return nil
	case <-j.done:
		return ErrEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Config returns the job's config, defaults applied, with the RTMP URLs and
// layout it has now.
func (j *Job) Config() config.Job {
	reply := make(chan config.Job, 1)
	if j.ask(context.Background(), configReq{reply}) != nil {
		return j.finalCfg
	}
	return <-reply
}

// State returns a copy of the job's current state.
func (j *Job) State() State {
	reply := make(chan State, 1)
	if j.ask(context.Background(), stateReq{reply}) != nil {
		return j.final.Clone()
	}
	return <-reply
}

// Err returns why the job failed, or nil while it runs and once it ended as
// asked.
func (j *Job) Err() error {
	if e := j.State().Error; e != nil {
		return e
	}
	return nil
}

// SaveStatus writes status.json with the latest figures; the CLI calls it
// periodically so byte counters stay fresh.
func (j *Job) SaveStatus() {
	reply := make(chan struct{}, 1)
	if j.ask(context.Background(), saveReq{reply}) == nil {
		<-reply
	}
}

// Start joins the room and starts every output. It returns once the job
// runs, or with an *Error saying why it could not start; the job has then
// ended (Done is closed) and its state says failed, or stopped if Stop came
// while it started (the error's cause is then ErrStopped).
func (j *Job) Start(ctx context.Context) error {
	reply := make(chan startResult, 1)
	if err := j.ask(ctx, startReq{ctx: ctx, reply: reply}); err != nil {
		if errors.Is(err, ErrEnded) {
			return errorf(CodeInvalidConfig, "job %s has ended: %w", j.cfg.ID, err)
		}
		return errorf(CodeInternal, "starting job %s: %w", j.cfg.ID, err)
	}
	r := <-reply
	if r.ending {
		<-j.done
	}
	if r.err != nil {
		return r.err
	}
	return nil
}

// Stop ends the job as asked: every output is finalized. It returns once
// the job has ended, or with ctx's error if that comes first (the job then
// still stops).
func (j *Job) Stop(ctx context.Context) error {
	if err := j.ask(ctx, stopReq{}); err != nil && !errors.Is(err, ErrEnded) {
		return err
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetLayout switches the layout (grid, speaker or screen) while the job
// runs.
func (j *Job) SetLayout(ctx context.Context, layout string) error {
	reply := make(chan error, 1)
	if err := j.ask(ctx, layoutReq{layout: layout, reply: reply}); err != nil {
		return j.notServed(err, "the layout can be changed only while it runs")
	}
	return <-reply
}

// notServed is the error of a request the loop did not take.
func (j *Job) notServed(err error, what string) error {
	if errors.Is(err, ErrEnded) {
		return errorf(CodeInvalidConfig, "the job is %s: %s: %w", j.final.State, what, err)
	}
	return errorf(CodeInternal, "%s: %w", what, err)
}
