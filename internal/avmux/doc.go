// Package avmux writes output packets through one of FFmpeg's muxers
// (go-astiav). The MP4 archive and the HLS recording share it, so stream
// setup and interleaved writing exist once.
package avmux
