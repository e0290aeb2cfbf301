package service

// Shaping job states.

import (
	"time"

	"github.com/roomcast/roomcast/worker/jobstate"
)

func terminal(p jobstate.Phase) bool { return p == jobstate.Stopped || p == jobstate.Failed }

func failed(st jobstate.State, reason string, now time.Time) jobstate.State {
	now = now.UTC()
	st.State = jobstate.Failed
	st.Reason = reason
	st.Error = &jobstate.Error{Code: jobstate.CodeInternal, Message: reason}
	if st.StoppedAt == nil {
		st.StoppedAt = &now
	}
	st.RTMPStreaming.Running = false
	for i := range st.RTMPStreaming.Outputs {
		st.RTMPStreaming.Outputs[i].Running = false
	}
	st.Recording.Running = false
	st.HLSStreaming.Running = false
	st.HLSRecording.Running = false
	return normalized(st)
}

// normalized gives the state the shape the API documents: lists are
// lists, never null.
func normalized(st jobstate.State) jobstate.State {
	if st.RTMPStreaming.Outputs == nil {
		st.RTMPStreaming.Outputs = []jobstate.RTMPOutput{}
	}
	return st
}
