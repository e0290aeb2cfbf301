// Package mp4 is the archival recording sink: a fragmented, crash-safe MP4
// written through FFmpeg's mp4 muxer.
package mp4
