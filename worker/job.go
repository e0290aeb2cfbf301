package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/roomcast/roomcast/compositor"
	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/muxer/mp4"
	"github.com/roomcast/roomcast/muxer/output"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/worker/pipeline"
)

// Output names in the fan-out.
const (
	outRecording = "recording"
	outHLS       = "hls"
	outHLSRecord = "hlsRecording"
	outRTMP      = "rtmp:" // + a serial number: a URL holds its stream key
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
	OnEvent func(name string, s State)
	// Latency is how far the output runs behind media time, so that late
	// packets still make their frame. Default 200 ms.
	Latency time.Duration
	// X264Threads is libx264's thread count; 0 lets x264 choose.
	X264Threads int
}

// Job is one recording/streaming job: Start it, Stop it, read its State.
type Job struct {
	cfg  config.Job
	opts Options
	log  *slog.Logger

	clock mediaclock.Clock
	room  room.Room
	comp  *compositor.Compositor
	enc   *muxer.Encoder
	fan   *muxer.Fanout

	runCtx    context.Context
	runCancel context.CancelFunc
	compDone  chan error
	compRun   bool
	pipes     sync.WaitGroup

	mu        sync.Mutex
	state     State
	lastSaved State
	peers     map[string]room.Peer
	syncs     map[string]*pipeline.Sync
	pipelines map[string]*pipeline.Pipeline
	emptyAt   time.Duration // job time the room became empty; -1 while peers are present
	ending    bool
	rate      rateMeter
	rtmpNames []string // fan-out name of each entry of state.RTMPStreaming.Outputs
	rtmpSeq   int

	stopOnce sync.Once
	done     chan struct{}
	cleanup  []func()
}

// New validates the config and prepares a job; nothing runs until Start.
func New(cfg config.Job, opts Options) (*Job, error) {
	cfg.ApplyDefaults()
	if cfg.ID == "" {
		cfg.ID = newID()
	}
	if err := cfg.Validate(); err != nil {
		return nil, &Error{Code: CodeInvalidConfig, Message: err.Error()}
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
		return nil, errorf(CodeInvalidConfig, "out: cannot create the output folder: %v", err)
	}
	j := &Job{
		cfg:       cfg,
		opts:      opts,
		log:       opts.Logger.With("job", cfg.ID),
		peers:     map[string]room.Peer{},
		syncs:     map[string]*pipeline.Sync{},
		pipelines: map[string]*pipeline.Pipeline{},
		emptyAt:   0,
		done:      make(chan struct{}),
		compDone:  make(chan error, 1),
	}
	j.state = State{
		ID:    cfg.ID,
		State: Starting,
		Room:  redactRoom(cfg.MeetingURL),
		RTMPStreaming: RTMPStreaming{
			Outputs: []RTMPOutput{},
		},
	}
	for _, u := range cfg.RTMPURLs {
		j.state.RTMPStreaming.Outputs = append(j.state.RTMPStreaming.Outputs, RTMPOutput{URL: config.MaskRTMPURL(u)})
	}
	if cfg.Record {
		j.state.Recording.Path = "recording.mp4"
	}
	return j, nil
}

// ID returns the job's id.
func (j *Job) ID() string { return j.cfg.ID }

// Config returns the job's config, defaults applied.
func (j *Job) Config() config.Job { return j.cfg }

// Out returns the job's output folder.
func (j *Job) Out() string { return j.opts.Out }

// Done is closed when the job has ended, whatever the reason.
func (j *Job) Done() <-chan struct{} { return j.done }

// State returns a copy of the job's current state.
func (j *Job) State() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.refreshStatsLocked()
	return j.state.clone()
}

func (s State) clone() State {
	c := s
	c.RTMPStreaming.Outputs = append([]RTMPOutput{}, s.RTMPStreaming.Outputs...)
	return c
}

// Start joins the room and starts every output. It returns once the job
// runs, or with an *Error saying why it could not start; the job has then
// ended (Done is closed) and its state says failed.
func (j *Job) Start(ctx context.Context) error {
	now := time.Now().UTC()
	j.mu.Lock()
	j.state.StartedAt = &now
	j.mu.Unlock()
	j.publish()

	if err := j.start(ctx); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = errorf(CodeInternal, "%v", err)
		}
		j.stopOnce.Do(func() { j.shutdown(e, "could not start: "+e.Message) })
		return e
	}
	return nil
}

