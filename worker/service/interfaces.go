package service

import (
	"context"
	"encoding/json"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/fleet"
	"github.com/roomcast/roomcast/worker/jobstate"
	"github.com/roomcast/roomcast/worker/store"
)

// Store keeps the service's durable state; *store.Store implements it.
type Store interface {
	CreateJob(ctx context.Context, j store.Job) (uint64, error)
	UpdateJob(ctx context.Context, j store.Job, rev uint64) (uint64, error)
	Job(ctx context.Context, id string) (store.Job, uint64, error)
	Jobs(ctx context.Context) ([]store.Job, error)
	ClaimRoom(ctx context.Context, meetingURL, jobID string) error
	ReleaseRoom(ctx context.Context, meetingURL, jobID string) error
	// ClaimedJobs are the jobs holding a room: every job not yet ended
	// (and, briefly, some just ended).
	ClaimedJobs(ctx context.Context) ([]string, error)
	Idempotent(ctx context.Context, key, jobID string) (string, error)
	AppendEvent(ctx context.Context, jobID, typ string, data json.RawMessage) (uint64, error)
	Events(ctx context.Context, jobID string, after uint64) (<-chan store.Event, error)
	Enqueue(ctx context.Context, d store.Delivery) error
	ConsumeDeliveries(ctx context.Context, handle func(context.Context, store.Delivery) error) error
	FailedDeliveries(ctx context.Context) ([]store.FailedDelivery, error)
	Retry(ctx context.Context, id string) error
	OutboxDepth(ctx context.Context) (uint64, error)
}

// Runner starts jobs.
type Runner interface {
	// Start runs part (from 1) of job cfg with out as its output folder
	// and returns once it runs; onEvent receives every state change, in
	// order.
	Start(ctx context.Context, cfg config.Job, out string, part int, onEvent func(name string, s jobstate.State)) (Run, error)
}

// Run is one running job.
type Run interface {
	State() jobstate.State
	Poll(ctx context.Context) (jobstate.State, error)
	Stop(ctx context.Context) error
	SetLayout(ctx context.Context, layout string) error
	AddRTMP(ctx context.Context, url string) error
	RemoveRTMP(ctx context.Context, url string) error
	Done() <-chan struct{}
	// CPU is the job's CPU time so far.
	CPU() time.Duration
	// HTTPSocket is the Unix socket the job serves its live HLS on, or "".
	HTTPSocket() string
	// Final is the job's last state and CPU time, once Done is closed.
	Final() (jobstate.State, time.Duration)
}

// Fleet is the service's view of the other nodes on its NATS cluster;
// *fleet.Fleet implements it.
type Fleet interface {
	// Name is this node's name.
	Name() string
	LeaseTTL() time.Duration
	// Run heartbeats this node (self gives its figures) and renews its
	// leases until ctx ends.
	Run(ctx context.Context, self func() fleet.Node)
	// Poke puts this node's entry now: its load changed.
	Poke()
	Nodes(ctx context.Context) ([]fleet.Node, error)
	// Steady: this node's heartbeats have gone through for a lease's
	// life, so a missing lease means a dead node, not a NATS outage.
	Steady() bool
	Acquire(ctx context.Context, jobID string, onLost func()) error
	Release(ctx context.Context, jobID string) error
	Holder(ctx context.Context, jobID string) (string, error)
	Handle(op string, h fleet.Handler) error
	Call(ctx context.Context, node, op string, data []byte) ([]byte, error)
}
