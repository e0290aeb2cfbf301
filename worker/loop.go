package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// The job's loop owns its state. After mediamtx's path: one goroutine holds
// a stateful object, the others send it requests (the Job's methods) and
// notes (room events, output changes, the compositor's end, the empty-room
// timer, the graph opened or closed), and it handles one at a time. Slow
// work (joining the room, closing the graph, removing an output) runs on
// goroutines of its own that report back, so the loop always answers.

// stage is where a job is in its life, as its loop sees it.
type stage int

const (
	stageNew      stage = iota // nothing asked yet
	stageStarting              // the graph is being built (openGraph)
	stageRunning
	stageStopping // the graph is being closed (graph.close)
	stageEnded
)

// loopState is everything the loop alone reads and writes.
type loopState struct {
	stage stage
	// clock is the job's time, from Start on; set before any goroutine
	// that reads it starts.
	clock     mediaclock.Clock
	state     State
	lastSaved State // as last published
	g         *graph
	events    <-chan room.Event // the room's, while running; nil once closed
	compDone  <-chan struct{}   // the compositor's end, while running
	rtmpURLs  []string          // with keys; state.RTMPStreaming.Outputs has them masked
	rtmpNames []string          // fan-out name of each of rtmpURLs
	rtmpSeq   int
	layout    config.Layout
	peers     map[string]room.Peer
	emptyAt   time.Duration // job time the room became empty; -1 while peers are present
	rate      rateMeter

	startReply  chan<- startResult
	startCancel context.CancelCauseFunc
	stopAsked   bool   // Stop came while starting
	failure     *Error // why the job is ending; nil when it ends as asked
	reason      string
}

// Requests, from the Job's methods. Each has its reply channel, buffered,
// that the loop (or a goroutine it hands the request to) always answers.
type (
	startReq struct {
		ctx   context.Context
		reply chan<- startResult
	}
	stopReq    struct{}
	stateReq   struct{ reply chan<- State }
	configReq  struct{ reply chan<- config.Job }
	saveReq    struct{ reply chan<- struct{} }
	addRTMPReq struct {
		url   string
		reply chan<- error
	}
	removeRTMPReq struct {
		url   string
		reply chan<- error
	}
	layoutReq struct {
		layout string
		reply  chan<- error
	}
)

// startResult answers a startReq: ending says the job could not start and
// is ending, so Start waits for the end before it returns err.
type startResult struct {
	err    *Error
	ending bool
}

// Notes, through the inbox.
type (
	graphOpened struct {
		g     *graph
		paths outputPaths
		err   error
	}
	outputChanged struct {
		name string
		s    muxer.OutputState
	}
	graphClosed struct{ encErr error }
	// uploadChanged: an upload's state changed (outputs.go).
	uploadChanged struct{}
)

func (j *Job) initLoop() {
	cfg := j.cfg
	j.emptyAt = 0
	j.peers = map[string]room.Peer{}
	j.layout = cfg.Layout
	j.rtmpURLs = slices.Clone(cfg.RTMPURLs)
	j.state = State{
		ID:            cfg.ID,
		State:         Starting,
		Room:          RedactRoom(cfg.MeetingURL),
		RTMPStreaming: RTMPStreaming{Outputs: []RTMPOutput{}},
		AudioOnly:     cfg.AudioOnly,
	}
	for _, u := range cfg.RTMPURLs {
		j.rtmpSeq++
		j.rtmpNames = append(j.rtmpNames, rtmpName(j.rtmpSeq))
		j.state.RTMPStreaming.Outputs = append(j.state.RTMPStreaming.Outputs, RTMPOutput{URL: config.MaskRTMPURL(u)})
	}
	if cfg.Record {
		j.state.Recording.Path = jobstate.PartFile(recordingFile(cfg), j.opts.Part)
		j.state.Recording.Files = []string{j.state.Recording.Path}
	}
}

// run is the loop. It ends once the graph is closed and the final state
// published, closing done.
func (j *Job) run() {
	for j.stage != stageEnded {
		select {
		case req := <-j.requests:
			j.serve(req)
		case <-j.notes.ready:
			for _, n := range j.notes.take() {
				if j.stage != stageEnded {
					j.note(n)
				}
			}
		case ev, ok := <-j.events:
			if !ok {
				j.events = nil
				j.roomEnded()
				continue
			}
			j.roomEvent(ev)
		case <-j.compDone:
			j.compDone = nil
			j.compositorEnded()
		case t := <-j.ticks:
			t.reply <- j.emptyTimeout(t.at)
		}
	}
	close(j.done)
}

func (j *Job) serve(req any) {
	switch r := req.(type) {
	case stateReq:
		j.refreshStats()
		r.reply <- j.state.Clone()
	case configReq:
		r.reply <- j.currentConfig()
	case saveReq:
		j.saveStatus()
		r.reply <- struct{}{}
	case startReq:
		j.start(r)
	case stopReq:
		j.stop()
	case addRTMPReq:
		r.reply <- j.addRTMP(r.url)
	case removeRTMPReq:
		j.removeRTMP(r)
	case layoutReq:
		r.reply <- j.setLayout(r.layout)
	default:
		panic(fmt.Sprintf("worker: unknown request %T", req))
	}
}

func (j *Job) note(n any) {
	switch n := n.(type) {
	case graphOpened:
		j.opened(n)
	case outputChanged:
		j.applyOutput(n.name, n.s)
		j.publish()
		if n.s.Failed && j.stage == stageRunning && j.allOutputsFailed() {
			j.beginStop(errorf(CodeOutput, "every output failed"), "")
		}
	case graphClosed:
		j.finish(n.encErr)
	case uploadChanged:
		j.publish()
	default:
		panic(fmt.Sprintf("worker: unknown note %T", n))
	}
}

