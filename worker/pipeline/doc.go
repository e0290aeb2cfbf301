// Package pipeline is the per-track receive path of a job: RTP packets from a
// room.Track go through a jitter buffer (reorder, drop duplicates, skip gaps
// after a bounded wait), a frame assembler whose depacketizer rebuilds whole
// frames (VP8, VP9, H.264 as Annex B, AV1 as low-overhead OBU temporal units;
// Opus goes to the decoder as is) under a per-codec size cap, a keyframe gate
// that asks the sender for a keyframe (PLI) after a loss, and a go-astiav
// decoder. Decoded frames reach a Sink stamped with job time.
//
// A sender's stream is outside input: a decoder takes pictures of at most
// maxPixels, a picture over maxFrameSide on a side never reaches the Sink,
// and packets of a payload type the track was not opened with (a codec
// switch) are dropped, so a hostile stream costs its own tile and no more
// (docs/reliability.md, "Hostile media").
//
// The per-packet path allocates nothing: a packet is read straight into a
// buffer of the jitter buffer and parsed there, and every later stage
// writes into buffers it reuses. Bitstream details come from mediacommon
// (H.264 NAL unit types, AV1 LEB128 and OBU types, VP9 frame headers, frame
// size caps) and pion (RTP, VP8 and VP9 payload descriptors).
//
// Job time comes from a Sync shared by the tracks of one peer: the sender
// reports (RTCP SR) of each track tie its RTP clock to the sender's NTP clock
// (a trackMapper per track), and the peer's NTP clock is tied to the job
// clock either exactly (rooms whose NTP is the job clock, see room.Timeline)
// or by an estimate from arrival times that is common to all of the peer's
// tracks, so its audio and video stay in sync.
//
// Each packet is handled to the end (decoded and handed to the Sink) on Run's
// goroutine before the next one is read: the file room's virtual clock counts
// on a reader coming back to Read only once it is done with a packet.
package pipeline
