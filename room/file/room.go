package file

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/internal/mediafile"
	"github.com/roomcast/roomcast/room"
)

// Options configure a file room.
type Options struct {
	// Clock is the job clock, required: mediaclock.NewReal(), or
	// mediaclock.NewVirtual() to run as fast as the pipeline allows.
	Clock  mediaclock.Clock
	Logger *slog.Logger // nil: discard
	Impair Impairment
	// Trim cuts the spans in which no peer has media (Manifest.Trim).
	Trim bool
	// Root, when set, is the folder every media file must lie in
	// (LoadIn): serve's --rooms-dir, for rooms an API caller chose.
	Root string
}

// Impairment degrades delivery deterministically, to exercise jitter
// buffers. It acts per track on RTP packets after packetization, so sequence
// numbers show the gaps and swaps; sender reports still count every packet
// sent, as a real sender's do.
type Impairment struct {
	LossPct    float64 // percent of packets dropped, 0..100
	ReorderPct float64 // percent of packets delivered after the next one, 0..100
	Seed       int64   // same seed, same losses and swaps
}

// eventBuffer is the Events channel's capacity.
const eventBuffer = 64

// Room is a file room. It implements room.Room and room.Timeline.
type Room struct {
	manifest *Manifest
	clock    mediaclock.Clock
	log      *slog.Logger
	impair   Impairment
	events   chan room.Event

	mu      sync.Mutex
	started bool
	closed  bool
	err     error
	tracks  []*track // every track ever added, for Stats and Close
	cancel  context.CancelFunc
	done    chan struct{} // closed when the scheduler has exited

	sentEvents bool // scheduler only: events sent since it last waited for them

	closeOnce sync.Once
}

var (
	_ room.Room     = (*Room)(nil)
	_ room.Timeline = (*Room)(nil)
)

// Open loads the manifest and prepares the room. Nothing is read from the
// media files until Start. The room holds the clock from Open until it ends
// or is closed, so call Close even if Start is never called.
func Open(manifestPath string, opts Options) (*Room, error) {
	if opts.Clock == nil {
		return nil, errors.New("file room: Options.Clock is required: use mediaclock.NewReal(), or mediaclock.NewVirtual() for --fast")
	}
	for _, v := range []struct {
		name string
		pct  float64
	}{{"LossPct", opts.Impair.LossPct}, {"ReorderPct", opts.Impair.ReorderPct}} {
		if math.IsNaN(v.pct) || v.pct < 0 || v.pct > 100 {
			return nil, fmt.Errorf("file room: Impairment.%s is %v; use a percentage from 0 to 100", v.name, v.pct)
		}
	}
	m, err := LoadIn(manifestPath, opts.Root)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Trim {
		for _, c := range m.Trim() {
			log.Info("file room: trimmed a span without media", "from", c.From, "to", c.To)
		}
	}
	// The room holds the clock from now until its scheduler exits (or
	// Close, if Start never comes): a virtual clock must not run ahead of
	// peers that are due at time zero just because the pipeline started
	// sleeping on it before the room started.
	opts.Clock.Hold()
	return &Room{
		manifest: m,
		clock:    opts.Clock,
		log:      log.With("room", "file:"+manifestPath),
		impair:   opts.Impair,
		events:   make(chan room.Event, eventBuffer),
		done:     make(chan struct{}),
	}, nil
}

// Manifest returns the room's validated manifest.
func (r *Room) Manifest() *Manifest { return r.manifest }

// Epoch implements room.Timeline: sender reports are stamped from the job
// clock's epoch, so NTP time t is job time t.Sub(Epoch()) exactly.
func (r *Room) Epoch() time.Time { return r.clock.Epoch() }

// Events implements room.Room.
func (r *Room) Events() <-chan room.Event { return r.events }

// Err implements room.Room: nil when the media ran out or Close ended the
// room, ctx's error when the Start context was cancelled, or what failed.
func (r *Room) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Start implements room.Room. It starts the scheduler and returns at once:
// a file room has nothing to connect to. Peers join at their join times. The
// context bounds the room's life: cancelling it ends the room like Close,
// with Err reporting the context's error.
func (r *Room) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("file room: Start after Close")
	}
	if r.started {
		return errors.New("file room: already started")
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	go r.run(ctx) // takes over the hold Open took
	return nil
}

