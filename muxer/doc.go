// Package muxer owns the output side of a job: it encodes the composite once
// (libx264 and AAC through go-astiav) and fans the encoded packets out to
// sinks (the archival MP4, RTMP URLs, HLS), each on its own goroutine behind
// its own bounded queue, so that no sink can slow down the encoder or another
// sink.
//
// # Pipeline
//
//	compositor --WriteVideo--> Encoder --WritePacket--> Fanout --queue--> output.Sink (mp4, rtmp, hls)
//	mixer      --WriteAudio-->                                 --queue--> Sink ...
//
// The Encoder needs a PacketWriter and the Fanout needs the Encoder's
// StreamInfo; PacketWriterFunc ties the two (see its example). Packets are
// immutable once emitted: their data is a Go copy, shared by every sink.
//
// # Encoded stream
//
// Video is H.264 from libx264 (preset veryfast, tune zerolatency): no
// B-frames, so DTS equals PTS and a frame's packet comes out of the call that
// encoded it. Keyframes are IDRs exactly every 2 s (keyint = keyint_min =
// 2*FPS, scenecut off), so RTMP GOPs and HLS segments line up across sinks.
// SPS/PPS are in StreamInfo (Annex B, from GLOBAL_HEADER) and repeated in band
// before every IDR, so any keyframe is a clean starting point. The rate is
// VBV-capped for RTMP ingests: maxrate = bitrate, bufsize = 2*bitrate.
//
// Audio is AAC-LC (FFmpeg's native encoder), raw frames with the
// AudioSpecificConfig in StreamInfo. WriteAudio takes interleaved stereo
// float32 chunks of any size and gathers them into 1024-sample frames. The
// encoder's 1024-sample priming is not exposed as a negative timestamp: audio
// PTS start at the first input sample, so audio plays 21 ms late, which is far
// inside lip-sync tolerance and keeps every sink's timestamps non-negative.
//
// # Fan-out
//
// Each sink starts at a video keyframe. A sink that falls more than
// QueueOptions.MaxDelay of media behind loses whole GOPs: the queued GOP that
// the overflow would truncate is taken back, and everything (audio included)
// is dropped until a keyframe fits again. A sink that fails (Open or Write
// returns an error) is closed and reported; the others carry on. Sinks that
// can recover report their trouble through their output.Reporter instead and
// keep taking packets: the RTMP sink while it reconnects, the archive and
// the HLS recording while their disk is full or their folder unusable.
//
// A Write that has not returned for QueueOptions.StallAfter (3 s) marks its
// output stalled: not running, with a StallError (unless the sink reported
// an error of its own), until the Write returns. This is how a stall the
// sink cannot see becomes visible in the job's state; the GOP dropping goes
// on meanwhile. Close does not drain a stalled output: it stops it (its
// context is cancelled), so the job's end never waits on a destination that
// takes nothing.
//
// # Archival recording
//
// mp4.Sink writes a fragmented MP4 (empty moov, a fragment per keyframe or
// second) straight to its final path and flushes each fragment, so a killed
// process leaves a file that plays up to its last fragment. Close adds the
// index. A full disk suspends it at its last whole fragment; it resumes in a
// new file (recording.2.mp4, …) when there is room again.
//
// # Files
//
// encoder.go holds the Encoder type, its config and stats; x264.go the video
// side (libx264), aac.go the audio side (AAC framing and priming). fanout.go
// is the Fanout registry of outputs; outlet.go one output's goroutine and
// state; queue.go its queue and the GOP dropping.
package muxer
