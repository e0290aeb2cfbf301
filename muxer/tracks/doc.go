// Package tracks writes the per-track recordings: each track's media as the
// room sent it, without re-encoding (VP8, VP9, AV1 and Opus to WebM, H.264 to
// fragmented MP4), one file per track, each starting at 0 with its start
// offset on the job's timeline recorded; and the file-room manifest
// (tracks/room.yaml) that re-composes the meeting from them.
package tracks