func (j *Job) start(ctx context.Context) error {
	if j.opts.Fast {
		j.clock = mediaclock.NewVirtual()
	} else {
		j.clock = mediaclock.NewReal()
	}
	j.runCtx, j.runCancel = context.WithCancel(context.Background())

	// Encoder and fan-out first: the archive must be ready before any media.
	layout, err := compositor.ParseLayout(j.cfg.Layout)
	if err != nil {
		return errorf(CodeInvalidConfig, "layout: %v", err)
	}
	j.enc, err = muxer.NewEncoder(muxer.EncoderConfig{
		Width: j.cfg.Resolution.Width, Height: j.cfg.Resolution.Height, FPS: j.cfg.FPS,
		VideoBitrate: int(j.cfg.VideoBitrate), AudioBitrate: int(j.cfg.AudioBitrate),
		SampleRate: 48000, Preset: "veryfast", Threads: j.opts.X264Threads, Logger: j.log,
	}, muxer.PacketWriterFunc(func(p *output.Packet) { j.fan.WritePacket(p) }))
	if err != nil {
		return errorf(CodeInternal, "encoder: %v", err)
	}
	j.fan = muxer.NewFanout(j.enc.Info(), j.log)
	j.fan.OnChange(func(name string, s muxer.OutputState) { j.outputChanged(name, s) })
	if err := j.addOutputs(); err != nil {
		return err
	}

	j.comp, err = compositor.New(compositor.Config{
		Width: j.cfg.Resolution.Width, Height: j.cfg.Resolution.Height, FPS: j.cfg.FPS,
		SampleRate: 48000, Latency: j.opts.Latency, Layout: layout, Logger: j.log,
		OnTileSize: j.tileSized,
	}, j.clock, j.enc)
	if err != nil {
		return errorf(CodeInternal, "compositor: %v", err)
	}

	joinCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r, err := j.opts.Open(joinCtx, j.cfg.MeetingURL, j.clock, j.log)
	if err != nil {
		return errorf(CodeRoomJoin, "%v", err)
	}
	j.room = r
	started := make(chan error, 1)
	go func() { started <- r.Start(j.runCtx) }()
	select {
	case err := <-started:
		if err != nil {
			return errorf(CodeRoomJoin, "%v", err)
		}
	case <-joinCtx.Done():
		return errorf(CodeRoomJoin, "joining the room took longer than 15 s")
	}

	j.mu.Lock()
	j.state.State = Running
	j.mu.Unlock()

	go j.eventLoop()
	j.compRun = true
	go func() {
		err := j.comp.Run(j.runCtx, time.Duration(j.cfg.MaxDuration))
		j.compDone <- err
		if err != nil && !errors.Is(err, context.Canceled) {
			j.end(errorf(CodeInternal, "compositor: %v", err), "")
			return
		}
		if j.runCtx.Err() == nil {
			j.end(nil, fmt.Sprintf("maximum duration %s reached", j.cfg.MaxDuration))
		}
	}()
	go j.watchEmptyRoom()
	j.publish()
	return nil
}

func (j *Job) addOutputs() error {
	add := func(name string, s output.Sink) error {
		if err := j.fan.Add(j.runCtx, name, s, queueOptions()); err != nil {
			return errorf(CodeInternal, "output %s: %v", name, err)
		}
		return nil
	}
	if j.cfg.Record {
		if err := add(outRecording, mp4.New(mp4.Options{Path: filepath.Join(j.opts.Out, "recording.mp4"), Logger: j.log})); err != nil {
			return err
		}
	}
	for _, u := range j.cfg.RTMPURLs {
		s, err := j.opts.Sinks.RTMP(u, time.Duration(j.cfg.RTMPConnectTimeout), time.Duration(j.cfg.RTMPRetryWindow))
		if err != nil {
			return errorf(CodeInvalidConfig, "rtmpUrls: %s: %v", config.MaskRTMPURL(u), err)
		}
		j.mu.Lock()
		j.rtmpSeq++
		name := fmt.Sprintf("%s%d", outRTMP, j.rtmpSeq)
		j.rtmpNames = append(j.rtmpNames, name)
		j.mu.Unlock()
		if err := add(name, s); err != nil {
			return err
		}
	}
	if j.cfg.HLS {
		s, h := j.opts.Sinks.HLSLive()
		prefix := "/hls/" + j.cfg.ID
		j.opts.HTTPMux.Handle(prefix+"/", http.StripPrefix(prefix, h))
		u := j.opts.HTTPBase + prefix + "/index.m3u8"
		j.mu.Lock()
		j.state.HLSStreaming.URL = &u
		j.mu.Unlock()
		if err := add(outHLS, s); err != nil {
			return err
		}
	}
	if j.cfg.HLSRecord {
		dir := filepath.Join(j.opts.Out, "hls")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return errorf(CodeHLS, "hlsRecord: %v", err)
		}
		p := "hls/index.m3u8"
		j.mu.Lock()
		j.state.HLSRecording.Path = &p
		j.mu.Unlock()
		if err := add(outHLSRecord, j.opts.Sinks.HLSRecording(dir)); err != nil {
			return err
		}
	}
	return nil
}

