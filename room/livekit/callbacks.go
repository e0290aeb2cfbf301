package livekit

import (
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/roomcast/roomcast/room"
)

// callbacks turns every SDK callback of session gen into an op for the
// loop. The SDK calls some callbacks on its own goroutines and some inline,
// so the loop is what gives events their order; callbacks never block. Ops
// of an old session (before a rejoin) are dropped.
func (r *Room) callbacks(gen uint64) *lksdk.RoomCallback {
	push := func(op func()) {
		r.ops.push(func() {
			if gen == r.gen.Load() {
				op()
			}
		})
	}
	return &lksdk.RoomCallback{
		OnParticipantConnected: func(rp *lksdk.RemoteParticipant) {
			push(func() { r.ensurePeer(rp) })
		},
		OnParticipantDisconnected: func(rp *lksdk.RemoteParticipant) {
			identity, sid := rp.Identity(), rp.SID()
			push(func() { r.peerLeft(identity, sid) })
		},
		OnActiveSpeakersChanged: func(ps []lksdk.Participant) {
			push(func() { r.speakers(ps) })
		},
		OnReconnecting: func() {
			push(r.reconnecting)
		},
		OnReconnected: func() {
			push(r.reconnected)
		},
		OnDisconnectedWithReason: func(reason lksdk.DisconnectionReason) {
			push(func() { r.disconnected(reason) })
		},
		ParticipantCallback: lksdk.ParticipantCallback{
			OnTrackSubscribed: func(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
				// Built here, not in the loop, so that the RTCP hook and the
				// keyframe request go in as early as possible.
				t := newTrack(tr, pub, rp)
				if t.info.Kind == room.KindVideo {
					_ = t.RequestKeyframe()
				}
				r.ops.push(func() {
					if gen != r.gen.Load() {
						t.end()
						return
					}
					r.addTrack(t)
				})
			},
			OnTrackUnsubscribed: func(tr *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
				sid := pub.SID()
				push(func() { r.removeTrack(sid, tr) })
			},
			OnTrackSubscriptionFailed: func(sid string, rp *lksdk.RemoteParticipant) {
				identity := rp.Identity()
				push(func() { r.subscriptionFailed(identity, sid) })
			},
			OnTrackMuted: func(pub lksdk.TrackPublication, p lksdk.Participant) {
				sid := pub.SID()
				push(func() { r.muted(sid, true) })
			},
			OnTrackUnmuted: func(pub lksdk.TrackPublication, p lksdk.Participant) {
				sid := pub.SID()
				push(func() { r.muted(sid, false) })
			},
			OnMetadataChanged: func(_ string, p lksdk.Participant) {
				identity := p.Identity()
				push(func() { r.refreshPeer(identity) })
			},
			OnAttributesChanged: func(_ map[string]string, p lksdk.Participant) {
				identity := p.Identity()
				push(func() { r.refreshPeer(identity) })
			},
			OnConnectionQualityChanged: func(q *lkproto.ConnectionQualityInfo, p lksdk.Participant) {
				identity, quality := p.Identity(), q.GetQuality()
				push(func() { r.quality(identity, quality) })
			},
		},
	}
}

func (r *Room) reconnecting() {
	if r.reconnectingSince.IsZero() {
		r.reconnectingSince = time.Now()
		r.log.Warn("connection to livekit lost, reconnecting")
		r.emit(room.Event{Type: room.Reconnecting})
	}
}

func (r *Room) reconnected() {
	if sid := r.lk.LocalParticipant.SID(); sid != r.localSID {
		// The SDK rejoined as a new session rather than resume the old one
		// (the server lost it): start clean.
		r.rejoin("the server did not resume the session")
		return
	}
	r.log.Info("reconnected to livekit", "after", time.Since(r.reconnectingSince).Round(time.Millisecond))
	r.reconnectingSince = time.Time{}
	r.emit(room.Event{Type: room.Reconnected})
}

// subscriptionFailed: the SDK gave up on a track whose publication it never
// learned of, so the track is lost to this session.
func (r *Room) subscriptionFailed(identity, sid string) {
	r.log.Warn("subscribing to a track failed", "peer", identity, "track", sid)
	if time.Since(r.lastRejoin) > minRejoinGap {
		r.rejoin("a track could not be subscribed")
	}
}

// disconnected: the server ended the session, or we left it.
func (r *Room) disconnected(reason lksdk.DisconnectionReason) {
	raw := r.lk.DisconnectReason()
	r.log.Info("livekit room ended", "reason", string(reason), "server_reason", raw.String())
	r.finish(disconnectError(reason, raw, r.roomName))
}
