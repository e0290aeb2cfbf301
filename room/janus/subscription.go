package janus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

// The recorder's view of the room: peers from listparticipants, and one
// multistream subscription to every publisher's streams, renegotiated
// whenever Janus sends a new offer ("attached", "updated").

// resubscribeAfter is how long a feed asked for may stay missing from the
// subscription before it is asked for again.
const resubscribeAfter = 5 * time.Second

// speakingLevel is the mean level (0..127, loudest 127) above which a peer
// counts as speaking: louder than -50 dBov.
const speakingLevel = 127 - 50

func (r *Room) pollParticipants() {
	ctx, cancel := context.WithTimeout(r.loopCtx, requestTimeout)
	defer cancel()
	v, _, err := r.sess.send(ctx, r.ctl, map[string]any{"request": "listparticipants", "room": r.roomID.value()}, nil)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.plugin && ae.code == vrNoSuchRoom {
			r.finish(fmt.Errorf("%w: room %s", ErrRoomClosed, r.roomID))
			return
		}
		// The long poll notices a lost session; one failed request is not one.
		r.log.Debug("listparticipants failed", "error", err)
		return
	}
	r.syncPeers(v.Participants)
	r.ensureSubscriptions()
}

// syncPeers turns the participant list into PeerJoined, PeerUpdated and
// PeerLeft. The recorder is never in it: VideoRoom lists publishers and
// would-be publishers, never subscribers.
//
// Janus lists participants in no particular order and says nothing of when
// they joined, so peers first seen together (those already in the room when
// the recorder joins, say) are announced by display name, then id: the
// layout, which places peers in join order, is then the same every time.
func (r *Room) syncPeers(ps []participant) {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b participant) int {
		if a.Display != b.Display {
			return strings.Compare(a.Display, b.Display)
		}
		return cmpID(string(a.ID), string(b.ID))
	})
	seen := make(map[id]bool, len(ps))
	for _, p := range ps {
		if p.ID == "" {
			continue
		}
		seen[p.ID] = true
		st := r.peers[p.ID]
		if st == nil {
			st = &peerState{peer: room.Peer{ID: string(p.ID), Name: p.Display, Role: "participant"}, publisher: p.Publisher}
			r.peers[p.ID] = st
			r.order = append(r.order, p.ID)
			r.emit(room.Event{Type: room.PeerJoined, Peer: st.peer})
			continue
		}
		st.publisher = p.Publisher
		if st.peer.Name != p.Display {
			st.peer.Name = p.Display
			r.emit(room.Event{Type: room.PeerUpdated, Peer: st.peer})
		}
	}
	for _, pid := range slices.Clone(r.order) {
		if seen[pid] {
			continue
		}
		st := r.peers[pid]
		for _, t := range r.allTracks() {
			if t.feed == pid {
				r.removeTrack(t)
			}
		}
		delete(r.peers, pid)
		delete(r.requested, pid)
		r.order = slices.DeleteFunc(r.order, func(x id) bool { return x == pid })
		r.emit(room.Event{Type: room.PeerLeft, Peer: st.peer})
	}
}

// ensureSubscriptions asks for every publisher that the subscription does
// not carry yet. A publisher that left or unpublished needs nothing: Janus
// takes its streams out of the subscription itself and sends an offer.
func (r *Room) ensureSubscriptions() {
	if r.sess == nil {
		return
	}
	inSub := map[id]bool{}
	for _, st := range r.streams {
		if st.FeedID != "" {
			inSub[st.FeedID] = true
		}
	}
	var want []id
	for _, pid := range r.order {
		st := r.peers[pid]
		if !st.publisher || inSub[pid] {
			delete(r.requested, pid)
			continue
		}
		if at, ok := r.requested[pid]; ok && time.Since(at) < resubscribeAfter {
			continue
		}
		want = append(want, pid)
	}
	if len(want) > 0 {
		r.subscribe(want)
	}
}

func (r *Room) subscribe(feeds []id) {
	streams := make([]any, 0, len(feeds))
	for _, f := range feeds {
		streams = append(streams, map[string]any{"feed": f.value()})
		r.requested[f] = time.Now()
	}
	ctx, cancel := context.WithTimeout(r.loopCtx, requestTimeout)
	defer cancel()
	var body map[string]any
	if r.sub == "" {
		h, err := r.sess.attach(ctx)
		if err != nil {
			r.log.Warn("attaching the subscriber handle failed", "error", err)
			return
		}
		r.sub = h
		body = map[string]any{"request": "join", "ptype": "subscriber", "room": r.roomID.value(), "streams": streams, "use_msid": false}
		if r.opts.PIN != "" {
			body["pin"] = r.opts.PIN
		}
	} else {
		body = map[string]any{"request": "subscribe", "streams": streams}
	}
	v, offer, err := r.sess.send(ctx, r.sub, body, nil)
	if err != nil {
		var ae *apiError
		switch {
		case errors.As(err, &ae) && ae.plugin && (ae.code == vrNoSuchFeed || ae.code == vrNotPublished):
			r.log.Debug("a publisher left before we subscribed", "error", err)
		case errors.Is(classify(err, r.roomID), ErrRequiresPrivateID), errors.Is(classify(err, r.roomID), ErrWrongPIN):
			r.finish(classify(err, r.roomID))
		default:
			r.log.Warn("subscribing failed", "feeds", feeds, "error", err)
		}
		if body["request"] == "join" {
			r.sess.detach(ctx, r.sub)
			r.sub = ""
		}
		return
	}
	r.log.Debug("subscribed", "feeds", feeds)
	r.onStreams(v, offer)
}