func (j *Job) eventLoop() {
	for ev := range j.room.Events() {
		j.log.Debug("room event", "event", ev.String())
		switch ev.Type {
		case room.PeerJoined:
			j.mu.Lock()
			j.peers[ev.Peer.ID] = ev.Peer
			j.emptyAt = -1
			j.state.Peers = len(j.peers)
			j.mu.Unlock()
			j.comp.AddPeer(ev.Peer)
		case room.PeerUpdated:
			j.mu.Lock()
			j.peers[ev.Peer.ID] = ev.Peer
			j.mu.Unlock()
			j.comp.UpdatePeer(ev.Peer)
		case room.PeerLeft:
			j.mu.Lock()
			delete(j.peers, ev.Peer.ID)
			if len(j.peers) == 0 {
				j.emptyAt = j.clock.Now()
			}
			j.state.Peers = len(j.peers)
			j.mu.Unlock()
			j.comp.RemovePeer(ev.Peer.ID)
		case room.TrackAdded:
			j.addTrack(ev)
		case room.TrackRemoved:
			j.comp.RemoveTrack(ev.TrackID)
		case room.TrackMuted:
			j.comp.SetMuted(ev.TrackID, true)
		case room.TrackUnmuted:
			j.comp.SetMuted(ev.TrackID, false)
		case room.ActiveSpeakers:
			j.comp.SetActiveSpeakers(ev.Speakers)
		case room.Reconnecting:
			j.log.Warn("connection to the room lost; reconnecting")
		case room.Reconnected:
			j.log.Info("reconnected to the room")
		}
		j.publish()
	}
	if err := j.room.Err(); err != nil {
		j.end(nil, fmt.Sprintf("room ended: %v", err))
		return
	}
	j.end(nil, "room ended: every peer left")
}

func (j *Job) addTrack(ev room.Event) {
	info := ev.Track.Info()
	j.comp.AddTrack(info)
	if info.Muted {
		j.comp.SetMuted(info.ID, true)
	}
	j.mu.Lock()
	s, ok := j.syncs[info.PeerID]
	if !ok {
		_, exact := j.room.(room.Timeline)
		s = pipeline.NewSync(j.clock, exact)
		j.syncs[info.PeerID] = s
	}
	j.mu.Unlock()
	p, err := pipeline.New(pipeline.Config{
		Track: ev.Track, Sync: s, Clock: j.clock, Sink: j.comp, Logger: j.log.With("track", info.ID),
	})
	if err != nil {
		j.log.Warn("track not shown", "track", info.ID, "err", err)
		// Keep reading so that the room (and a virtual clock) is not held up.
		j.pipes.Add(1)
		go func() {
			defer j.pipes.Done()
			b := make([]byte, room.MaxPacketSize)
			for {
				if _, err := ev.Track.Read(b); err != nil {
					return
				}
			}
		}()
		return
	}
	j.mu.Lock()
	j.pipelines[info.ID] = p
	j.mu.Unlock()
	j.pipes.Add(1)
	go func() {
		defer j.pipes.Done()
		if err := p.Run(j.runCtx); err != nil && !errors.Is(err, context.Canceled) {
			j.log.Warn("track pipeline ended", "track", info.ID, "err", err)
		}
	}()
}

// tileSized passes a video track's shown size to rooms that can send a
// fitting simulcast layer. It runs on the compositor's goroutine, so the
// room is told on its own.
func (j *Job) tileSized(trackID string, w, h int) {
	if vs, ok := j.room.(room.VideoSizer); ok {
		go func() {
			if err := vs.SetVideoSize(trackID, w, h); err != nil {
				j.log.Debug("choosing a video layer", "track", trackID, "err", err)
			}
		}()
	}
}

