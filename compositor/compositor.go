package compositor

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asticode/go-astiav"

	"github.com/roomcast/roomcast/compositor/layout"
	"github.com/roomcast/roomcast/compositor/overlay"
	"github.com/roomcast/roomcast/compositor/speaker"
	"github.com/roomcast/roomcast/internal/avframe"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

// lateLogEvery limits how often falling behind is logged.
const lateLogEvery = 10 * time.Second

type peerState struct {
	peer      room.Peer
	order     int
	level     int
	lastSpoke int
}

type trackState struct {
	info  room.TrackInfo
	order int
	muted bool
}

// Compositor composes the room into one video and one audio stream. Make one
// with New, feed it, Run it, then Close it.
type Compositor struct {
	cfg      Config
	log      *slog.Logger
	clk      mediaclock.Clock
	out      Output
	frameDur time.Duration // for logs only; frame times use exact math
	queueCap int

	mu       sync.Mutex
	closed   bool
	running  bool
	version  uint64 // bumped on every scene change
	engine   *layout.Engine
	bg       [3]byte         // the layout's background, YUV
	srcs     []layout.Source // relayout's, reused
	peers    map[string]*peerState
	tracks   map[string]*trackState
	video    map[string]*videoSource
	audio    map[string]*audioSource
	pool     framePool
	seq      uint64
	order    int
	speakSeq int
	mixer    mixer
	stats    Stats
	// The active speaker: the detector's, from the room's speaker events
	// once it has sent one (roomLevels), else from each peer's audio.
	speaker      *speaker.Detector
	roomSpeakers bool
	roomLevels   []speaker.Level
	levels       []speaker.Level // reused each frame
	active       string

	// Owned by Run's goroutine (and Close once Run is over).
	n        int64 // next frame
	canvas   *astiav.Frame
	cv       canvasPlanes
	canvasBg [3]byte           // the background draw paints, from bg
	redrawn  []image.Rectangle // draw's, reused
	overlays *overlay.Renderer
	tiles    []*tile
	drawnVer uint64
	mixBuf   []float32
	limiter  limiter
	lastLate time.Duration
	// shownVideo: an output frame has shown a peer's video (Run's goroutine).
	shownVideo bool
	// sized lists tiles whose video track or size changed at the last
	// re-layout, for Config.OnTileSize. Guarded by mu.
	sized []tileSize
}

// New validates cfg and makes a Compositor that writes to out on clk's time.
func New(cfg Config, clk mediaclock.Clock, out Output) (*Compositor, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if clk == nil {
		return nil, errors.New("compositor: clock is nil: pass the job's mediaclock.Clock")
	}
	if out == nil {
		return nil, errors.New("compositor: output is nil: pass the encoder")
	}
	perTick := (cfg.SampleRate + cfg.FPS - 1) / cfg.FPS
	c := &Compositor{
		cfg:      cfg,
		log:      cfg.Logger,
		clk:      clk,
		out:      out,
		frameDur: time.Second / time.Duration(cfg.FPS),
		// Enough frames to cover the latency at the output rate, so
		// thinning a full queue never costs a frame the output would show.
		queueCap: max(minQueue, int(cfg.Latency*time.Duration(cfg.FPS)/time.Second)+3),
		engine:   layout.NewEngine(cfg.Layout),
		stats:    Stats{FirstVideoFrame: -1},
		peers:    map[string]*peerState{},
		tracks:   map[string]*trackState{},
		video:    map[string]*videoSource{},
		audio:    map[string]*audioSource{},
		mixer:    newMixer(cfg.SampleRate, cfg.Latency),
		mixBuf:   make([]float32, 2*perTick),
		limiter:  newLimiter(cfg.SampleRate),
		speaker:  speaker.New(0, 0, 0),
		version:  1,
	}
	if cfg.AudioOnly {
		return c, nil
	}
	c.canvas = astiav.AllocFrame()
	c.canvas.SetWidth(cfg.Width)
	c.canvas.SetHeight(cfg.Height)
	c.canvas.SetPixelFormat(astiav.PixelFormatYuv420P)
	if err := c.canvas.AllocBuffer(0); err != nil {
		c.canvas.Free()
		return nil, fmt.Errorf("compositor: allocating the %dx%d canvas: %w", cfg.Width, cfg.Height, err)
	}
	c.cv.frame = c.canvas
	if c.cv.planes, c.cv.lines, err = avframe.VideoPlanes(c.canvas); err != nil {
		c.canvas.Free()
		return nil, fmt.Errorf("compositor: the canvas' planes: %w", err)
	}
	c.bg = yuvOf(c.engine.Document().Background)
	// Any layout document may turn overlays on, also later by SetLayout.
	if c.overlays, err = overlay.NewRenderer(); err != nil {
		c.canvas.Free()
		return nil, fmt.Errorf("compositor: %w", err)
	}
	return c, nil
}

