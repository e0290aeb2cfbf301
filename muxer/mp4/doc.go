// Package mp4 is the archival recording sink: a fragmented, crash-safe MP4
// written through FFmpeg's mp4 muxer.
//
// The sink owns the file's descriptor (FFmpeg writes through an AVIO
// context with Go callbacks), so it sees every write error itself and
// knows where the last whole fragment ends. A write error (a full disk)
// does not end it: the file is cut back to its last whole fragment and
// closed, the error is reported (Running false, naming the file), packets
// are dropped, and once a second the disk is checked; with room again the
// recording resumes at the next keyframe in a new file. The files are
// named recording.mp4, recording.2.mp4, recording.3.mp4, … (the worker
// passes jobstate.ResumeFile's names: in a fleet's part 2,
// recording.part2.mp4, recording.part2.2.mp4, …, never another part's
// file). Each file starts at time zero.
//
// Once a second the sink also checks that its path still names its open
// file: a file removed mid-job (rm -rf of the job's folder) is put back
// from the open descriptor, its folder made again, and the recording goes
// on in it with nothing lost.
package mp4
