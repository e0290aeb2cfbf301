package api

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Service is what the API calls. Its errors choose the answers: a *Problem
// as it is, a *config.Error as 422 with its fields, a *jobstate.Error by its
// code, anything else 500 without its text.
type Service interface {
	// StartJob starts cfg. With an idempotency key seen in the last 24 h it
	// returns that key's job instead, with existed true.
	StartJob(ctx context.Context, cfg config.Job, idempotencyKey string) (s jobstate.State, existed bool, err error)
	Job(ctx context.Context, id string) (jobstate.State, error)
	Jobs(ctx context.Context, f ListFilter) (JobPage, error)
	// StopJob stops a job; with wait it returns once every output is
	// finalized.
	StopJob(ctx context.Context, id string, wait bool) (jobstate.State, error)
	PatchJob(ctx context.Context, id string, p Patch) (jobstate.State, error)
	// Events returns the job's events after sequence number after (0: all),
	// then live ones, until ctx ends or the job's log ends (the channel
	// closes).
	Events(ctx context.Context, id string, after uint64) (<-chan Event, error)
	// JobFiles opens the job's output folder, confined: nothing outside it
	// can be reached through the root, symlinks included.
	JobFiles(ctx context.Context, id string) (*os.Root, error)
	// LiveHLS returns the handler of a running job's live HLS, which
	// serves the paths under /hls/ID/.
	LiveHLS(ctx context.Context, id string) (http.Handler, error)
	RoomState(ctx context.Context, meetingURL string) (RoomState, error)
	StopRoom(ctx context.Context, meetingURL string) (JobPage, error)
	Deliveries(ctx context.Context, failed bool) ([]Delivery, error)
	RetryDelivery(ctx context.Context, id string) (Delivery, error)
	// Ready is nil while the service admits jobs.
	Ready(ctx context.Context) error
}

// ListFilter selects jobs for GET /v1/jobs.
type ListFilter struct {
	State      jobstate.Phase
	MeetingURL string
	Limit      int
	Cursor     string
}

// JobPage is a page of jobs, newest first.
type JobPage struct {
	Jobs       []jobstate.State `json:"jobs"`
	NextCursor *string          `json:"nextCursor"`
}

// Patch changes a running job.
type Patch struct {
	// Layout is a preset's name or a layout document (an object).
	Layout         *config.Layout `json:"layout,omitempty"`
	AddRTMPURLs    []string       `json:"addRtmpUrls,omitempty"`
	RemoveRTMPURLs []string       `json:"removeRtmpUrls,omitempty"`
}

// Event is one entry of a job's event log. Data is the job's state.
type Event struct {
	Seq  uint64          `json:"-"`
	Type string          `json:"type"`
	Time time.Time       `json:"timestamp"`
	Data json.RawMessage `json:"data"`
}

// Running is one kind of output in the room view.
type Running struct {
	Running bool            `json:"running"`
	Error   *jobstate.Error `json:"error"`
}

// RoomState is the contract's room view: each kind of output, over every
// job of the room.
type RoomState struct {
	MeetingURL    string   `json:"meetingUrl"`
	RTMPStreaming Running  `json:"rtmpStreaming"`
	Recording     Running  `json:"recording"`
	HLSStreaming  Running  `json:"hlsStreaming"`
	HLSRecording  Running  `json:"hlsRecording"`
	Jobs          []string `json:"jobs"`
}

// Delivery is one webhook delivery.
type Delivery struct {
	ID            string     `json:"id"`
	JobID         string     `json:"jobId"`
	Type          string     `json:"type"`
	URL           string     `json:"url"`
	Attempts      int        `json:"attempts"`
	Status        string     `json:"status"` // pending, delivered, failed
	LastError     *string    `json:"lastError"`
	LastAttemptAt *time.Time `json:"lastAttemptAt"`
}
