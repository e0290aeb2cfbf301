package worker

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor"
	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/muxer/mp4"
	"github.com/roomcast/roomcast/muxer/output"
	"github.com/roomcast/roomcast/muxer/thumbnail"
	"github.com/roomcast/roomcast/muxer/tracks"
	"github.com/roomcast/roomcast/muxer/upload"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/worker/jobstate"
	"github.com/roomcast/roomcast/worker/pipeline"
)

// joinTimeout bounds opening and joining the room.
const joinTimeout = 15 * time.Second

// graph is a job's media path: room → a pipeline per track → compositor →
// encoder → fan-out → sinks.
//
// openGraph builds it whole on the goroutine that starts the job, and only
// then hands it to the job's loop, so no goroutine that reads it (the
// compositor's, the outputs') sees it half-built. From then on the loop
// alone calls its methods, except close, which runs on a goroutine of its own
// once the loop has stopped feeding it.
type graph struct {
	log   *slog.Logger
	clock mediaclock.Clock
	enc   *muxer.Encoder
	fan   *muxer.Fanout
	comp  *compositor.Compositor
	// thumbs takes the composite's thumbnails; nil without.
	thumbs *thumbnail.Writer
	// tracks records each track to its own file; nil without.
	tracks *tracks.Recorder
	// up uploads the recordings to object storage, thumbUp the thumbnails;
	// nil without (outputs.go).
	up      *upload.Uploader
	thumbUp *upload.Files
	// rec is the archive's sink, which knows the files it wrote; nil
	// without a recording. recUploads names the upload of each of its
	// files after the first (outputs.go), under recMu: the sink adds to
	// it on its goroutine.
	rec        *mp4.Sink
	recMu      sync.Mutex
	recUploads []string
	room       room.Room
	exact      bool // the room's sender clocks are the job clock (room.Timeline)
	// audioOnly: the job mixes audio alone, and video tracks are not
	// decoded (config.Job.AudioOnly).
	audioOnly bool

	// ctx is the graph's life: the room, the compositor and every
	// pipeline run on it, and close cancels it first.
	ctx    context.Context
	cancel context.CancelFunc
	// outCtx is the outputs' life, which outlasts ctx: close cancels ctx
	// first, and the outputs must still write what the encoder flushes
	// after that (the AAC encoder's last frames). close cancels it once
	// the fan-out is closed.
	outCtx    context.Context
	outCancel context.CancelFunc

	compDone chan struct{} // closed when the compositor's Run returned; nil until run
	compErr  error         // what Run returned; read after compDone

	// syncs is the lip-sync state of each peer present, shared by its
	// tracks. A peer that leaves drops its entry (its pipelines keep
	// theirs until they end). Loop only.
	syncs map[string]*pipeline.Sync

	// wg counts every goroutine the graph starts; close waits for them.
	wg sync.WaitGroup
}

// graphSpec is what a job's graph is built from.
type graphSpec struct {
	cfg       config.Job
	opts      Options
	log       *slog.Logger
	clock     mediaclock.Clock
	rtmpNames []string // fan-out name of each of cfg.RTMPURLs
	// onOutput receives the outputs' state changes; it must not block.
	onOutput func(name string, s muxer.OutputState)
	// onUpload is told that an upload's state changed; it must not block.
	onUpload func(name string)
}