// onMessage handles an event of session gen that no request waited for.
func (r *Room) onMessage(gen int, m message) {
	if gen != r.gen || r.sess == nil {
		return
	}
	switch m.Janus {
	case "hangup", "detached":
		if m.Sender == r.sub && r.sub != "" {
			r.log.Warn("janus hung up the subscription; subscribing again", "reason", m.Reason)
			for _, t := range r.allTracks() {
				r.removeTrack(t)
			}
			if r.pc != nil {
				_ = r.pc.Close()
				r.pc = nil
			}
			if m.Janus == "hangup" {
				go r.sess.detach(context.Background(), r.sub)
			}
			r.sub = ""
			r.streams = map[string]subStream{}
			r.requested = map[id]time.Time{}
			r.ensureSubscriptions()
		}
	case "event":
		v, err := m.videoroomData()
		if err != nil || v == nil {
			r.log.Debug("an event we cannot read", "error", err)
			return
		}
		if v.Videoroom == "destroyed" {
			r.finish(fmt.Errorf("%w: room %s", ErrRoomClosed, r.roomID))
			return
		}
		if m.Sender == r.sub {
			r.onStreams(v, m.JSEP)
		}
	case "webrtcup", "media", "slowlink":
		r.log.Debug("janus", "event", m.Janus, "media", m.Media)
	}
}

// onStreams applies a new description of the subscription, and answers
// its offer if it came with one.
func (r *Room) onStreams(v *videoroom, offer *jsep) {
	if v.Streams != nil {
		r.applyStreams(v.Streams)
	}
	if offer == nil || offer.Type != "offer" {
		return
	}
	if err := r.answer(offer.SDP); err != nil {
		r.log.Warn("answering janus's offer failed", "error", err)
		r.finish(fmt.Errorf("%w: room %s: %w", ErrNegotiation, r.roomID, err))
	}
}

