// Package janus connects roomcast to a Janus VideoRoom room, over Janus's
// HTTP API (janus://HOST:PORT/ROOM, janus+https://HOST/PATH/ROOM).
//
// Room implements room.Room as a hidden recorder: it never attaches a
// publisher handle, only a subscriber one, which VideoRoom does not list as
// a participant nor announce to anyone. A room made with require_pvtid lets
// only a visible publisher subscribe, so such a room is refused with
// ErrRequiresPrivateID rather than joined visibly.
//
// VideoRoom tells a subscriber nothing about who joins, leaves or talks, so:
//
//   - peers come from listparticipants, asked every PollInterval on a
//     handle that never joins: PeerJoined, PeerLeft, and PeerUpdated when a
//     display name changes. A peer's ID is its Janus id, its Name the
//     display. Janus does not say who joined first, so peers first seen
//     together are announced by display name (the layout places peers in
//     join order);
//   - every publisher's streams are taken on one multistream subscription:
//     a "join" for the first, a "subscribe" for each new publisher, and the
//     offer Janus sends with "attached" or "updated" (also when it drops a
//     publisher that left or unpublished) is answered with "start". The
//     connector never reads the participants' "unpublished" events (which
//     Janus sends twice): a track ends when the subscription's stream list
//     no longer carries it, which happens once;
//   - a stopped stream counts as muted (TrackMuted, then TrackUnmuted when
//     it comes back): one Janus marks inactive while keeping it in the
//     list, and a video stream that sent nothing for 2 s, since a publisher
//     that stops relaying a stream (configure "send": false) or turns its
//     camera off tells subscribers nothing;
//   - screen shares follow a convention, since VideoRoom has no track
//     source: a publisher stream whose description starts with "screen"
//     ("screen", "Screen share") is SourceScreen. Publisher describes its
//     camera file "camera" and its screen file "screen";
//   - ActiveSpeakers comes from the RFC 6464 audio-level header extension,
//     which Janus passes on to subscribers (its "talking" events go to
//     participants only): every 500 ms, each audio track whose mean level
//     was above -50 dBov speaks, loudest first, levels 1..100.
//
// Each track's ID is "<publisher id>/<publisher's mid>", stable across
// renegotiations. Read fills the caller's buffer from pion's receiver and
// allocates nothing (the level is read from the bytes: audioLevel);
// ReadRTCP gives Janus's sender reports, whose NTP times Janus carries over
// from the publisher's, so A/V sync works as it does for LiveKit;
// RequestKeyframe sends a PLI, which Janus forwards to the publisher.
//
// Codecs: Opus; VP8, VP9, H.264 and AV1, as the room's videocodec allows.
// SetVideoSize (room.VideoSizer) picks a simulcast substream for the tile
// with "configure" (see its doc for the sizes).
//
// The session is kept alive with a keepalive every 25 s besides the long
// poll. When the session is lost (Janus restarted, the network failed),
// every track ends, Reconnecting is sent, and a new session is tried every
// second; Reconnected follows once the room answers again (a restarted
// Janus forgets rooms made by API until they are made again), else after
// ReconnectTimeout the room ends with ErrConnectionLost and the last
// cause. A destroyed room ends it with ErrRoomClosed.
//
// The PIN and the API token are never logged nor put into errors.
//
// Publisher is the other side: a VideoRoom publisher that sends media files
// in real time (roomcast publish, and the tests' sender), optionally as
// three simulcast layers and with a scripted audio level.
//
// The files: room.go (Room, Options, the public methods), loop.go (the
// goroutine that owns the state; sessions and reconnecting),
// subscription.go (peers, the subscription, tracks, speakers), api.go (the
// HTTP API: requests, long poll, keepalives), messages.go (what Janus
// sends, decoded), track.go (a subscribed track), level.go (RFC 6464 from
// packet bytes), webrtc.go (pion's setup), errors.go, url.go; publisher.go
// and audiolevel.go are the Publisher's.
package janus