// AddPeer gives the peer a tile, a placeholder until it has video.
func (c *Compositor) AddPeer(p room.Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addPeerLocked(p)
}

func (c *Compositor) addPeerLocked(p room.Peer) *peerState {
	if ps, ok := c.peers[p.ID]; ok {
		if p != (room.Peer{ID: p.ID}) {
			ps.peer = p
		}
		return ps
	}
	c.order++
	ps := &peerState{peer: p, order: c.order}
	c.peers[p.ID] = ps
	c.version++
	return ps
}

// UpdatePeer records a peer's new name, role or metadata.
func (c *Compositor) UpdatePeer(p room.Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps, ok := c.peers[p.ID]; ok {
		ps.peer = p
		return
	}
	c.addPeerLocked(p)
}

// RemovePeer removes the peer, its tracks and its tiles; the others re-lay out.
func (c *Compositor) RemovePeer(peerID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.peers[peerID]; !ok {
		return
	}
	delete(c.peers, peerID)
	c.speaker.Forget(peerID)
	if c.active == peerID {
		c.active = ""
	}
	for id, ts := range c.tracks {
		if ts.info.PeerID == peerID {
			c.removeTrackLocked(id)
		}
	}
	c.version++
}

// AddTrack adds a track. A regular video track shows in its peer's tile, a
// screen share or plugin video gets a tile of its own, audio is mixed. A
// track of a peer not added yet adds the peer.
func (c *Compositor) AddTrack(info room.TrackInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if info.ID == "" {
		c.log.Warn("compositor: ignoring a track with no ID", "peer", info.PeerID)
		return
	}
	c.addPeerLocked(room.Peer{ID: info.PeerID})
	if c.cfg.AudioOnly && info.Kind == room.KindVideo {
		return
	}
	if ts, ok := c.tracks[info.ID]; ok {
		ts.info = info
		ts.muted = info.Muted
		c.setMutedLocked(info.ID, info.Muted)
		c.version++
		return
	}
	c.order++
	c.tracks[info.ID] = &trackState{info: info, order: c.order, muted: info.Muted}
	switch info.Kind {
	case room.KindVideo:
		c.video[info.ID] = &videoSource{muted: info.Muted}
	case room.KindAudio:
		a := newAudioSource(c.mixer.capN)
		a.muted, a.peer = info.Muted, info.PeerID
		c.audio[info.ID] = a
	default:
		c.log.Warn("compositor: track of unknown kind is not shown", "track", info.ID, "kind", info.Kind)
	}
	c.version++
}

// RemoveTrack removes a track; a tile of its own goes away.
func (c *Compositor) RemoveTrack(trackID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeTrackLocked(trackID)
}

func (c *Compositor) removeTrackLocked(id string) {
	if _, ok := c.tracks[id]; !ok {
		return
	}
	delete(c.tracks, id)
	if v, ok := c.video[id]; ok {
		v.release(&c.pool)
		delete(c.video, id)
	}
	delete(c.audio, id)
	c.version++
}

// SetMuted mutes or unmutes a track: muted video shows the placeholder, muted
// audio is silent.
func (c *Compositor) SetMuted(trackID string, muted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ts, ok := c.tracks[trackID]
	if !ok || ts.muted == muted {
		return
	}
	ts.muted = muted
	c.setMutedLocked(trackID, muted)
	c.version++
}