func (r *Room) answer(sdp string) error {
	if r.pc == nil {
		pc, err := r.api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return err
		}
		gen := r.gen
		pc.OnTrack(func(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
			mid := ""
			for _, tr := range pc.GetTransceivers() {
				if tr.Receiver() == recv {
					mid = tr.Mid()
				}
			}
			r.ops.push(func() { r.onTrack(gen, pc, mid, remote, recv) })
		})
		pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
			r.log.Debug("subscription ICE state", "state", s.String())
		})
		r.pc = pc
	}
	if err := r.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	ans, err := r.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(r.pc)
	if err := r.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
	}
	ctx, cancel := context.WithTimeout(r.loopCtx, requestTimeout)
	defer cancel()
	local := r.pc.LocalDescription()
	if _, _, err := r.sess.send(ctx, r.sub, map[string]any{"request": "start"}, &jsep{Type: "answer", SDP: local.SDP}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

// applyStreams takes the subscription's new list of streams: tracks whose
// m-line now carries another publisher's stream, or none, are removed; a
// stream Janus marks inactive while its publisher still publishes counts as
// muted; tracks that pion delivered early get their description.
func (r *Room) applyStreams(list []subStream) {
	next := make(map[string]subStream, len(list))
	for _, st := range list {
		if st.Type == "data" || st.Mid == "" {
			continue
		}
		next[st.Mid] = st
	}
	for mid, t := range r.byMid {
		st, ok := next[mid]
		switch {
		case !ok || st.FeedID != t.feed || st.FeedMid != t.feedMid:
			r.removeTrack(t)
		default:
			t.inactive = !st.active()
			r.announceMute(t)
		}
	}
	r.streams = next
	for mid, p := range r.pending {
		if st, ok := next[mid]; ok && st.active() {
			delete(r.pending, mid)
			r.addTrack(st, p.remote, p.receiver)
		}
	}
}

func (r *Room) onTrack(gen int, pc *webrtc.PeerConnection, mid string, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	if gen != r.gen || pc != r.pc {
		return
	}
	if old := r.byMid[mid]; old != nil {
		r.removeTrack(old) // the m-line was reused for a new stream
	}
	st, ok := r.streams[mid]
	if !ok || !st.active() {
		r.pending[mid] = pendingRTP{remote, recv}
		return
	}
	r.addTrack(st, remote, recv)
}

func (r *Room) addTrack(st subStream, remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	if r.peers[st.FeedID] == nil {
		// Janus described a publisher before listparticipants did.
		p := &peerState{peer: room.Peer{ID: string(st.FeedID), Name: st.FeedDisplay, Role: "participant"}, publisher: true}
		r.peers[st.FeedID] = p
		r.order = append(r.order, st.FeedID)
		r.emit(room.Event{Type: room.PeerJoined, Peer: p.peer})
	}
	t := newTrack(st, remote, recv, r.pc)
	r.mu.Lock()
	if old := r.tracks[t.info.ID]; old != nil {
		r.mu.Unlock()
		r.removeTrack(old)
		r.mu.Lock()
	}
	r.tracks[t.info.ID] = t
	r.mu.Unlock()
	r.byMid[st.Mid] = t
	r.log.Info("track added", "peer", st.FeedDisplay, "track", t.info.ID, "kind", t.info.Kind, "source", t.info.Source, "codec", t.info.Codec.MimeType)
	r.emit(room.Event{Type: room.TrackAdded, Peer: r.peerOf(st.FeedID), Track: t})
	_ = t.RequestKeyframe()
}

func (r *Room) removeTrack(t *track) {
	r.mu.Lock()
	if r.tracks[t.info.ID] == t {
		delete(r.tracks, t.info.ID)
	}
	r.mu.Unlock()
	if r.byMid[t.mid] == t {
		delete(r.byMid, t.mid)
	}
	t.end()
	r.emit(room.Event{Type: room.TrackRemoved, Peer: r.peerOf(t.feed), TrackID: t.info.ID})
}

func (r *Room) allTracks() []*track {
	out := make([]*track, 0, len(r.byMid))
	for _, t := range r.byMid {
		out = append(out, t)
	}
	return out
}

func (r *Room) peerOf(feed id) room.Peer {
	if p := r.peers[feed]; p != nil {
		return p.peer
	}
	return room.Peer{ID: string(feed)}
}

// setSubstream asks Janus for a simulcast substream of a track.
func (r *Room) setSubstream(t *track, sub int) {
	if t.substream == sub || r.sess == nil || r.sub == "" || t.ended() {
		return
	}
	ctx, cancel := context.WithTimeout(r.loopCtx, requestTimeout)
	defer cancel()
	body := map[string]any{"request": "configure", "streams": []any{map[string]any{"mid": t.mid, "substream": sub}}}
	if _, _, err := r.sess.send(ctx, r.sub, body, nil); err != nil {
		r.log.Warn("choosing a simulcast substream failed", "track", t.info.ID, "substream", sub, "error", err)
		return
	}
	r.log.Debug("simulcast substream", "track", t.info.ID, "substream", sub)
	t.substream = sub
}

// silentAfter is how long a video track may go without a packet before it
// counts as muted: a publisher that stops sending a stream (configure
// "send": false, a camera turned off) tells subscribers nothing.
const silentAfter = 2 * time.Second

// checkSilence mutes video tracks that stopped flowing and unmutes those
// that flow again.
func (r *Room) checkSilence() {
	now := time.Now().UnixNano()
	for _, t := range r.byMid {
		if t.info.Kind != room.KindVideo {
			continue
		}
		t.silent = time.Duration(now-t.lastPacket.Load()) > silentAfter
		r.announceMute(t)
	}
}

// announceMute sends TrackMuted or TrackUnmuted when a track's state
// changed.
func (r *Room) announceMute(t *track) {
	muted := t.inactive || t.silent
	if muted == t.muted {
		return
	}
	t.muted = muted
	typ := room.TrackUnmuted
	if muted {
		typ = room.TrackMuted
	}
	r.emit(room.Event{Type: typ, Peer: r.peerOf(t.feed), TrackID: t.info.ID})
	if !muted {
		_ = t.RequestKeyframe()
	}
}

// meterSpeakers turns the audio levels of the last half second into
// ActiveSpeakers, when who speaks changed.
func (r *Room) meterSpeakers() {
	var now []room.Speaker
	for _, t := range r.byMid {
		if t.info.Kind != room.KindAudio || t.muted {
			continue
		}
		l, ok := t.level()
		if !ok || l < speakingLevel {
			continue
		}
		now = append(now, room.Speaker{PeerID: t.info.PeerID, TrackID: t.info.ID, Level: max(1, min(100, l*100/127))})
	}
	slices.SortFunc(now, func(a, b room.Speaker) int {
		if a.Level != b.Level {
			return b.Level - a.Level
		}
		return cmpID(a.PeerID, b.PeerID)
	})
	if sameSpeakers(now, r.speaking) {
		r.speaking = now
		return
	}
	r.speaking = now
	r.emit(room.Event{Type: room.ActiveSpeakers, Speakers: slices.Clone(now)})
}

func cmpID(a, b string) int {
	x, e1 := strconv.ParseUint(a, 10, 64)
	y, e2 := strconv.ParseUint(b, 10, 64)
	if e1 == nil && e2 == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sameSpeakers compares who speaks, not how loud nor in which order.
func sameSpeakers(a, b []room.Speaker) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y room.Speaker) bool { return y.PeerID == x.PeerID }) {
			return false
		}
	}
	return true
}
