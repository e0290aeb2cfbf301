// Package speaker decides who the active speaker is, from audio levels,
// with hysteresis: the stage follows whoever talks, not every cough.
//
// Levels come from the room's own speaker events where it sends them
// (LiveKit), and from the decoded audio elsewhere (the file room, Janus);
// both go through the same Detector, so a layout behaves the same in every
// room.
package speaker
