package worker

import "github.com/roomcast/roomcast/muxer"

// The contract reports running and error for each kind of output. This file
// derives those from the fan-out's per-output states, and holds the rule
// that a job fails only when every output it asked for has failed. All of it
// runs on the job's loop.

// applyOutput records an output's new state in the contract's part for it.
func (j *Job) applyOutput(name string, s muxer.OutputState) {
	errOf := func(code string) *Error {
		if s.Err == nil {
			return nil
		}
		return &Error{Code: code, Message: s.Err.Error(), Cause: s.Err}
	}
	switch name {
	case outRecording:
		j.state.Recording.Running, j.state.Recording.Error = s.Running, errOf(CodeRecording)
		j.refreshRecordingFiles()
	case outHLS:
		j.state.HLSStreaming.Running, j.state.HLSStreaming.Error = s.Running, errOf(CodeHLS)
	case outHLSRecord:
		j.state.HLSRecording.Running, j.state.HLSRecording.Error = s.Running, errOf(CodeHLS)
	default:
		if i := j.rtmpIndex(name); i >= 0 {
			o := &j.state.RTMPStreaming.Outputs[i]
			o.Running, o.Error, o.Retries = s.Running, errOf(CodeRTMP), s.Retries
		}
		j.rollUpRTMP()
	}
	// Byte counters are filled in by refreshStats.
}

// rollUpRTMP derives rtmpStreaming's running and error from its URLs:
// running while any URL streams; its error is the first URL's error unless
// some URLs still stream, in which case the failed ones carry their own.
func (j *Job) rollUpRTMP() {
	rs := &j.state.RTMPStreaming
	rs.Running, rs.Error = false, nil
	failed := 0
	for _, o := range rs.Outputs {
		rs.Running = rs.Running || o.Running
		if o.Error != nil {
			failed++
			if rs.Error == nil {
				rs.Error = o.Error
			}
		}
	}
	if failed < len(rs.Outputs) && rs.Running {
		rs.Error = nil
	}
}

// allOutputsFailed reports whether every output the job asked for has
// failed for good.
func (j *Job) allOutputsFailed() bool {
	if j.g == nil || j.g.fan == nil {
		return false
	}
	states := j.g.fan.States()
	if len(states) == 0 {
		return false
	}
	for _, s := range states {
		if !s.Failed {
			return false
		}
	}
	return true
}

// rollUpEnd sets the final phase once everything has stopped: nothing runs
// any more, and a job that was not failed already fails if every output
// did. It returns the failure that ended the job, nil for a job that ended
// as asked.
func (j *Job) rollUpEnd(failure *Error, reason string) *Error {
	if failure == nil && j.allOutputsFailed() {
		failure = errorf(CodeOutput, "every output failed")
	}
	if failure != nil {
		j.state.State = Failed
		j.state.Error = failure
	} else {
		j.state.State = Stopped
	}
	j.state.Reason = reason
	j.state.RTMPStreaming.Running = false
	for i := range j.state.RTMPStreaming.Outputs {
		j.state.RTMPStreaming.Outputs[i].Running = false
	}
	j.state.Recording.Running = false
	j.state.HLSStreaming.Running = false
	j.state.HLSRecording.Running = false
	return failure
}

// rtmpIndex returns the state index of an RTMP output, or -1.
func (j *Job) rtmpIndex(name string) int {
	for i, n := range j.rtmpNames {
		if n == name {
			return i
		}
	}
	return -1
}

// refreshRecordingFiles takes the archive's files from its sink: a
// recording that resumed after a write error writes a new file.
func (j *Job) refreshRecordingFiles() {
	if files := j.g.recordingFiles(j.opts.Out); len(files) > 0 {
		j.state.Recording.Files = files
		j.state.Recording.Path = files[len(files)-1]
	}
}
