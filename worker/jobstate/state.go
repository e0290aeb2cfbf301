package jobstate

import (
	"slices"
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
	// Path is the file being written, relative to the job's folder.
	Path string `json:"path,omitempty"`
	// Files are every file the recording wrote in this part, in order,
	// Path last: a recording that resumes after a write error (a full
	// disk) continues in a new file (jobstate.ResumeFile).
	Files []string `json:"files,omitempty"`
	Bytes int64    `json:"bytes"`
	// Upload is the recording's upload, when the job has one.
	Upload *Upload `json:"upload,omitempty"`
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
	// Upload is the HLS recording's upload, when the job has one.
	Upload *Upload `json:"upload,omitempty"`
}

// Upload is one output's upload to object storage (roomcast's extension):
// the archive as one object, the HLS recording and the thumbnails as one
// object per file.
type Upload struct {
	// Running while there is something to upload or retry.
	Running bool `json:"running"`
	// Error is the last failure (cleared by the next success); once the
	// upload has ended, why it did not complete: the local files are then
	// kept.
	Error *Error `json:"error"`
	// Bytes are the bytes stored in the bucket so far.
	Bytes int64 `json:"bytes"`
	// Location is the s3:// URL of the archive, the HLS playlist or the
	// latest thumbnail; null until known.
	Location *string `json:"location"`
	// Verified: complete, and checked against the local files (size, and
	// MD5 where the server's ETags give it).
	Verified bool `json:"verified"`
	// Backup: the upload moved to the backup bucket.
	Backup bool `json:"backup"`
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
	// Thumbnails are the composite's JPEGs, when the job takes them.
	Thumbnails *Thumbnails `json:"thumbnails,omitempty"`
	// Tracks are the per-track recordings, when the job makes them, in
	// the order their files opened.
	Tracks []TrackFile `json:"tracks,omitempty"`
	Error  *Error      `json:"error,omitempty"`  // why the job failed
	Reason string      `json:"reason,omitempty"` // why it stopped
	Room   string      `json:"room"`             // meetingUrl, without credentials
	// Node is the fleet node that runs the job (serve with --nats).
	Node string `json:"node,omitempty"`
	// Parts are the job's runs, one per node it ran on, in order: a job
	// that fails over to another node continues into a new part there.
	Parts []Part `json:"parts,omitempty"`
	Peers int    `json:"peers"`
	Stats Stats  `json:"stats"`

	// AudioOnly says the job has no video (config audioOnly): its outputs
	// carry one AAC track, and stats has no frames, fps or late frames.
	AudioOnly bool `json:"audioOnly,omitempty"`
}

// Stats are live figures of a job, for the progress line and status.json.
type Stats struct {
	Elapsed    float64 `json:"elapsedSeconds"` // output time written
	Frames     int64   `json:"frames"`
	LateFrames int64   `json:"lateFrames"`
	// DroppedFrames are source pictures lost before their time (a full
	// queue); DuplicatedFrames repeat the last picture because no source
	// had a new one.
	DroppedFrames    int64   `json:"droppedFrames"`
	DuplicatedFrames int64   `json:"duplicatedFrames"`
	FPS              float64 `json:"fps"`          // output frames per wall-clock second, recently
	BitrateKbps      float64 `json:"bitrateKbps"`  // encoded, recently
	EncodedBytes     int64   `json:"encodedBytes"` // total
	// FirstVideoSeconds is the output time (since startedAt) of the first
	// frame that showed a peer's video: the job's start latency.
	FirstVideoSeconds *float64 `json:"firstVideoSeconds"`
	// Outputs has one entry per output the job writes to, by name:
	// recording, hls, hlsRecording, and rtmp:N for the N-th (from 1) RTMP URL the
	// job was given (at start, then by PATCH), which it keeps while it
	// streams there.
	Outputs []OutputStats `json:"outputs,omitempty"`
	// Peers has each peer's received video layers (worker/peerstats.go).
	Peers []PeerStats `json:"peers,omitempty"`
}

