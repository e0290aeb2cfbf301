package livekit

// What the connector does only because server-sdk-go lacks something. Each
// item says when it can go.
//
// Gone with the move to v2.19.0 (for the record, so nobody brings them back):
//   - server-sdk-go issue 914 (a participant who rejoins under the same
//     identity gets a new SID and a lower ParticipantInfo version, which the
//     SDK dropped, parking the new tracks): fixed by PR 915, in v2.16.5. The
//     connector used to spot the SDK's "deferring track update" log line and
//     hand it the participant from the server's API.
//   - The SDK folding a deleted room into "other reasons" on disconnect: it
//     now offers Room.DisconnectReason (disconnected reads it), where the
//     connector used to pick the server's reason out of the SDK's log.
//   - The data race between RTCEngine.closePeerConnections and the ICE
//     state callbacks (PR 786, in v2.12.2), which TestServerRestart tripped
//     under -race.

// pollNames looks for changed names, once a second from the loop: the SDK
// (v2.11 to v2.20.0 at least) applies a participant's new name without any
// callback, where metadata and attributes have theirs (no upstream issue
// asks for one yet). Delete it, and call refreshPeer from that callback
// instead, once RoomCallback reports name changes.
func (r *Room) pollNames() {
	for identity := range r.peers {
		r.refreshPeer(identity)
	}
}
