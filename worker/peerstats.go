package worker

import (
	"slices"
	"strings"
	"time"
)

// layerReporter is implemented by rooms that know which layer each video
// track is received at (the LiveKit connector, from the keyframes' sizes).
type layerReporter interface {
	ReportVideoLayers(fn func(peerID, trackID, quality string, top bool, width, height int, since time.Time, changes int))
}

// refreshPeerStats fills stats.peers from the room. It builds a new slice
// each time: states handed out earlier share the old one. Loop only.
func (j *Job) refreshPeerStats() {
	lr, ok := j.g.room.(layerReporter)
	if !ok {
		return
	}
	var peers []PeerStats
	lr.ReportVideoLayers(func(peerID, trackID, quality string, top bool, width, height int, _ time.Time, changes int) {
		v := VideoStats{TrackID: trackID, Layer: quality, TopLayer: top, Width: width, Height: height, LayerChanges: changes}
		for i := range peers {
			if peers[i].ID == peerID {
				peers[i].Video = append(peers[i].Video, v)
				return
			}
		}
		peers = append(peers, PeerStats{ID: peerID, Video: []VideoStats{v}})
	})
	slices.SortFunc(peers, func(a, b PeerStats) int { return strings.Compare(a.ID, b.ID) })
	j.state.Stats.Peers = peers
}
