package service

// Shaping job states.

import (
	"time"

	"github.com/roomcast/roomcast/worker"
)

func terminal(p worker.Phase) bool { return p == worker.Stopped || p == worker.Failed }

func failed(st worker.State, reason string, now time.Time) worker.State {
	now = now.UTC()
	st.State = worker.Failed
	st.Reason = reason
	st.Error = &worker.Error{Code: worker.CodeInternal, Message: reason}
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
func normalized(st worker.State) worker.State {
	if st.RTMPStreaming.Outputs == nil {
		st.RTMPStreaming.Outputs = []worker.RTMPOutput{}
	}
	return st
}