// watchEmptyRoom ends the job once the room has had no peers for the
// empty-room timeout, measured on the job's clock.
func (j *Job) watchEmptyRoom() {
	timeout := time.Duration(j.cfg.EmptyRoomTimeout)
	if timeout <= 0 {
		return
	}
	j.clock.Hold()
	defer j.clock.Release()
	for next := time.Second; ; next += time.Second {
		if err := j.clock.SleepUntil(j.runCtx, next); err != nil {
			return
		}
		j.mu.Lock()
		empty := j.emptyAt >= 0 && next-j.emptyAt >= timeout
		j.mu.Unlock()
		if empty {
			go j.end(nil, fmt.Sprintf("the room was empty for %s", timeout))
			return
		}
	}
}

// Stop ends the job as asked: every output is finalized.
func (j *Job) Stop(ctx context.Context) error {
	j.end(nil, "stopped on request")
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// end starts the shutdown once; failure is nil for a job that ended as asked.
func (j *Job) end(failure *Error, reason string) {
	j.stopOnce.Do(func() {
		go j.shutdown(failure, reason)
	})
}

func (j *Job) shutdown(failure *Error, reason string) {
	j.mu.Lock()
	j.ending = true
	j.state.State = Stopping
	j.mu.Unlock()
	j.publish()
	j.log.Info("job stopping", "reason", firstNonEmpty(reason, errString(failure)))

	// Stop the clock-driven output first, then flush the encoder so the
	// last frames reach every output, then let the outputs finalize.
	if j.runCancel != nil {
		j.runCancel()
	}
	if j.compRun {
		<-j.compDone
	}
	if j.enc != nil {
		if err := j.enc.Close(); err != nil && failure == nil {
			failure = errorf(CodeInternal, "encoder: %v", err)
		}
	}
	if j.fan != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := j.fan.Close(ctx); err != nil {
			j.log.Warn("outputs did not finish cleanly", "err", err)
		}
		cancel()
	}
	j.finish(failure, reason)
}

// finish releases the room and pipelines and publishes the final state.
func (j *Job) finish(failure *Error, reason string) {
	if j.runCancel != nil {
		j.runCancel()
	}
	if j.room != nil {
		if err := j.room.Close(); err != nil {
			j.log.Warn("closing the room", "err", err)
		}
	}
	j.pipes.Wait()
	j.mu.Lock()
	for _, p := range j.pipelines {
		p.Close()
	}
	j.mu.Unlock()
	if j.comp != nil {
		j.comp.Close()
	}
	for _, f := range j.cleanup {
		f()
	}

	now := time.Now().UTC()
	j.mu.Lock()
	j.state.StoppedAt = &now
	if failure == nil && j.allOutputsFailedLocked() {
		failure = errorf(CodeOutput, "every output failed")
	}
	if failure != nil {
		j.state.State = Failed
		j.state.Error = failure
	} else {
		j.state.State = Stopped
	}
	j.state.Reason = reason
	j.state.RTMPStreaming.Running = false
	for i := range j.state.RTMPStreaming.Outputs {
		j.state.RTMPStreaming.Outputs[i].Running = false
	}
	j.state.Recording.Running = false
	j.state.HLSStreaming.Running = false
	j.state.HLSRecording.Running = false
	j.mu.Unlock()
	j.publish()
	close(j.done)
}

// Err returns why the job failed, or nil once it ended as asked.
func (j *Job) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state.Error != nil {
		return j.state.Error
	}
	return nil
}

func (j *Job) outputChanged(name string, s muxer.OutputState) {
	errOf := func(code string) *Error {
		if s.Err == nil {
			return nil
		}
		return &Error{Code: code, Message: s.Err.Error()}
	}
	j.mu.Lock()
	switch name {
	case outRecording:
		j.state.Recording.Running, j.state.Recording.Error = s.Running, errOf(CodeRecording)
	case outHLS:
		j.state.HLSStreaming.Running, j.state.HLSStreaming.Error = s.Running, errOf(CodeHLS)
	case outHLSRecord:
		j.state.HLSRecording.Running, j.state.HLSRecording.Error = s.Running, errOf(CodeHLS)
	default:
		if i := j.rtmpIndexLocked(name); i >= 0 {
			o := &j.state.RTMPStreaming.Outputs[i]
			o.Running, o.Error, o.Retries = s.Running, errOf(CodeRTMP), s.Retries
		}
		j.rollUpRTMPLocked()
	}
	// Byte counters are filled in by publish (refreshStatsLocked).
	allFailed := s.Failed && j.allOutputsFailedLocked()
	j.mu.Unlock()
	j.publish()
	if allFailed {
		j.end(errorf(CodeOutput, "every output failed"), "")
	}
}

