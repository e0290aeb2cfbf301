// Package mediafile reads media files for the senders that replay them as a
// WebRTC peer would: the file room (room/file) and `roomcast publish`
// (room/livekit's Publisher).
//
// It owns demuxing (go-astiav), describing each stream in WebRTC's terms
// (mime type, clock rate, channels, fmtp, Chrome's payload type) and turning
// each demuxed packet into the access unit a WebRTC payloader takes: H.264
// as Annex B with SPS and PPS before every keyframe, AV1 as a temporal unit
// of sized OBUs (the low-overhead format) with the sequence header before
// every keyframe, VP8, VP9 and Opus as they are. The bitstream work is
// mediacommon's; what is here is only the container records (avcC, av1C)
// that mediacommon does not read. Timing policy (pacing, pre-skip, frame
// grids) stays with each sender: samples carry the container's timestamps.
package mediafile