func (c *Compositor) setMutedLocked(id string, muted bool) {
	if v, ok := c.video[id]; ok {
		v.muted = muted
		if muted {
			// Unmuting must not flash the picture from before the mute.
			v.release(&c.pool)
		}
	}
	if a, ok := c.audio[id]; ok {
		a.muted = muted
		if muted {
			clear(a.ring)
			a.anchored = false
		}
	}
}

// SetActiveSpeakers records the room's latest speaker update. From the
// first one on, the room's updates, not the decoded audio, say who speaks;
// the stage still follows them with the detector's hysteresis.
func (c *Compositor) SetActiveSpeakers(s []room.Speaker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.roomSpeakers = true
	c.roomLevels = c.roomLevels[:0]
	for _, sp := range s {
		if sp.Level > 0 {
			// Levels 1..100 map to -40..0 dBFS, above the detector's
			// silence.
			c.roomLevels = append(c.roomLevels, speaker.Level{PeerID: sp.PeerID, DBFS: 20 * math.Log10(float64(sp.Level)/100)})
		}
	}
}

// followSpeaker updates the active speaker at output time at, after the
// frame's audio is mixed. Called with mu held.
func (c *Compositor) followSpeaker(at time.Duration) {
	levels := c.roomLevels
	if !c.roomSpeakers {
		c.levels = c.levels[:0]
		for _, a := range c.audio {
			if !a.muted && a.meanSquare > 0 {
				c.levels = append(c.levels, speaker.Level{PeerID: a.peer, DBFS: speaker.DBFS(a.meanSquare)})
			}
		}
		levels = c.levels
	}
	now := c.speaker.Update(at, levels)
	if now == c.active {
		return
	}
	c.active = now
	c.speakSeq++
	for id, p := range c.peers {
		p.level = 0
		if id == now {
			p.level, p.lastSpoke = 100, c.speakSeq
		}
	}
	// The stage, the speaker's border and the filmstrips follow.
	c.version++
}

// SetLayout switches to layout document d (nil: the grid preset) from the
// next frame on, whole.
func (c *Compositor) SetLayout(d *layout.Document) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.engine.SetDocument(d)
	c.bg = yuvOf(c.engine.Document().Background)
	c.version++
}

// PushVideo queues a decoded frame of a track for media time t. It takes its
// own reference, so the caller may reuse f. It never waits for the clock.
func (c *Compositor) PushVideo(trackID string, f *astiav.Frame, t time.Duration) {
	if f == nil || f.Width() <= 0 || f.Height() <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.video[trackID]
	if c.closed || !ok || v.muted {
		return
	}
	r := c.pool.get()
	if err := r.Ref(f); err != nil {
		c.pool.put(r)
		c.log.Warn("compositor: referencing a video frame", "track", trackID, "error", err)
		return
	}
	c.seq++
	if v.push(queuedFrame{f: r, t: t, seq: c.seq}, c.queueCap, &c.pool) {
		c.stats.DroppedFrames++
	}
}

// PushAudio places interleaved stereo samples of a track at media time t. It
// copies them and never waits for the clock.
func (c *Compositor) PushAudio(trackID string, samples []float32, t time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.audio[trackID]
	if c.closed || !ok || a.muted {
		return
	}
	late, over := c.mixer.push(a, samples, t)
	c.stats.LateAudio += late
	c.stats.OverflowAudio += over
}

// frameTime is frame n's output time, exact for any n.
func (c *Compositor) frameTime(n int64) time.Duration {
	fps := int64(c.cfg.FPS)
	return time.Duration(n/fps)*time.Second + time.Duration(n%fps)*time.Second/time.Duration(fps)
}

// samplesAt is the number of audio samples in frames 0..n-1.
func (c *Compositor) samplesAt(n int64) int64 {
	fps, sr := int64(c.cfg.FPS), int64(c.cfg.SampleRate)
	return n/fps*sr + n%fps*sr/fps
}

