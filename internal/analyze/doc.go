// Package analyze checks finished recordings: it probes their streams,
// measures audio loudness and silence, samples regions of the picture, finds
// the flash-and-beep sync markers of test rooms and pairs them into per-peer
// A/V offsets and drift, and runs all of that against an expectation file
// (see testdata/expect/README.md) for `roomcast verify`.
//
// Media is decoded in-process with go-astiav, one pass per question: an
// audio-only pass (loudness, silence, which tones are present), a full pass
// for sync (every video frame, scaled down by swscale to a small luma grid
// before Go looks at it), and a seek per layout check. Plane access goes
// through internal/avframe.
//
// Times are in seconds from the start of the file (the container's start
// time), the same timeline for audio and video, so an offset between the two
// streams in the container shows up as A/V offset, as a player would show it.
package analyze