// Close implements room.Room. It stops the scheduler, releases every clock
// hold the room's tracks have, and makes reads return io.EOF. It is
// idempotent.
func (r *Room) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		started := r.started
		cancel := r.cancel
		r.mu.Unlock()
		if started {
			cancel()
			<-r.done
		} else {
			close(r.events)
			r.clock.Release() // the hold Open took
		}
		r.mu.Lock()
		tracks := r.tracks
		r.mu.Unlock()
		for _, t := range tracks {
			t.close()
		}
	})
	return nil
}

// TrackStats are one track's counters.
type TrackStats struct {
	TrackID   string
	Kind      room.Kind
	Source    room.Source
	Frames    uint64 // frames packetized
	Packets   uint64 // RTP packets sent, lost ones included
	Octets    uint64 // RTP payload bytes sent
	Lost      uint64 // packets dropped by the impairment
	Reordered uint64 // packets delivered after their successor
	// Overlaps counts audio frames dropped because the file's audio steps
	// back over audio already sent (an edited or looped file).
	Overlaps         uint64
	SenderReports    uint64
	RTCPDropped      uint64 // RTCP compounds dropped because the reader lagged
	KeyframeRequests uint64
}

// Stats are the room's counters, one entry per track in the order added.
type Stats struct {
	Tracks []TrackStats
}

// Stats returns the counters so far. It is safe to call at any time.
func (r *Room) Stats() Stats {
	r.mu.Lock()
	tracks := append([]*track(nil), r.tracks...)
	r.mu.Unlock()
	var s Stats
	for _, t := range tracks {
		c := &t.stats
		s.Tracks = append(s.Tracks, TrackStats{
			TrackID:          t.info.ID,
			Kind:             t.info.Kind,
			Source:           t.info.Source,
			Frames:           c.frames.Load(),
			Packets:          c.packets.Load(),
			Octets:           c.octets.Load(),
			Lost:             c.lost.Load(),
			Reordered:        c.reordered.Load(),
			Overlaps:         c.overlaps.Load(),
			SenderReports:    c.senderReports.Load(),
			RTCPDropped:      c.rtcpDropped.Load(),
			KeyframeRequests: c.keyframeReqs.Load(),
		})
	}
	return s
}

// peerState is a peer as the scheduler runs it.
type peerState struct {
	spec    *PeerSpec
	peer    room.Peer
	joined  bool
	left    bool
	files   []*demuxer
	senders []*sender // audio, video, screen: the order tracks are added
}

func (p *peerState) sender(kind room.Kind, source room.Source) *sender {
	for _, s := range p.senders {
		if s.t.info.Kind == kind && s.t.info.Source == source {
			return s
		}
	}
	return nil
}

// Scripted events, in the order they run when due at the same time.
type eventKind int

const (
	evJoin eventKind = iota
	evMute
	evUnmute
)

type timedEvent struct {
	at   time.Duration
	kind eventKind
	peer *peerState
	what room.Kind // for mutes: which camera track
}

// step is the scheduler's next action.
type step int

const (
	stepNone   step = iota
	stepRemove      // a screen track whose file ended
	stepLeave
	stepEvent
	stepPacket
)

// run is the scheduler: it walks the merged timeline of every peer's events
// and packets in time order and sleeps on the job clock until each is due.
// It holds the clock (the hold Open took) while awake; SleepUntil gives the
// hold up while it sleeps, and it lets go for good when it exits.
func (r *Room) run(ctx context.Context) {
	var peers []*peerState
	var static []timedEvent
	for i := range r.manifest.Peers {
		spec := &r.manifest.Peers[i]
		p := &peerState{spec: spec, peer: room.Peer{ID: spec.ID, Name: spec.Name, Role: spec.Role, Metadata: spec.Metadata}}
		peers = append(peers, p)
		static = append(static, timedEvent{at: spec.Join, kind: evJoin, peer: p})
		for _, mk := range []struct {
			kind room.Kind
			ivs  []Interval
		}{{room.KindAudio, spec.MuteAudio}, {room.KindVideo, spec.MuteVideo}} {
			kind := mk.kind
			for _, iv := range mk.ivs {
				if iv.From > spec.Join {
					static = append(static, timedEvent{at: iv.From, kind: evMute, peer: p, what: kind})
				}
				if iv.To > spec.Join {
					static = append(static, timedEvent{at: iv.To, kind: evUnmute, peer: p, what: kind})
				}
			}
		}
	}
	sort.SliceStable(static, func(a, b int) bool {
		if static[a].at != static[b].at {
			return static[a].at < static[b].at
		}
		return static[a].kind < static[b].kind
	})

	err := r.schedule(ctx, peers, static)
	r.awaitEventsTaken(ctx) // the last PeerLeft, before the clock runs free
	for _, p := range peers {
		for _, s := range p.senders {
			s.flush()
			s.t.end()
		}
		for _, d := range p.files {
			d.close()
		}
	}
	r.mu.Lock()
	switch {
	case r.closed:
		r.err = nil
	case errors.Is(err, context.Canceled):
		// Whoever started the room ended it: say so, but it is no failure.
		r.err = err
		r.log.Debug("file room stopped", "err", err)
	case err != nil:
		r.err = err
		r.log.Error("file room failed", "err", err)
	}
	r.mu.Unlock()
	close(r.events)
	r.clock.Release()
	close(r.done)
}

