// Package runner runs each job of the service in a child process of the same
// binary, so that a crash inside FFmpeg, an out-of-memory kill or a SIGKILL
// fails that one job while the service and its other jobs carry on.
//
// The parent (Process) and the child (Serve) speak one JSON object per line:
// requests down the child's stdin (start first, then state, stop,
// setLayout, addRtmp, removeRtmp), and replies and state-change events up its stdout.
// The child's stderr carries its logs. The child stops its job, finalizing
// every output, when its stdin closes, so a job never outlives the service
// that started it by more than its own shutdown. The child's program must
// ignore SIGPIPE, or the first event it writes to a dead parent kills it
// before its outputs are finalized.
//
// When the child ends without saying so (a signal, a crash), the parent
// reports the job failed with the signal as its reason, from the last state
// it had seen. The job's outputs are the child's; the fragmented MP4 plays up
// to its last complete fragment.
package runner