func (j *Job) currentConfig() config.Job {
	c := j.cfg
	c.RTMPURLs = slices.Clone(j.rtmpURLs)
	c.Layout = j.layout
	return c
}

// start builds the graph on a goroutine of its own, so that the loop goes
// on answering (a Stop cancels the join) while the room is joined.
func (j *Job) start(r startReq) {
	if j.stage != stageNew {
		r.reply <- startResult{err: errorf(CodeAlreadyRunning, "job %s was started already", j.cfg.ID)}
		return
	}
	j.stage = stageStarting
	// Job time starts now: frame 0 is due at once.
	if j.opts.Fast {
		j.clock = mediaclock.NewVirtual()
	} else {
		j.clock = mediaclock.NewReal()
	}
	now := time.Now().UTC()
	j.state.StartedAt = &now
	j.publish()

	ctx, cancel := context.WithCancelCause(r.ctx)
	j.startCancel, j.startReply = cancel, r.reply
	spec := graphSpec{
		cfg: j.cfg, opts: j.opts, log: j.log, clock: j.clock,
		rtmpNames: slices.Clone(j.rtmpNames),
		onOutput:  func(name string, s muxer.OutputState) { j.notes.put(outputChanged{name, s}) },
		onUpload:  func(string) { j.notes.put(uploadChanged{}) },
	}
	go func() {
		g, paths, err := openGraph(ctx, spec)
		j.notes.put(graphOpened{g: g, paths: paths, err: err})
	}()
}

// opened takes over the graph openGraph built, and answers Start.
func (j *Job) opened(n graphOpened) {
	j.startCancel(nil)
	j.g = n.g
	if n.paths.hlsURL != nil {
		j.state.HLSStreaming.URL = n.paths.hlsURL
	}
	if n.paths.hlsRecording != nil {
		j.state.HLSRecording.Path = n.paths.hlsRecording
	}
	reply := j.startReply
	j.startReply = nil
	switch {
	case j.stopAsked:
		reply <- startResult{err: errorf(CodeRoomJoin, "job %s: %w", j.cfg.ID, ErrStopped), ending: true}
		j.beginStop(nil, "stopped on request")
		return
	case n.err != nil:
		e := asError(n.err)
		reply <- startResult{err: e, ending: true}
		j.beginStop(e, "could not start: "+e.Message)
		return
	}
	j.stage = stageRunning
	j.state.State = Running
	g := j.g
	g.run(time.Duration(j.cfg.MaxDuration))
	j.events = g.room.Events()
	j.compDone = g.compDone
	if j.cfg.EmptyRoomTimeout > 0 {
		g.spawn(j.watchEmptyRoom)
	}
	j.publish()
	reply <- startResult{}
	// An output that failed while the room was being joined.
	if j.allOutputsFailed() {
		j.beginStop(errorf(CodeOutput, "every output failed"), "")
	}
}

func (j *Job) stop() {
	switch j.stage {
	case stageNew, stageRunning:
		j.beginStop(nil, "stopped on request")
	case stageStarting:
		j.stopAsked = true
		j.startCancel(ErrStopped)
	}
}

// beginStop starts the shutdown, once; failure is nil for a job that ends as
// asked. The graph closes on a goroutine of its own (graph.close gives the
// order) and reports back with graphClosed.
func (j *Job) beginStop(failure *Error, reason string) {
	if j.stage == stageStopping || j.stage == stageEnded {
		return
	}
	j.stage = stageStopping
	j.failure, j.reason = failure, reason
	j.state.State = Stopping
	j.publish()
	j.log.Info("job stopping", "reason", firstNonEmpty(reason, errString(failure)))
	g := j.g
	if g == nil {
		j.finish(nil)
		return
	}
	// Cancel now rather than on the closing goroutine, so a virtual clock
	// cannot run on past the moment the job decided to end.
	g.cancel()
	go func() { j.notes.put(graphClosed{encErr: g.close()}) }()
}

// finish publishes the final state once the graph is closed.
func (j *Job) finish(encErr error) {
	failure := j.failure
	if failure == nil && encErr != nil {
		failure = errorf(CodeInternal, "encoder: %w", encErr)
	}
	now := time.Now().UTC()
	j.state.StoppedAt = &now
	j.rollUpEnd(failure, j.reason)
	j.publish()
	j.final = j.state.Clone()
	j.finalCfg = j.currentConfig()
	j.stage = stageEnded
}

// compositorEnded handles the end of the compositor's Run while running: an
// error fails the job, the maximum duration ends it.
func (j *Job) compositorEnded() {
	if j.stage != stageRunning {
		return
	}
	err := j.g.compErr
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		j.beginStop(errorf(CodeInternal, "compositor: %w", err), "")
	case j.g.ctx.Err() == nil:
		j.beginStop(nil, fmt.Sprintf("maximum duration %s reached", j.cfg.MaxDuration))
	}
}

// setLayout switches the compositor's layout.
func (j *Job) setLayout(layout string) error {
	l, err := config.Layout(layout).Resolve()
	if err != nil {
		return errorf(CodeInvalidConfig, "%w", err)
	}
	if j.stage != stageRunning {
		return errorf(CodeInvalidConfig, "the job is %s: the layout can be changed only while it runs", j.state.State)
	}
	j.g.setLayout(l)
	j.layout = config.Layout(layout)
	return nil
}
