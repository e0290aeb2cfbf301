// Package room defines what a room connector delivers to a job: peers, their
// tracks as RTP and RTCP, and room events. Connectors live in sub-packages
// (file, livekit); the worker consumes them only through the types here, so a
// new kind of room (a WHEP endpoint, say) drops in as one new package.
package room