// openGraph builds the graph and joins the room: encoder and fan-out first,
// so that the archive is ready before any media, then the outputs, the
// compositor and the room. It returns what it built even on failure, for
// close to release.
func openGraph(ctx context.Context, spec graphSpec) (*graph, outputPaths, error) {
	cfg := spec.cfg
	g := &graph{log: spec.log, clock: spec.clock, syncs: map[string]*pipeline.Sync{}}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.outCtx, g.outCancel = context.WithCancel(context.Background())
	var paths outputPaths

	doc, err := cfg.Layout.Resolve()
	if err != nil {
		return g, paths, errorf(CodeInvalidConfig, "%w", err)
	}
	// The encoder's packets go to g.fan, which is set just below: packets
	// come only from frames the compositor writes, and it runs later.
	g.enc, err = muxer.NewEncoder(muxer.EncoderConfig{
		Width: cfg.Resolution.Width, Height: cfg.Resolution.Height, FPS: cfg.FPS,
		VideoBitrate: int(cfg.VideoBitrate), AudioBitrate: int(cfg.AudioBitrate),
		SampleRate: 48000, Preset: "veryfast", Threads: spec.opts.X264Threads, Logger: g.log,
		AudioOnly: cfg.AudioOnly,
	}, muxer.PacketWriterFunc(func(p *output.Packet) { g.fan.WritePacket(p) }))
	if err != nil {
		return g, paths, errorf(CodeInternal, "encoder: %w", err)
	}
	g.fan = muxer.NewFanout(g.enc.Info(), g.log)
	g.fan.OnChange(spec.onOutput)
	if paths, err = g.addOutputs(spec); err != nil {
		return g, paths, err
	}

	var out compositor.Output = g.enc
	if cfg.Thumbnails > 0 {
		g.thumbs, err = thumbnail.New(thumbnail.Options{
			Dir: filepath.Join(spec.opts.Out, thumbnailsDir(spec.opts.Part)), Every: time.Duration(cfg.Thumbnails),
			Width: cfg.Resolution.Width, Height: cfg.Resolution.Height, FPS: cfg.FPS, Logger: g.log,
			OnWrite: g.thumbnailWritten,
		})
		if err != nil {
			return g, paths, errorf(CodeInternal, "thumbnails: %w", err)
		}
		out = thumbnailTee{Output: g.enc, thumbs: g.thumbs}
	}
	if cfg.Tracks {
		if g.tracks, err = tracks.New(tracks.Options{JobDir: spec.opts.Out, Folder: jobstate.PartFile(tracks.Dir, spec.opts.Part), Logger: g.log}); err != nil {
			return g, paths, errorf(CodeInternal, "%w", err)
		}
	}
	cc := compositor.Config{
		Width: cfg.Resolution.Width, Height: cfg.Resolution.Height, FPS: cfg.FPS,
		SampleRate: 48000, Latency: spec.opts.Latency, Layout: doc, Logger: g.log,
		OnTileSize: g.tileSized,
	}
	if cfg.AudioOnly {
		// The mix at the compositor's own tick rate; no picture to size.
		g.audioOnly = true
		cc = compositor.Config{AudioOnly: true, SampleRate: 48000, Latency: spec.opts.Latency, Logger: g.log}
	}
	g.comp, err = compositor.New(cc, g.clock, out)
	if err != nil {
		return g, paths, errorf(CodeInternal, "compositor: %w", err)
	}

	joinCtx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	r, err := spec.opts.Open(joinCtx, cfg.MeetingURL, g.clock, g.log)
	if err != nil {
		if errors.Is(err, room.ErrInvalid) {
			// What the meetingUrl names is wrong, not the room's server:
			// the caller's input to fix (an API answers 422).
			return g, paths, errorf(CodeInvalidConfig, "meetingUrl: %w", err)
		}
		return g, paths, errorf(CodeRoomJoin, "%w", err)
	}
	g.room = r
	_, g.exact = r.(room.Timeline)
	started := make(chan error, 1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		started <- r.Start(g.ctx)
	}()
	select {
	case err := <-started:
		if err != nil {
			return g, paths, errorf(CodeRoomJoin, "%w", err)
		}
	case <-joinCtx.Done():
		if ctx.Err() != nil {
			return g, paths, &Error{Code: CodeRoomJoin, Message: "joining the room was cancelled", Cause: ctx.Err()}
		}
		return g, paths, &Error{Code: CodeRoomJoin, Message: "joining the room took longer than 15 s", Cause: joinCtx.Err()}
	}
	return g, paths, nil
}

// run starts the compositor: from now on the clock drives output. It ends
// by itself at until (0: never), or when close cancels the graph.
func (g *graph) run(until time.Duration) {
	g.compDone = make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.compErr = g.comp.Run(g.ctx, until)
		close(g.compDone)
	}()
}

// spawn runs f on a goroutine of the graph, which close waits for.
func (g *graph) spawn(f func(ctx context.Context)) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
}

// Scene changes, from room events. Loop only.

func (g *graph) addPeer(p room.Peer) {
	if g.tracks != nil {
		g.tracks.AddPeer(p, g.clock.Now())
	}
	g.comp.AddPeer(p)
}

func (g *graph) updatePeer(p room.Peer) { g.comp.UpdatePeer(p) }

// removePeer frees what the peer held at once: its tiles and tracks in the
// compositor, its lip-sync state here.
func (g *graph) removePeer(id string) {
	if g.tracks != nil {
		g.tracks.RemovePeer(id, g.clock.Now())
	}
	g.comp.RemovePeer(id)
	delete(g.syncs, id)
}

// removeTrack drops the track from the picture and the mix. Its pipeline
// ends by itself: the room ends a removed track's Read with io.EOF, once
// what was queued is read, and the pipeline then frees its decoder and
// jitter buffer. (Cancelling it instead would leave queued packets unread,
// and in fast mode each holds the virtual clock.)
func (g *graph) removeTrack(id string) { g.comp.RemoveTrack(id) }

