// Package file is the file room: a room.Room made of media files, described
// by a YAML manifest (the `file:PATH.yaml` meeting URL).
//
// It owns the manifest format and its validation, and turning each track of
// the peers' files (read by internal/mediafile, which also gives H.264 as
// Annex B with SPS/PPS before each keyframe) into RTP and RTCP exactly as a
// WebRTC sender would: pion payloaders, random SSRC, sequence number and
// initial timestamp, marker bit on the last packet of a frame, timestamps
// on the frame grid, and sender reports whose NTP time is the job
// clock's epoch plus the packet's media time. Everything downstream of a room
// (depacketizer, jitter buffer, decoder, lip sync) thus runs in tests exactly
// as it does for a live room.
//
// Pacing is on the job clock (mediaclock). One scheduler goroutine walks the
// merged timeline of every peer's events and packets, demuxing lazily, and
// delivers each when the clock reaches it. With a mediaclock.Virtual clock
// (--fast) the hold rules keep the pipeline in step: the room holds the clock
// from Open until its scheduler exits (giving the hold up while it sleeps);
// every packet handed to a track holds the clock until the track's reader
// comes back for the next one, so the clock never runs ahead of a pipeline
// that still has work due; and the scheduler lets the clock move past an
// event only once the consumer has received it (within a bounded wait).
// Sender reports take no holds.
//
// The manifest format:
//
//	peers:
//	  - name: alice            # required, unique
//	    id: PA_alice           # optional; default "PA_<name>"
//	    role: speaker          # optional
//	    metadata: '{"x":1}'    # optional, passed through
//	    media: alice.webm      # required: one file, video and/or audio
//	    screen: slides.webm    # optional: a screen share (video; audio ignored)
//	    join: 0s               # optional, default 0s; job time
//	    leave: 9s              # optional; default: when its media ends
//	    muteVideo: [{from: 3s, to: 6s}]   # optional scripted mutes, job time
//	    muteAudio: [{from: 1s, to: 2s}]
//
// Paths are relative to the manifest's folder. Allowed codecs: VP8, VP9,
// H.264 and AV1 video; Opus audio. A manifest someone else chose (serve's
// --rooms-dir) is read with LoadIn or Options.Root: its media must then lie
// in that folder, symlinks resolved.
package file