// Run writes a frame every 1/FPS of the clock until ctx is done (returning its
// error) or the next frame's time reaches until (returning nil; 0 means no
// limit). A later Run continues where the previous one stopped.
func (c *Compositor) Run(ctx context.Context, until time.Duration) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return errors.New("compositor: Run after Close")
	case c.running:
		c.mu.Unlock()
		return errors.New("compositor: Run is already running")
	}
	c.running = true
	c.mu.Unlock()

	c.clk.Hold()
	defer c.clk.Release()
	defer func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.running = false
		if c.closed {
			c.freeRender()
		}
	}()

	for {
		at := c.frameTime(c.n)
		if until > 0 && at >= until {
			return nil
		}
		if err := c.clk.SleepUntil(ctx, at); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.tick(at); err != nil {
			return err
		}
	}
}

// tick composes, mixes and writes frame c.n due at output time at.
func (c *Compositor) tick(at time.Duration) error {
	if c.cfg.AudioOnly {
		return c.tickAudio(at)
	}
	behind := c.clk.Now() - at
	mt := at - c.cfg.Latency
	a0, a1 := c.samplesAt(c.n), c.samplesAt(c.n+1)
	audio := c.mixBuf[:2*(a1-a0)]

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("compositor: closed while running")
	}
	full := false
	if c.drawnVer != c.version {
		// The first frame paints the whole canvas, even with no tiles.
		full = c.relayout() || c.drawnVer == 0 || c.canvasBg != c.bg
		c.drawnVer = c.version
		c.canvasBg = c.bg
	}
	for _, v := range c.video {
		// The frame nearest the output time, not the last one before it:
		// a source whose frames land a few ms off the output grid would
		// otherwise show every frame a whole output frame late, and its
		// lip sync would be off by up to a frame instead of half of one.
		v.advance(mt+c.frameDur/2-1, &c.pool) // a tie goes to the later frame
	}
	for _, t := range c.tiles {
		c.take(t)
	}
	c.mixer.mix(audio, c.audio)
	c.followSpeaker(at)
	late := behind > c.frameDur
	if late {
		c.stats.LateTicks++
	}
	sized := c.sized
	c.sized = c.sized[:0:0]
	c.mu.Unlock()
	if c.cfg.OnTileSize != nil {
		for _, s := range sized {
			c.cfg.OnTileSize(s.trackID, s.w, s.h)
		}
	}

	if late && (c.lastLate == 0 || at-c.lastLate >= lateLogEvery) {
		c.log.Warn("compositor: behind the clock; emitting every frame anyway", "behind", behind, "frame", c.n)
		c.lastLate = at
	}
	shows := c.draw(full)
	c.limiter.process(audio)
	if shows && !c.shownVideo {
		c.shownVideo = true
		c.mu.Lock()
		c.stats.FirstVideoFrame = c.n
		c.mu.Unlock()
		c.log.Info("compositor: first frame with a peer's video", "frame", c.n, "at", at)
	}

	c.canvas.SetPts(c.n)
	if err := c.out.WriteVideo(c.canvas, c.n); err != nil {
		return fmt.Errorf("compositor: writing video frame %d: %w", c.n, err)
	}
	if err := c.out.WriteAudio(audio, a0); err != nil {
		return fmt.Errorf("compositor: writing audio at sample %d: %w", a0, err)
	}
	c.n++
	c.mu.Lock()
	c.stats.Frames = c.n
	c.stats.AudioSamples = a1
	c.mu.Unlock()
	return nil
}

// tickAudio mixes and writes the audio of tick c.n, due at output time at,
// for an audio-only compositor: no picture, and no active speaker to
// follow, as it only ever chooses a layout.
func (c *Compositor) tickAudio(at time.Duration) error {
	behind := c.clk.Now() - at
	a0, a1 := c.samplesAt(c.n), c.samplesAt(c.n+1)
	audio := c.mixBuf[:2*(a1-a0)]
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("compositor: closed while running")
	}
	c.mixer.mix(audio, c.audio)
	late := behind > c.frameDur
	if late {
		c.stats.LateTicks++
	}
	c.mu.Unlock()
	if late && (c.lastLate == 0 || at-c.lastLate >= lateLogEvery) {
		c.log.Warn("compositor: behind the clock; mixing every tick anyway", "behind", behind, "tick", c.n)
		c.lastLate = at
	}
	c.limiter.process(audio)
	if err := c.out.WriteAudio(audio, a0); err != nil {
		return fmt.Errorf("compositor: writing audio at sample %d: %w", a0, err)
	}
	c.n++
	c.mu.Lock()
	c.stats.AudioSamples = a1
	c.mu.Unlock()
	return nil
}