func (r *Room) schedule(ctx context.Context, peers []*peerState, static []timedEvent) error {
	never := time.Duration(math.MaxInt64)
	for {
		// Pick the earliest action; at equal times removals and leaves go
		// first, then scripted events, then packets.
		best, what := never, stepNone
		var bestPeer *peerState
		var bestSender *sender
		var bestEvent *timedEvent
		consider := func(at time.Duration, st step) bool {
			if at < best || (at == best && st < what) {
				best, what = at, st
				return true
			}
			return false
		}
		if len(static) > 0 && consider(static[0].at, stepEvent) {
			bestEvent = &static[0]
		}
		for _, p := range peers {
			if !p.joined || p.left {
				continue
			}
			allDone, end := true, p.spec.Join
			for _, s := range p.senders {
				if s.removed {
					end = max(end, s.endAt)
					continue
				}
				f, err := s.peek(p.spec.Leave)
				if err != nil {
					return err
				}
				if f != nil {
					allDone = false
					if consider(f.sched, stepPacket) {
						bestPeer, bestSender = p, s
					}
					continue
				}
				end = max(end, s.endAt)
				// A screen share whose file ended stops while the peer
				// stays: its track goes away, as when a user stops sharing.
				if s.screen && (p.spec.Leave == 0 || s.endAt < p.spec.Leave) && consider(s.endAt, stepRemove) {
					bestPeer, bestSender = p, s
				}
			}
			leave := never
			if p.spec.Leave > 0 {
				leave = p.spec.Leave
			}
			if allDone {
				leave = min(leave, end)
			}
			if leave != never && consider(leave, stepLeave) {
				bestPeer = p
			}
		}
		if what == stepNone {
			return nil // everyone has left and no one is left to join
		}
		if best > r.clock.Now() {
			r.awaitEventsTaken(ctx)
		}
		if err := r.clock.SleepUntil(ctx, best); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch what {
		case stepPacket:
			bestSender.sendNext(r.clock.Epoch())
		case stepRemove:
			if err := r.removeTrack(ctx, bestPeer, bestSender); err != nil {
				return err
			}
		case stepLeave:
			if err := r.leave(ctx, bestPeer); err != nil {
				return err
			}
		case stepEvent:
			ev := *bestEvent
			static = static[1:]
			if err := r.scripted(ctx, ev); err != nil {
				return err
			}
		}
	}
}

// eventsTakenWait bounds how long the scheduler waits, in wall time, for the
// consumer to take the events it sent before letting a virtual clock move on.
const eventsTakenWait = 100 * time.Millisecond

