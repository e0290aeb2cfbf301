package worker

import "github.com/roomcast/roomcast/worker/jobstate"

// The job's state types live in worker/jobstate, which imports no FFmpeg,
// so that the service's process can use them without loading it; these
// names keep the worker's API as it was.
type (
	Phase         = jobstate.Phase
	State         = jobstate.State
	Stats         = jobstate.Stats
	OutputStats   = jobstate.OutputStats
	RTMPOutput    = jobstate.RTMPOutput
	RTMPStreaming = jobstate.RTMPStreaming
	Recording     = jobstate.Recording
	HLSStreaming  = jobstate.HLSStreaming
	HLSRecording  = jobstate.HLSRecording
	Thumbnails    = jobstate.Thumbnails
	Upload        = jobstate.Upload
	TrackFile     = jobstate.TrackFile
	PeerStats     = jobstate.PeerStats
	VideoStats    = jobstate.VideoStats
	Error         = jobstate.Error
)

// Phases.
const (
	Starting = jobstate.Starting
	Running  = jobstate.Running
	Stopping = jobstate.Stopping
	Stopped  = jobstate.Stopped
	Failed   = jobstate.Failed
)

// Event names.
const (
	EventRTMPStreaming = jobstate.EventRTMPStreaming
	EventRecording     = jobstate.EventRecording
	EventHLSStreaming  = jobstate.EventHLSStreaming
	EventHLSRecording  = jobstate.EventHLSRecording
	EventJob           = jobstate.EventJob
)

// Error codes.
const (
	CodeInvalidConfig  = jobstate.CodeInvalidConfig
	CodeAlreadyRunning = jobstate.CodeAlreadyRunning
	CodeNotFound       = jobstate.CodeNotFound
	CodeRoomJoin       = jobstate.CodeRoomJoin
	CodeRoomEnded      = jobstate.CodeRoomEnded
	CodeOutput         = jobstate.CodeOutput
	CodeRTMP           = jobstate.CodeRTMP
	CodeRecording      = jobstate.CodeRecording
	CodeHLS            = jobstate.CodeHLS
	CodeUpload         = jobstate.CodeUpload
	CodeInternal       = jobstate.CodeInternal
)

// RedactRoom drops credentials and query strings from a meetingUrl.
func RedactRoom(s string) string { return jobstate.RedactRoom(s) }