// relayout rebuilds the tiles from the scene, keeping the render state of
// tiles that stay, with the layout engine's placements. It reports whether
// the canvas must be redrawn whole. Called with mu held.
func (c *Compositor) relayout() bool {
	type want struct {
		key, trackID, peerID string
	}
	var wants []want
	c.srcs = c.srcs[:0]
	// The camera: the latest unmuted regular video track, else the latest.
	camera := map[string]*trackState{}
	for _, ts := range c.tracks {
		if ts.info.Kind != room.KindVideo {
			continue
		}
		if ts.info.Source == room.SourceRegular {
			cur := camera[ts.info.PeerID]
			if cur == nil || (cur.muted && !ts.muted) || (cur.muted == ts.muted && ts.order > cur.order) {
				camera[ts.info.PeerID] = ts
			}
			continue
		}
		p := c.peers[ts.info.PeerID]
		if p == nil {
			continue
		}
		key := "t:" + ts.info.ID
		wants = append(wants, want{key: key, trackID: ts.info.ID, peerID: ts.info.PeerID})
		src := c.sourceOf(key, p)
		src.TrackID, src.Screen = ts.info.ID, ts.info.Source == room.SourceScreen
		src.HasVideo, src.MicMuted, src.ActiveSpeaker = !ts.muted, false, false
		c.srcs = append(c.srcs, src)
	}
	for id, p := range c.peers {
		w := want{key: "p:" + id, peerID: id}
		src := c.sourceOf(w.key, p)
		if ts := camera[id]; ts != nil {
			w.trackID = ts.info.ID
			src.HasVideo = !ts.muted
		}
		wants = append(wants, w)
		c.srcs = append(c.srcs, src)
	}
	places := c.engine.Arrange(c.srcs, c.cfg.Width, c.cfg.Height)

	old := make(map[string]*tile, len(c.tiles))
	for _, t := range c.tiles {
		old[t.key] = t
	}
	full := len(wants) != len(c.tiles)
	tiles := make([]*tile, len(wants))
	for i, w := range wants {
		pl := places[i]
		rect := image.Rectangle{}
		if pl.Shown {
			rect = pl.Rect
		}
		t, ok := old[w.key]
		if ok {
			delete(old, w.key)
		} else {
			t = &tile{key: w.key, color: placeholderColor(w.peerID), frame: astiav.AllocFrame()}
			full = true
		}
		if t.rect != rect || t.z != pl.Z || t.radius != pl.Radius || t.fit != pl.Fit {
			full = true
		}
		if t.trackID != w.trackID || t.overlay != pl.Overlay {
			t.drawn = false
		}
		if w.trackID != "" && (t.trackID != w.trackID || t.rect.Size() != rect.Size()) {
			c.sized = append(c.sized, tileSize{w.trackID, rect.Dx(), rect.Dy()})
		}
		t.peerID, t.rect, t.trackID = w.peerID, rect, w.trackID
		t.z, t.fit, t.radius, t.overlay = pl.Z, pl.Fit, pl.Radius, pl.Overlay
		t.name = c.srcs[i].Name
		tiles[i] = t
	}
	for _, t := range old {
		t.free()
	}
	// Drawn by z (a picture in picture over its stage), then by key: map
	// order is random.
	slices.SortFunc(tiles, func(a, b *tile) int {
		if a.z != b.z {
			return a.z - b.z
		}
		return strings.Compare(a.key, b.key)
	})
	c.tiles = tiles
	c.stats.Tiles = len(tiles)
	return full
}

// sourceOf is what the layout engine knows of a peer's tile. Called with mu
// held.
func (c *Compositor) sourceOf(key string, p *peerState) layout.Source {
	name := p.peer.Name
	if name == "" {
		name = p.peer.ID
	}
	return layout.Source{
		Key: key, PeerID: p.peer.ID, Name: name, Role: p.peer.Role, Metadata: p.peer.Metadata,
		JoinOrder: p.order, MicMuted: c.micMutedLocked(p.peer.ID),
		ActiveSpeaker: p.peer.ID == c.active, LastSpoke: p.lastSpoke,
	}
}