// awaitEventsTaken keeps the scheduler's hold, so a virtual clock stays put,
// until the consumer has received every event sent since the last call. Nothing else
// holds the clock for an event (a channel cannot tell the room when its
// receiver is done with one), and without this wait the clock could run
// seconds ahead of a PeerLeft that the consumer has not yet seen. The wait
// is bounded so a consumer that reads events only when the clock moves
// cannot deadlock the room; it polls because a channel offers no "drained"
// notification, and it only runs while events are pending.
func (r *Room) awaitEventsTaken(ctx context.Context) {
	if !r.clock.Virtual() || !r.sentEvents {
		return
	}
	r.sentEvents = false
	deadline := time.Now().Add(eventsTakenWait)
	for len(r.events) > 0 && ctx.Err() == nil {
		if time.Now().After(deadline) {
			r.log.Warn("file room: events not taken; the virtual clock moves on", "pending", len(r.events), "at", r.clock.Now())
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
	// A receiver that was already waiting took the last event straight
	// from the send and has not run yet: block once so it gets a processor
	// before the clock moves.
	time.Sleep(50 * time.Microsecond)
}

func (r *Room) emit(ctx context.Context, ev room.Event) error {
	r.log.Debug("file room event", "event", ev.String(), "at", r.clock.Now())
	select {
	case r.events <- ev:
		r.sentEvents = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Room) scripted(ctx context.Context, ev timedEvent) error {
	p := ev.peer
	switch ev.kind {
	case evJoin:
		return r.join(ctx, p)
	case evMute, evUnmute:
		if !p.joined || p.left {
			return nil
		}
		s := p.sender(ev.what, room.SourceRegular)
		if s == nil || s.removed {
			return nil
		}
		typ := room.TrackMuted
		if ev.kind == evUnmute {
			typ = room.TrackUnmuted
		}
		return r.emit(ctx, room.Event{Type: typ, Peer: p.peer, TrackID: s.t.info.ID})
	}
	return nil
}

// join opens the peer's files and announces the peer and its tracks.
func (r *Room) join(ctx context.Context, p *peerState) error {
	spec := p.spec
	p.joined = true
	type source struct {
		mf     *MediaFile
		si     *mediafile.Stream
		kind   room.Kind
		src    room.Source
		suffix string
		mutes  []Interval
		start  time.Duration // job time of the file's time 0
	}
	var sources []source
	switch {
	case spec.Audio != nil:
		sources = append(sources, source{spec.Audio, spec.Audio.Audio, room.KindAudio, room.SourceRegular, "audio", spec.MuteAudio, spec.Join + spec.AudioOffset})
	case spec.Media.Audio != nil:
		sources = append(sources, source{spec.Media, spec.Media.Audio, room.KindAudio, room.SourceRegular, "audio", spec.MuteAudio, spec.Join + spec.MediaOffset})
	}
	if spec.Media.Video != nil {
		sources = append(sources, source{spec.Media, spec.Media.Video, room.KindVideo, room.SourceRegular, "video", spec.MuteVideo, spec.Join + spec.MediaOffset})
	}
	if spec.Screen != nil {
		sources = append(sources, source{spec.Screen, spec.Screen.Video, room.KindVideo, room.SourceScreen, "screen", nil, spec.Join + spec.ScreenOffset})
	}
	demuxers := map[*MediaFile]*demuxer{}
	for _, so := range sources {
		d := demuxers[so.mf]
		if d == nil {
			var err error
			if d, err = openDemuxer(so.mf); err != nil {
				return fmt.Errorf("peer %s: %w", spec.Name, err)
			}
			demuxers[so.mf] = d
			p.files = append(p.files, d)
		}
		info := room.TrackInfo{
			ID:     spec.ID + "/" + so.suffix,
			PeerID: spec.ID,
			Kind:   so.kind,
			Source: so.src,
			Codec:  so.si.Codec,
		}
		for _, m := range so.mutes {
			if spec.Join >= m.From && spec.Join < m.To {
				info.Muted = true
			}
		}
		t := newTrack(info, r.clock)
		snd := newSender(t, d, so.si, so.start, so.mutes, r.impair, r.log)
		if err := d.add(snd); err != nil {
			return fmt.Errorf("peer %s: %w", spec.Name, err)
		}
		p.senders = append(p.senders, snd)
		r.mu.Lock()
		r.tracks = append(r.tracks, t)
		r.mu.Unlock()
	}
	r.log.Info("file room: peer joins", "peer", spec.ID, "tracks", len(p.senders), "at", r.clock.Now())
	if err := r.emit(ctx, room.Event{Type: room.PeerJoined, Peer: p.peer}); err != nil {
		return err
	}
	for _, s := range p.senders {
		if err := r.emit(ctx, room.Event{Type: room.TrackAdded, Peer: p.peer, Track: s.t}); err != nil {
			return err
		}
	}
	return nil
}

func (r *Room) removeTrack(ctx context.Context, p *peerState, s *sender) error {
	s.stop()
	s.flush()
	s.removed = true
	s.t.end()
	return r.emit(ctx, room.Event{Type: room.TrackRemoved, Peer: p.peer, TrackID: s.t.info.ID})
}

// leave removes the peer's tracks, then the peer.
func (r *Room) leave(ctx context.Context, p *peerState) error {
	r.log.Info("file room: peer leaves", "peer", p.spec.ID, "at", r.clock.Now())
	p.left = true
	for _, s := range p.senders {
		if s.removed {
			continue
		}
		if err := r.removeTrack(ctx, p, s); err != nil {
			return err
		}
	}
	for _, d := range p.files {
		d.close()
	}
	p.files = nil
	return r.emit(ctx, room.Event{Type: room.PeerLeft, Peer: p.peer})
}
