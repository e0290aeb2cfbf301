// Package muxer owns the output side of a job: it encodes the composite once
// (libx264 and AAC through go-astiav) and fans the encoded packets out to
// sinks (the archival MP4, RTMP URLs, HLS), each on its own goroutine behind
// its own bounded queue, so that no sink can slow down the encoder or another
// sink.
package muxer