// rollUpRTMPLocked derives rtmpStreaming's running and error from its
// URLs: running while any URL streams; its error is the first URL's error
// unless some URLs still stream, in which case the failed ones carry their
// own. Called with mu held.
func (j *Job) rollUpRTMPLocked() {
	rs := &j.state.RTMPStreaming
	rs.Running, rs.Error = false, nil
	failed := 0
	for _, o := range rs.Outputs {
		rs.Running = rs.Running || o.Running
		if o.Error != nil {
			failed++
			if rs.Error == nil {
				rs.Error = o.Error
			}
		}
	}
	if failed < len(rs.Outputs) && rs.Running {
		rs.Error = nil
	}
}

// allOutputsFailedLocked reports whether every output the job asked for has
// failed for good. Called with mu held.
func (j *Job) allOutputsFailedLocked() bool {
	if j.fan == nil {
		return false
	}
	states := j.fan.States()
	if len(states) == 0 {
		return false
	}
	for _, s := range states {
		if !s.Failed {
			return false
		}
	}
	return true
}

// rtmpIndexLocked returns the state index of an RTMP output, or -1.
func (j *Job) rtmpIndexLocked(name string) int {
	for i, n := range j.rtmpNames {
		if n == name {
			return i
		}
	}
	return -1
}

// publish writes status.json and emits events for what changed.
func (j *Job) publish() {
	j.mu.Lock()
	j.refreshStatsLocked()
	cur := j.state.clone()
	old := j.lastSaved
	j.lastSaved = cur
	j.mu.Unlock()
	if sameState(&old, &cur) {
		// Room events such as active speakers change nothing in the
		// state; the counters are kept fresh by SaveStatus.
		return
	}
	if err := writeStatus(j.opts.Out, &cur); err != nil {
		j.log.Warn("writing status.json", "err", err)
	}
	if j.opts.OnEvent != nil {
		for _, name := range changedEvents(&old, &cur) {
			j.opts.OnEvent(name, cur)
		}
	}
}

// SaveStatus writes status.json with the latest figures; the CLI calls it
// periodically so byte counters stay fresh.
func (j *Job) SaveStatus() {
	j.mu.Lock()
	j.refreshStatsLocked()
	cur := j.state.clone()
	j.mu.Unlock()
	if err := writeStatus(j.opts.Out, &cur); err != nil {
		j.log.Warn("writing status.json", "err", err)
	}
}

func (j *Job) refreshStatsLocked() {
	if j.comp == nil {
		return
	}
	cs := j.comp.Stats()
	st := &j.state.Stats
	st.Frames = cs.Frames
	st.LateFrames = cs.LateTicks
	if cs.FirstVideoFrame >= 0 && st.FirstVideoSeconds == nil {
		v := float64(cs.FirstVideoFrame) / float64(j.cfg.FPS)
		st.FirstVideoSeconds = &v
	}
	// Output time written, not the clock: a virtual clock runs on while the
	// job shuts down.
	st.Elapsed = float64(cs.Frames) / float64(j.cfg.FPS)
	es := j.enc.Stats()
	st.EncodedBytes = es.VideoBytes + es.AudioBytes
	st.FPS, st.BitrateKbps = j.rate.sample(cs.Frames, st.EncodedBytes)
	if j.fan != nil {
		for name, s := range j.fan.States() {
			switch {
			case name == outRecording:
				j.state.Recording.Bytes = s.Bytes
			default:
				if i := j.rtmpIndexLocked(name); i >= 0 {
					j.state.RTMPStreaming.Outputs[i].Bytes = s.Bytes
				}
			}
		}
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func errString(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Error()
}

// queueOptions bounds each output's queue: about 4 s of media, beyond which
// the fan-out drops whole GOPs for that output alone.
func queueOptions() muxer.QueueOptions { return muxer.QueueOptions{} }
