package worker

import (
	"fmt"

	"github.com/roomcast/roomcast/room"
)

// roomEvent applies a room event to the job's peers and to the graph. Once
// the job stops, events are only drained: the graph is closing.
func (j *Job) roomEvent(ev room.Event) {
	j.log.Debug("room event", "event", ev.String())
	if j.stage != stageRunning {
		return
	}
	g := j.g
	switch ev.Type {
	case room.PeerJoined:
		j.peers[ev.Peer.ID] = ev.Peer
		j.emptyAt = -1
		j.state.Peers = len(j.peers)
		g.addPeer(ev.Peer)
	case room.PeerUpdated:
		j.peers[ev.Peer.ID] = ev.Peer
		g.updatePeer(ev.Peer)
	case room.PeerLeft:
		delete(j.peers, ev.Peer.ID)
		if len(j.peers) == 0 {
			j.emptyAt = j.clock.Now()
		}
		j.state.Peers = len(j.peers)
		g.removePeer(ev.Peer.ID)
	case room.TrackAdded:
		g.addTrack(ev.Track)
	case room.TrackRemoved:
		g.removeTrack(ev.TrackID)
	case room.TrackMuted:
		g.setMuted(ev.TrackID, true)
	case room.TrackUnmuted:
		g.setMuted(ev.TrackID, false)
	case room.ActiveSpeakers:
		g.setActiveSpeakers(ev.Speakers)
	case room.Reconnecting:
		j.log.Warn("connection to the room lost; reconnecting")
	case room.Reconnected:
		j.log.Info("reconnected to the room")
	}
	j.publish()
}

// roomEnded handles the room's end (its events closed) while running.
func (j *Job) roomEnded() {
	if j.stage != stageRunning {
		return
	}
	if err := j.g.room.Err(); err != nil {
		j.beginStop(nil, fmt.Sprintf("room ended: %v", err))
		return
	}
	j.beginStop(nil, "room ended: every peer left")
}
