package worker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Phase is a job's overall state.
type Phase string

// Job phases, after the contract.
const (
	Starting Phase = "starting"
	Running  Phase = "running"
	Stopping Phase = "stopping"
	Stopped  Phase = "stopped"
	Failed   Phase = "failed"
)

// Error codes carried in state and in API answers.
const (
	CodeInvalidConfig  = "INVALID_CONFIG"
	CodeAlreadyRunning = "ALREADY_RUNNING"
	CodeNotFound       = "NOT_FOUND"
	CodeRoomJoin       = "ROOM_JOIN_FAILED"
	CodeRoomEnded      = "ROOM_ENDED"
	CodeOutput         = "OUTPUT_FAILED"
	CodeRTMP           = "RTMP_FAILED"
	CodeRecording      = "RECORDING_FAILED"
	CodeHLS            = "HLS_FAILED"
	CodeInternal       = "INTERNAL"
)

// Error is the contract's error object.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// errorf makes an *Error.
func errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// RTMPOutput is one RTMP URL's state. URL has its key masked.
type RTMPOutput struct {
	URL     string `json:"url"`
	Running bool   `json:"running"`
	Error   *Error `json:"error"`
	Retries int    `json:"retries"`
	Bytes   int64  `json:"bytes"`
}

// RTMPStreaming is the contract's rtmpStreaming.
type RTMPStreaming struct {
	Running bool         `json:"running"`
	Error   *Error       `json:"error"`
	Outputs []RTMPOutput `json:"outputs"`
}

// Recording is the contract's recording (the archival MP4).
type Recording struct {
	Running bool   `json:"running"`
	Error   *Error `json:"error"`
	Path    string `json:"path,omitempty"`
	Bytes   int64  `json:"bytes"`
}

// HLSStreaming is the contract's hlsStreaming.
type HLSStreaming struct {
	Running bool    `json:"running"`
	Error   *Error  `json:"error"`
	URL     *string `json:"url"`
}

// HLSRecording is the contract's hlsRecording.
type HLSRecording struct {
	Running bool    `json:"running"`
	Error   *Error  `json:"error"`
	Path    *string `json:"path"`
}

// State is a job's state in the contract's schema, plus roomcast's
// extensions (reason, room, stats).
type State struct {
	ID            string        `json:"id"`
	State         Phase         `json:"state"`
	RTMPStreaming RTMPStreaming `json:"rtmpStreaming"`
	Recording     Recording     `json:"recording"`
	HLSStreaming  HLSStreaming  `json:"hlsStreaming"`
	HLSRecording  HLSRecording  `json:"hlsRecording"`
	StartedAt     *time.Time    `json:"startedAt"`
	StoppedAt     *time.Time    `json:"stoppedAt"`

	// Extensions.
	Error  *Error `json:"error,omitempty"`  // why the job failed
	Reason string `json:"reason,omitempty"` // why it stopped
	Room   string `json:"room"`             // meetingUrl, without credentials
	Peers  int    `json:"peers"`
	Stats  Stats  `json:"stats"`
}

// Stats are live figures of a job, for the progress line and status.json.
type Stats struct {
	Elapsed      float64 `json:"elapsedSeconds"` // output time written
	Frames       int64   `json:"frames"`
	LateFrames   int64   `json:"lateFrames"`
	FPS          float64 `json:"fps"`          // output frames per wall-clock second, recently
	BitrateKbps  float64 `json:"bitrateKbps"`  // encoded, recently
	EncodedBytes int64   `json:"encodedBytes"` // total
	// FirstVideoSeconds is the output time (since startedAt) of the first
	// frame that showed a peer's video: the job's start latency.
	FirstVideoSeconds *float64 `json:"firstVideoSeconds"`
}

// Event names of the contract's state-change events.
const (
	EventRTMPStreaming = "rtmpStreamingStateUpdated"
	EventRecording     = "recordingStateUpdated"
	EventHLSStreaming  = "hlsStreamingStateUpdated"
	EventHLSRecording  = "hlsRecordingStateUpdated"
	// EventJob is roomcast's own: the job's phase changed.
	EventJob = "jobStateUpdated"
)

// withoutCounters returns s without the figures that change all the time
// (stats, byte counts): what is left is the state proper.
func withoutCounters(s State) State {
	s = s.clone()
	s.Stats = Stats{}
	s.Recording.Bytes = 0
	for i := range s.RTMPStreaming.Outputs {
		s.RTMPStreaming.Outputs[i].Bytes = 0
	}
	return s
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// sameState reports whether two states differ only in their counters.
func sameState(old, cur *State) bool {
	return equalJSON(withoutCounters(*old), withoutCounters(*cur))
}

// changedEvents lists the contract events whose part differs between two
// states.
func changedEvents(old, cur *State) []string {
	o, c := withoutCounters(*old), withoutCounters(*cur)
	var ev []string
	if o.State != c.State || !equalJSON(o.Error, c.Error) {
		ev = append(ev, EventJob)
	}
	if !equalJSON(o.RTMPStreaming, c.RTMPStreaming) {
		ev = append(ev, EventRTMPStreaming)
	}
	if !equalJSON(o.Recording, c.Recording) {
		ev = append(ev, EventRecording)
	}
	if !equalJSON(o.HLSStreaming, c.HLSStreaming) {
		ev = append(ev, EventHLSStreaming)
	}
	if !equalJSON(o.HLSRecording, c.HLSRecording) {
		ev = append(ev, EventHLSRecording)
	}
	return ev
}

// writeStatus writes status.json atomically, so a reader (or a crash) never
// sees half a file.
func writeStatus(dir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(dir, ".status-*.json")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, "status.json")); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("status: %w", err)
	}
	return nil
}
