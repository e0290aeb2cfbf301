// Package livekit connects roomcast to a LiveKit room.
//
// Room implements room.Room: it joins as a hidden recorder (others never see
// it), subscribes to every track and turns the SDK's callbacks into the
// connector-neutral room.Event stream:
//
//   - peers are keyed by participant identity: PeerJoined, PeerLeft, and
//     PeerUpdated when the name, metadata or role (the "role" attribute, else
//     the participant kind for agents, SIP, ingress) changes;
//   - camera and microphone are SourceRegular, screen share and its audio
//     SourceScreen; TrackMuted/TrackUnmuted follow the publisher's mute;
//     TrackDegraded/TrackRestored follow the peer's connection quality (poor
//     or lost is degraded);
//   - ActiveSpeakers carries the server's speaker updates, levels 1..100,
//     each with the peer's microphone track;
//   - Reconnecting/Reconnected report the recorder's own connection. When the
//     server could not resume the session (it restarted, say), the connector
//     rejoins with a fresh SDK session: every track is removed and added
//     again, peers stay.
//
// A peer who reconnects or republishes under the same identity stays the
// same peer: its old tracks are removed and its new ones added. The room
// ending closes Events, and Err wraps ErrRoomClosed, ErrRemoved,
// ErrDuplicateIdentity or ErrConnectionLost, or the error of Start's
// context, which bounds the room's whole life.
//
// Each track is read with Read (the packets as the SFU forwards them, into
// the caller's buffer, allocating nothing) and
// ReadRTCP (the SFU's sender reports, whose NTP times LiveKit carries over
// from the publisher's own, so they serve A/V sync across a peer's tracks).
// Both return io.EOF once the track is removed or the room ends.
// RequestKeyframe sends a PLI, which the SFU forwards to the publisher; one
// is also sent for every new video track.
//
// Note that LiveKit counts a recorder as a dependent participant: the server
// closes the room (and so ends the recording with ErrRoomClosed) its
// departure timeout, 20 s by default, after the last real peer left, and its
// empty timeout after creation if nobody ever came.
//
// Publisher is the other side: a normal participant that publishes media
// files in real time. Operators use it to smoke-test a room (roomcast
// publish) and the tests use it as their sender.
//
// Secrets (API secret, tokens) are never logged nor put into errors: the
// server echoes a rejected token in its error text, so every error and every
// SDK log line passes through a redactor first.
//
// The files, one subject each: room.go (Room, Options, the public methods),
// loop.go (the goroutine that owns the room's state), session.go (joining,
// tokens, the SDK sessions and rejoining), callbacks.go (the SDK callbacks
// as ops for the loop), peers.go (peers and their tracks, speakers,
// quality, mute), track.go (a subscribed track), errors.go (the Err*
// values, what the SDK's errors mean, redaction), sdkworkarounds.go (what
// exists only because the SDK lacks something, and when it can go),
// logger.go (the SDK's log into slog) and url.go (URLs and tokens); the
// rest is the Publisher's.
package livekit
