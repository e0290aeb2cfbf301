package service

// Calls between the nodes of a fleet: what one node asks of another, and
// how the answers travel.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/fleet"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Operations a node answers on its subject.
const (
	opStart = "start" // place a job here (its config)
	opJob   = "job"   // a job's live state
	opStop  = "stop"
	opPatch = "patch"
	opAdopt = "adopt" // continue a handed-over job here
	opDrain = "drain"
	opFiles = "files" // list a job's files here
	opRead  = "read"  // read a chunk of one of them
)

// call is a request between nodes.
type call struct {
	ID      string      `json:"id,omitempty"`
	Config  *config.Job `json:"config,omitempty"`
	Wait    bool        `json:"wait,omitempty"`
	Patch   *api.Patch  `json:"patch,omitempty"`
	Migrate bool        `json:"migrate,omitempty"`
	Path    string      `json:"path,omitempty"`
	Offset  int64       `json:"offset,omitempty"`
	Len     int         `json:"len,omitempty"`
}

// reply is an answer between nodes: one of its fields, or a problem.
type reply struct {
	State        *jobstate.State `json:"state,omitempty"`
	Node         *api.Node       `json:"node,omitempty"`
	Files        []api.FileInfo  `json:"files,omitempty"`
	Data         []byte          `json:"data,omitempty"`
	Problem      *api.Problem    `json:"problem,omitempty"`
	RetryAfterMs int64           `json:"retryAfterMs,omitempty"`
}

func (r reply) problem() *api.Problem {
	p := *r.Problem
	p.RetryAfter = time.Duration(r.RetryAfterMs) * time.Millisecond
	return &p
}

func failure(err error) reply {
	p := api.ProblemOf(err)
	return reply{Problem: p, RetryAfterMs: p.RetryAfter.Milliseconds()}
}

// handleCalls answers the other nodes. Each handler acts here only: a node
// never forwards a call it was sent, so no call goes round in circles.
func (s *Service) handleCalls() error {
	h := func(fn func(ctx context.Context, c call) reply) fleet.Handler {
		return func(ctx context.Context, data []byte) []byte {
			var c call
			var r reply
			if err := json.Unmarshal(data, &c); err != nil {
				r = failure(fmt.Errorf("service: a call that does not parse: %w", err))
			} else {
				r = fn(ctx, c)
			}
			b, err := json.Marshal(r)
			if err != nil {
				b, _ = json.Marshal(failure(err))
			}
			return b
		}
	}
	state := func(st jobstate.State, err error) reply {
		if err != nil {
			return failure(err)
		}
		return reply{State: &st}
	}
	ops := map[string]func(context.Context, call) reply{
		opStart: func(ctx context.Context, c call) reply {
			if c.Config == nil {
				return failure(errors.New("service: start without a config"))
			}
			return state(s.startHere(ctx, *c.Config))
		},
		opJob:  func(ctx context.Context, c call) reply { return state(s.jobHere(ctx, c.ID)) },
		opStop: func(ctx context.Context, c call) reply { return state(s.stopHere(ctx, c.ID, c.Wait)) },
		opAdopt: func(ctx context.Context, c call) reply {
			return state(s.adopt(ctx, c.ID, jobstate.PartMigrate, time.Now()))
		},
		opPatch: func(ctx context.Context, c call) reply {
			if c.Patch == nil {
				return failure(errors.New("service: patch without a patch"))
			}
			return state(s.patchHere(ctx, c.ID, *c.Patch))
		},
		opDrain: func(_ context.Context, c call) reply {
			n := s.drainHere(c.Migrate)
			return reply{Node: &n}
		},
		opFiles: func(ctx context.Context, c call) reply {
			files, err := s.filesHere(ctx, c.ID)
			if err != nil {
				return failure(err)
			}
			return reply{Files: files}
		},
		opRead: func(ctx context.Context, c call) reply {
			b, err := s.readHere(ctx, c.ID, c.Path, c.Offset, c.Len)
			if err != nil {
				return failure(err)
			}
			return reply{Data: b}
		},
	}
	for op, fn := range ops {
		if err := s.opts.Fleet.Handle(op, h(fn)); err != nil {
			return err
		}
	}
	return nil
}

// ask sends a call to node and decodes its answer; a problem comes back
// as the *api.Problem it was.
func (s *Service) ask(ctx context.Context, node, op string, c call) (reply, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return reply{}, err
	}
	out, err := s.opts.Fleet.Call(ctx, node, op, b)
	if err != nil {
		return reply{}, err
	}
	var r reply
	if err := json.Unmarshal(out, &r); err != nil {
		return reply{}, fmt.Errorf("service: %s on %s: an answer that does not parse: %w", op, node, err)
	}
	if r.Problem != nil {
		return r, r.problem()
	}
	return r, nil
}

// callState is ask for the calls that answer a job's state.
func (s *Service) callState(ctx context.Context, node, op string, c call) (jobstate.State, error) {
	r, err := s.ask(ctx, node, op, c)
	if err != nil {
		return jobstate.State{}, err
	}
	if r.State == nil {
		return jobstate.State{}, fmt.Errorf("service: %s on %s: no state in the answer", op, node)
	}
	return *r.State, nil
}
