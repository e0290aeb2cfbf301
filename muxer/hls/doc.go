// Package hls holds roomcast's two HLS sinks. Both take the job's single
// encode (H.264 Annex B + raw AAC, a keyframe every 2 s) from the fan-out and
// never encode anything themselves.
//
// Live is the live stream (--hls). It packages with gohlslib in memory and is
// also an http.Handler that serves the multivariant playlist index.m3u8, the
// media playlists, init files, segments and LL-HLS parts relative to where it
// is mounted. Low-latency HLS (fMP4 with ~200 ms parts, blocking playlist
// reloads and preload hints) is the default; "fmp4" is plain fMP4 HLS and
// "mpegts" classic MPEG-TS segments for old players. Segments follow the
// encoder's GOP (one 2 s segment per keyframe). The handler adds the CORS
// headers browser players on another origin need (and answers OPTIONS
// preflights) and sets cache headers: playlists and init files "no-cache",
// segments and parts, whose names are unique to one muxer session, long-lived
// and immutable.
//
// Recorder is the HLS recording (--hls-record). It writes MPEG-TS segments and
// an EVENT playlist with FFmpeg's hls muxer through go-astiav, and turns the
// playlist into a VOD one with #EXT-X-ENDLIST on Close. MPEG-TS rather than
// fMP4 because every TS segment stands alone: a crash leaves no half-written
// init file and no segment that depends on one, and every player reads TS.
// FFmpeg writes each segment under a .tmp name and renames it when complete
// (hls_flags temp_file), and rewrites the playlist through index.m3u8.tmp and
// a rename after every segment, so after a SIGKILL index.m3u8 is a valid EVENT
// playlist up to the last complete segment. FinalizePlaylist turns such a
// leftover into a VOD playlist.
//
// FFmpeg 5.1's hls muxer does not report write errors: it buffers a segment
// in memory and, on a full disk, writes a truncated segment and replaces the
// playlist with an empty file without a word. So the Recorder checks the free
// space before every segment is written out (suspending with ENOSPC while the
// playlist is still good, leaving 256 KiB for the other outputs) and reads
// back every playlist FFmpeg writes, putting the last good one back if a new
// one is damaged. Errors FFmpeg does report (a folder that vanished or went
// read-only) suspend the recording too, and once a second it checks that
// its folder and playlist are still there.
//
// A suspended recording is not over: it reports the error (Running false),
// drops FFmpeg's muxer and the segment it held, and drops what it is given
// while it checks, once a second, that the folder is there (making it again
// if it was removed), takes a new file and has room for two segments. Then,
// at the next keyframe (any packet without video), a new muxer continues
// the same playlist with FFmpeg's append_list: the old segments stay
// listed, the numbering goes on, and #EXT-X-DISCONTINUITY marks the gap. If
// the playlist went with its folder (rm -rf), the segments it listed are
// gone too, and the recording starts a new playlist in the new folder whose
// segments carry on the old numbering, so no segment name (perhaps already
// uploaded) is used twice. Close finalizes whatever playlist there is.
//
// A sink's failure stays inside it: errors go to the Reporter and are returned
// from Write (the fan-out isolates the sink), nothing panics, and neither sink
// touches global FFmpeg state.
package hls