// take points the tile at the frame its source shows now, taking a reference
// of our own so drawing needs no lock. Called with mu held.
func (c *Compositor) take(t *tile) {
	var want uint64
	v := c.video[t.trackID]
	if v != nil && !v.muted && v.cur != nil {
		want = v.curSeq
	}
	if want == t.seq {
		return
	}
	t.frame.Unref()
	t.seq = 0
	if want == 0 {
		return
	}
	if err := t.frame.Ref(v.cur); err != nil {
		c.log.Warn("compositor: referencing a frame to show", "track", t.trackID, "error", err)
		return
	}
	t.seq = want
}

// draw brings the canvas up to date: the whole of it after a re-layout,
// otherwise only the tiles whose picture changed. It reports whether any
// tile shows a peer's video.
func (c *Compositor) draw(full bool) (shows bool) {
	fresh := full // a tile shows a picture it did not show last frame
	bg := c.canvasBg
	if full {
		if err := avframe.Fill(c.canvas, 0, 0, c.cfg.Width, c.cfg.Height, bg[0], bg[1], bg[2]); err != nil {
			c.log.Error("compositor: painting the background", "error", err)
		}
	}
	// Tiles come in z order. One drawn over a higher tile's area (a stage
	// under its picture in picture) makes that one redraw too.
	c.redrawn = c.redrawn[:0]
	for _, t := range c.tiles {
		if !full && t.drawn && t.drawnSeq == t.seq && !overlapsAny(t.rect, c.redrawn) {
			continue
		}
		if !t.rect.Empty() {
			c.redrawn = append(c.redrawn, t.rect)
		}
		err := c.drawTile(t)
		if err != nil {
			c.mu.Lock()
			c.stats.DrawErrors++
			c.mu.Unlock()
			if !t.failed {
				c.log.Warn("compositor: showing a placeholder for a frame that cannot be drawn", "tile", t.key, "error", err)
			}
			t.failed = true
			seq := t.seq
			t.seq = 0
			_ = c.drawTile(t)
			t.seq = seq
		} else {
			t.failed = false
		}
		t.drawn, t.drawnSeq = true, t.seq
		fresh = fresh || t.seq != 0
		shows = shows || (t.seq != 0 && !t.failed && !t.rect.Empty())
	}
	if !fresh && c.showsVideo() {
		c.mu.Lock()
		c.stats.DuplicatedFrames++
		c.mu.Unlock()
	}
	return shows
}

// showsVideo reports whether a tile shows a peer's picture (not a
// placeholder). Run's goroutine only.
func (c *Compositor) showsVideo() bool {
	for _, t := range c.tiles {
		if t.seq != 0 && !t.failed && !t.rect.Empty() {
			return true
		}
	}
	return false
}

func overlapsAny(r image.Rectangle, rs []image.Rectangle) bool {
	for _, o := range rs {
		if r.Overlaps(o) {
			return true
		}
	}
	return false
}

// Stats returns a snapshot of the counters.
func (c *Compositor) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Peers = len(c.peers)
	s.VideoSources = len(c.video)
	s.AudioSources = len(c.audio)
	return s
}

// Close frees the frames and scalers. Call it once Run has returned; if Run
// is still going it stops at its next frame with an error and frees what it
// draws with itself.
func (c *Compositor) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for id, v := range c.video {
		v.release(&c.pool)
		delete(c.video, id)
	}
	clear(c.audio)
	c.pool.close()
	if !c.running {
		c.freeRender()
	}
}

// freeRender frees what Run's goroutine owns. Called with mu held, once
// closed and not running.
func (c *Compositor) freeRender() {
	for _, t := range c.tiles {
		t.free()
	}
	c.tiles = nil
	if c.canvas != nil {
		c.canvas.Free()
		c.canvas = nil
	}
}

type tileSize struct {
	trackID string
	w, h    int
}