// addTrack shows the track and starts its pipeline.
func (g *graph) addTrack(tr room.Track) {
	info := tr.Info()
	g.comp.AddTrack(info)
	if info.Muted {
		g.comp.SetMuted(info.ID, true)
	}
	s, ok := g.syncs[info.PeerID]
	if !ok {
		s = pipeline.NewSync(g.clock, g.exact)
		g.syncs[info.PeerID] = s
	}
	pc := pipeline.Config{
		Track: tr, Sync: s, Clock: g.clock, Sink: g.comp, Logger: g.log, // the pipeline names its track
	}
	var file *tracks.Writer
	if g.tracks != nil {
		var err error
		if file, err = g.tracks.Writer(info); err != nil {
			g.log.Warn("track not recorded", "track", info.ID, "err", err)
		} else {
			pc.Tap = file
		}
	}
	if g.audioOnly && info.Kind == room.KindVideo {
		if file == nil {
			g.discard(tr)
			return
		}
		// Recorded to its own file, never decoded.
		pc.Sink, pc.TapOnly = nil, true
	}
	p, err := pipeline.New(pc)
	if err != nil {
		g.log.Warn("track not shown", "track", info.ID, "err", err)
		if file != nil {
			file.Close() // never opened: nothing to finalize
		}
		g.discard(tr)
		return
	}
	g.spawn(func(ctx context.Context) {
		// The pipeline (and its track's file) is freed as soon as its track
		// ends, not with the job.
		defer p.Close()
		if file != nil {
			defer func() {
				if err := file.Close(); err != nil {
					g.log.Warn("track recording", "track", info.ID, "err", err)
				}
			}()
		}
		if err := p.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.log.Warn("track pipeline ended", "track", info.ID, "err", err)
		}
	})
}

// discard reads a track that has no pipeline to its end, so that the room
// (and a virtual clock) is not held up.
func (g *graph) discard(tr room.Track) {
	g.spawn(func(context.Context) {
		b := make([]byte, room.MaxPacketSize)
		for {
			if _, err := tr.Read(b); err != nil {
				return
			}
		}
	})
}

func (g *graph) setMuted(trackID string, muted bool) {
	if g.tracks != nil {
		g.tracks.SetMuted(trackID, muted, g.clock.Now())
	}
	g.comp.SetMuted(trackID, muted)
}

func (g *graph) setActiveSpeakers(s []room.Speaker) { g.comp.SetActiveSpeakers(s) }
func (g *graph) setLayout(d *layout.Document)       { g.comp.SetLayout(d) }

// tileSized passes a video track's shown size to rooms that can send a
// fitting simulcast layer. It runs on the compositor's goroutine, so the
// room is told on a goroutine of its own.
func (g *graph) tileSized(trackID string, w, h int) {
	vs, ok := g.room.(room.VideoSizer)
	if !ok {
		return
	}
	g.spawn(func(context.Context) {
		if err := vs.SetVideoSize(trackID, w, h); err != nil {
			g.log.Debug("choosing a video layer", "track", trackID, "err", err)
		}
	})
}

// close stops the graph in the one order that finalizes every output, and
// frees it. Parts a failed start did not build are skipped.
//
//  1. Cancel the graph's context: the compositor stops at its next frame;
//     the room and the pipelines start to wind down.
//  2. Wait for the compositor's Run: nothing is encoded after this.
//  3. Close the encoder: it flushes, so the last frames reach the fan-out.
//  4. Close the fan-out: every output writes what it has queued and
//     finalizes (an MP4's index, an HLS playlist), within 15 s. The
//     outputs run on outCtx, which step 1 leaves alone.
//  5. Close the room: every track's Read returns io.EOF.
//  6. Wait for every goroutine of the graph: each pipeline frees its
//     decoder as it ends, and finalizes its track file; then the track
//     manifest is written a last time.
//  7. Complete and verify the uploads (outputs.go), within
//     uploadFinishTimeout.
//  8. Close the compositor: its frames and scalers are freed.
//
// It returns the encoder's error, if flushing failed.
func (g *graph) close() error {
	g.cancel()
	if g.compDone != nil {
		<-g.compDone
	}
	var encErr error
	if g.enc != nil {
		encErr = g.enc.Close()
	}
	if g.fan != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := g.fan.Close(ctx); err != nil {
			g.log.Warn("outputs did not finish cleanly", "err", err)
		}
		cancel()
	}
	g.outCancel()
	if g.room != nil {
		if err := g.room.Close(); err != nil {
			g.log.Warn("closing the room", "err", err)
		}
	}
	g.wg.Wait()
	if g.tracks != nil {
		if err := g.tracks.Close(g.clock.Now()); err != nil {
			g.log.Warn("track manifest", "err", err)
		}
	}
	if g.thumbs != nil {
		g.thumbs.Close()
	}
	g.closeUpload()
	if g.comp != nil {
		g.comp.Close()
	}
	return encErr
}

// thumbnailTee hands each composite frame to the encoder and the
// thumbnails.
type thumbnailTee struct {
	compositor.Output
	thumbs *thumbnail.Writer
}

func (t thumbnailTee) WriteVideo(f *astiav.Frame, pts int64) error {
	t.thumbs.Frame(f, pts)
	return t.Output.WriteVideo(f, pts)
}
