// Package rtmptest runs the real components the RTMP sink is tested
// against: an FFmpeg-made packet source, nginx with the RTMP module (and its
// stream module as a TLS front), "ffmpeg -listen" as a second ingest, and
// ffprobe to check what arrived. Every process is stopped by t.Cleanup, and
// a missing binary fails the test rather than skipping it.
package rtmptest
