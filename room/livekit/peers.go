package livekit

import (
	"math"
	"slices"
	"strings"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

// The peers, keyed by identity, and their tracks, as the loop keeps them.
// A peer whose identity reconnects under a new session stays the same peer.

type peerState struct {
	sid      string
	peer     room.Peer
	degraded bool
}

// sync reconciles the peers with the SDK's participant list: participants
// already in the room came with the join response, which the SDK applies
// without callbacks, and after a rejoin some peers may be gone.
func (r *Room) sync() {
	rps := r.lk.GetRemoteParticipants()
	slices.SortFunc(rps, func(a, b *lksdk.RemoteParticipant) int { return strings.Compare(a.Identity(), b.Identity()) })
	present := make(map[string]bool, len(rps))
	for _, rp := range rps {
		present[rp.Identity()] = true
		r.ensurePeer(rp)
	}
	for _, identity := range sortedKeys(r.peers) {
		if !present[identity] {
			r.peerLeft(identity, "")
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// current reports whether rp is still the SDK's participant for its
// identity: ops run after the fact, and a stale one must not bring back a
// peer that has left.
func (r *Room) current(rp *lksdk.RemoteParticipant) bool {
	return r.lk.GetParticipantByIdentity(rp.Identity()) == rp
}

func peerOf(p lksdk.Participant) room.Peer {
	attrs := p.Attributes()
	role := attrs["role"]
	if role == "" {
		switch p.Kind() {
		case lksdk.ParticipantIngress:
			role = "ingress"
		case lksdk.ParticipantEgress:
			role = "egress"
		case lksdk.ParticipantSIP:
			role = "sip"
		case lksdk.ParticipantAgent:
			role = "agent"
		}
	}
	return room.Peer{ID: p.Identity(), Name: p.Name(), Role: role, Metadata: p.Metadata()}
}

// ensurePeer announces rp if it is new, and notes a changed SID (the same
// identity reconnected) without announcing it again.
func (r *Room) ensurePeer(rp *lksdk.RemoteParticipant) *peerState {
	identity := rp.Identity()
	ps := r.peers[identity]
	if ps != nil {
		ps.sid = rp.SID()
		r.refreshPeer(identity)
		return ps
	}
	if !r.current(rp) {
		return nil
	}
	ps = &peerState{sid: rp.SID(), peer: peerOf(rp)}
	r.peers[identity] = ps
	r.log.Info("peer joined", "peer", identity, "name", ps.peer.Name)
	r.emit(room.Event{Type: room.PeerJoined, Peer: ps.peer})
	return ps
}

func (r *Room) refreshPeer(identity string) {
	ps := r.peers[identity]
	if ps == nil {
		return
	}
	rp := r.lk.GetParticipantByIdentity(identity)
	if rp == nil {
		return
	}
	if p := peerOf(rp); p != ps.peer {
		ps.peer = p
		r.emit(room.Event{Type: room.PeerUpdated, Peer: p})
	}
}

func (r *Room) peerLeft(identity, sid string) {
	ps := r.peers[identity]
	if ps == nil || (sid != "" && ps.sid != sid) {
		// Already gone, or the identity has rejoined since: stale.
		return
	}
	for _, t := range r.tracksOf(identity) {
		r.dropTrack(t)
	}
	delete(r.peers, identity)
	r.log.Info("peer left", "peer", identity)
	r.emit(room.Event{Type: room.PeerLeft, Peer: ps.peer})
}

func (r *Room) allTracks() []*track {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*track, 0, len(r.tracks))
	for _, t := range r.tracks {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *track) int { return strings.Compare(a.info.ID, b.info.ID) })
	return out
}

func (r *Room) tracksOf(identity string) []*track {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*track
	for _, t := range r.tracks {
		if t.info.PeerID == identity {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b *track) int { return strings.Compare(a.info.ID, b.info.ID) })
	return out
}

func (r *Room) addTrack(t *track) {
	if !r.current(t.rp) || !hasPublication(t.rp, t.info.ID) {
		t.end()
		return
	}
	ps := r.ensurePeer(t.rp)
	if ps == nil {
		t.end()
		return
	}
	r.mu.Lock()
	old := r.tracks[t.info.ID]
	r.mu.Unlock()
	if old != nil {
		// Resubscribed under the same SID: the old one is over.
		r.dropTrack(old)
	}
	// Mute state may have changed between the callback and now.
	t.info.Muted = t.pub.IsMuted()
	r.mu.Lock()
	r.tracks[t.info.ID] = t
	r.mu.Unlock()
	r.log.Info("track added", "peer", t.info.PeerID, "track", t.info.ID, "kind", t.info.Kind,
		"source", t.info.Source, "codec", t.info.Codec.MimeType, "muted", t.info.Muted)
	r.emit(room.Event{Type: room.TrackAdded, Peer: ps.peer, Track: t, TrackID: t.info.ID})
}

func hasPublication(rp *lksdk.RemoteParticipant, sid string) bool {
	for _, p := range rp.TrackPublications() {
		if p.SID() == sid {
			return true
		}
	}
	return false
}

func (r *Room) removeTrack(sid string, tr *webrtc.TrackRemote) {
	r.mu.Lock()
	t := r.tracks[sid]
	r.mu.Unlock()
	if t == nil || t.remote != tr {
		return
	}
	r.dropTrack(t)
}

// dropTrack ends t and announces its removal.
func (r *Room) dropTrack(t *track) {
	r.mu.Lock()
	delete(r.tracks, t.info.ID)
	r.mu.Unlock()
	t.end()
	var peer room.Peer
	if ps := r.peers[t.info.PeerID]; ps != nil {
		peer = ps.peer
	} else {
		peer.ID = t.info.PeerID
	}
	r.log.Info("track removed", "peer", t.info.PeerID, "track", t.info.ID)
	r.emit(room.Event{Type: room.TrackRemoved, Peer: peer, TrackID: t.info.ID})
}

func (r *Room) muted(sid string, muted bool) {
	r.mu.Lock()
	t := r.tracks[sid]
	r.mu.Unlock()
	if t == nil {
		// Not subscribed yet: TrackAdded will carry the state.
		return
	}
	typ := room.TrackUnmuted
	if muted {
		typ = room.TrackMuted
	}
	r.emit(room.Event{Type: typ, Peer: r.peers[t.info.PeerID].peer, TrackID: sid})
}

// quality maps a peer's connection quality onto its tracks: poor or lost is
// "degraded (bad network)" in the contract's terms.
func (r *Room) quality(identity string, q lkproto.ConnectionQuality) {
	ps := r.peers[identity]
	if ps == nil {
		return
	}
	degraded := q == lkproto.ConnectionQuality_POOR || q == lkproto.ConnectionQuality_LOST
	if degraded == ps.degraded {
		return
	}
	ps.degraded = degraded
	typ := room.TrackRestored
	if degraded {
		typ = room.TrackDegraded
	}
	for _, t := range r.tracksOf(identity) {
		r.emit(room.Event{Type: typ, Peer: ps.peer, TrackID: t.info.ID})
	}
}

func (r *Room) speakers(ps []lksdk.Participant) {
	out := make([]room.Speaker, 0, len(ps))
	for _, p := range ps {
		rp, ok := p.(*lksdk.RemoteParticipant)
		if !ok || r.peers[rp.Identity()] == nil {
			continue // the bot itself, or a peer not announced (yet or any more)
		}
		level := int(math.Round(float64(p.AudioLevel()) * 100))
		out = append(out, room.Speaker{PeerID: rp.Identity(), TrackID: r.speakingTrack(rp), Level: min(max(level, 1), 100)})
	}
	r.emit(room.Event{Type: room.ActiveSpeakers, Speakers: out})
}

// speakingTrack picks the peer's microphone, else any audio track of theirs.
// A speaker update can come before the microphone is subscribed: then the
// SDK's publication names it, with the ID its TrackAdded will carry.
func (r *Room) speakingTrack(rp *lksdk.RemoteParticipant) string {
	id := ""
	for _, t := range r.tracksOf(rp.Identity()) {
		if t.info.Kind != room.KindAudio {
			continue
		}
		if t.info.Source == room.SourceRegular {
			return t.info.ID
		}
		if id == "" {
			id = t.info.ID
		}
	}
	if id != "" {
		return id
	}
	for _, pub := range rp.TrackPublications() {
		if pub.Kind() != lksdk.TrackKindAudio {
			continue
		}
		if sourceOf(pub.Source()) == room.SourceRegular {
			return pub.SID()
		}
		if id == "" {
			id = pub.SID()
		}
	}
	return id
}