// OutputStats are one output's figures.
type OutputStats struct {
	Name string `json:"name"`
	// URL is an RTMP output's URL, with its key masked.
	URL        string `json:"url,omitempty"`
	Bytes      int64  `json:"bytes"`
	Reconnects int    `json:"reconnects"`
	Errors     int64  `json:"errors"`
	// DroppedPackets were dropped because the output fell behind;
	// QueuedPackets wait in its queue now.
	DroppedPackets int64 `json:"droppedPackets"`
	QueuedPackets  int   `json:"queuedPackets"`
}

// Thumbnails is the state of a job's thumbnails.
type Thumbnails struct {
	Count int `json:"count"`
	// Latest is the newest one, relative to the job's folder
	// (thumbnails/latest.jpg), once there is one.
	Latest *string `json:"latest"`
	Error  *Error  `json:"error"`
	// Upload is the thumbnails' upload, when the job has one.
	Upload *Upload `json:"upload,omitempty"`
}

// TrackFile is one track's recording (tracks/), as the room sent it.
type TrackFile struct {
	PeerID   string `json:"peerId"`
	PeerName string `json:"peerName"`
	TrackID  string `json:"trackId"`
	Kind     string `json:"kind"`   // audio or video
	Source   string `json:"source"` // regular or screen
	Codec    string `json:"codec"`  // MIME type, e.g. video/VP8
	// Path is relative to the job's folder, e.g. tracks/alice-cam-PA_alice_video.webm.
	Path string `json:"path"`
	// StartOffsetSeconds is the job time of the file's time 0.
	StartOffsetSeconds float64 `json:"startOffsetSeconds"`
}

// Event names of the contract's state-change events.
const (
	EventRTMPStreaming = "rtmpStreamingStateUpdated"
	EventRecording     = "recordingStateUpdated"
	EventHLSStreaming  = "hlsStreamingStateUpdated"
	EventHLSRecording  = "hlsRecordingStateUpdated"
	// EventJob is roomcast's own: the job's phase changed.
	EventJob = "jobStateUpdated"
	// EventFailover is roomcast's own: the job continues on another node,
	// in a new part (its node died, or was drained with migration).
	EventFailover = "failover"
)

// Clone returns a copy of s that shares no slice or pointer with it.
func (s State) Clone() State {
	c := s
	c.RTMPStreaming.Outputs = append([]RTMPOutput{}, s.RTMPStreaming.Outputs...)
	c.Stats.Outputs = slices.Clone(s.Stats.Outputs)
	c.Tracks = slices.Clone(s.Tracks)
	c.Parts = slices.Clone(s.Parts)
	c.Recording.Files = slices.Clone(s.Recording.Files)
	if s.Thumbnails != nil {
		t := *s.Thumbnails
		t.Upload = t.Upload.clone()
		c.Thumbnails = &t
	}
	c.Recording.Upload = s.Recording.Upload.clone()
	c.HLSRecording.Upload = s.HLSRecording.Upload.clone()
	return c
}

// PeerStats are one peer's live figures in status.json's stats: for now,
// the simulcast layer each of its video tracks is received at.
type PeerStats struct {
	ID    string       `json:"id"`
	Video []VideoStats `json:"video,omitempty"`
}

// VideoStats is one video track as it is received.
type VideoStats struct {
	TrackID string `json:"trackId"`
	// Layer is the simulcast layer the size matches among those the
	// publisher sends (low, medium, high), empty if it matches none.
	Layer string `json:"layer,omitempty"`
	// TopLayer says it is the largest layer the publisher sends.
	TopLayer bool `json:"topLayer"`
	Width    int  `json:"width"`
	Height   int  `json:"height"`
	// LayerChanges counts the switches since the first keyframe.
	LayerChanges int `json:"layerChanges"`
}

func (u *Upload) clone() *Upload {
	if u == nil {
		return nil
	}
	c := *u
	return &c
}
