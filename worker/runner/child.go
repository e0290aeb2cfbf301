package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Job is what the child drives; *jobstate.Job implements it.
type Job interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	State() jobstate.State
	Done() <-chan struct{}
	AddRTMP(ctx context.Context, url string) error
	RemoveRTMP(ctx context.Context, url string) error
	SetLayout(ctx context.Context, layout string) error
}

// Spec is what the child's job is made from: its start request.
type Spec struct {
	Config config.Job
	Out    string
	// Part is the job's part, from 1 (worker.Options.Part); 0 is the first.
	Part int
	// HTTPSocket, when set, is the Unix socket the job serves its HTTP
	// (live HLS) on, with URLs under HTTPBase in its state.
	HTTPSocket, HTTPBase string
	// OnEvent must be given to the job, so that every state change
	// reaches the parent.
	OnEvent func(name string, s jobstate.State)
}

// NewJob makes the child's job.
type NewJob func(Spec) (Job, error)

// stopTimeout bounds a stop request, which waits for every output to be
// finalized.
const stopTimeout = 60 * time.Second

// Serve is the child's side: it reads the start request from in, runs the
// job, answers control requests and reports every event on out, and returns
// once the job has ended and its final state is written. A closed in stops
// the job.
func Serve(ctx context.Context, in io.Reader, out io.Writer, newJob NewJob) error {
	w := &writer{enc: json.NewEncoder(out)}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	if !sc.Scan() {
		return fmt.Errorf("runner: no start request: %w", errors.Join(sc.Err(), io.ErrUnexpectedEOF))
	}
	var start request
	if err := json.Unmarshal(sc.Bytes(), &start); err != nil || start.Op != opStart || start.Config == nil {
		return fmt.Errorf("runner: the first request must be a start with a config (got %.200q)", sc.Bytes())
	}
	job, err := newJob(Spec{
		Config: *start.Config, Out: start.Out, Part: start.Part, HTTPSocket: start.HTTPSocket, HTTPBase: start.HTTPBase,
		OnEvent: func(name string, s jobstate.State) { w.send(message{Event: name, State: &s}) },
	})
	if err != nil {
		w.send(message{Reply: start.ID, Error: asError(err)})
		return err
	}
	if err := job.Start(ctx); err != nil {
		s := job.State()
		w.send(message{Reply: start.ID, Error: asError(err), State: &s})
		<-job.Done()
		s = job.State()
		w.send(message{Done: true, State: &s})
		return nil
	}
	s := job.State()
	w.send(message{Reply: start.ID, State: &s})

	reqs := make(chan request)
	go func() {
		defer close(reqs)
		for sc.Scan() {
			var r request
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				w.send(message{Error: &jobstate.Error{Code: jobstate.CodeInternal, Message: "runner: unreadable request"}})
				continue
			}
			reqs <- r
		}
	}()
	var handlers sync.WaitGroup
	for {
		select {
		case r, ok := <-reqs:
			if !ok {
				// The parent is gone: stop as asked, finalizing the outputs.
				reqs = nil
				handlers.Add(1)
				go func() {
					defer handlers.Done()
					sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
					defer cancel()
					_ = job.Stop(sctx)
				}()
				continue
			}
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				w.send(handle(ctx, job, r))
			}()
		case <-job.Done():
			handlers.Wait()
			s := job.State()
			w.send(message{Done: true, State: &s})
			return nil
		}
	}
}

// handle runs one control request. Each runs on its own goroutine: a stop
// waits for the outputs, and must not hold up a state request behind it.
func handle(ctx context.Context, job Job, r request) message {
	var err error
	switch r.Op {
	case opState:
	case opStop:
		sctx, cancel := context.WithTimeout(ctx, stopTimeout)
		err = job.Stop(sctx)
		cancel()
	case opSetLayout:
		err = job.SetLayout(ctx, r.Layout)
	case opAddRTMP:
		err = job.AddRTMP(ctx, r.URL)
	case opRemoveRTMP:
		err = job.RemoveRTMP(ctx, r.URL)
	default:
		err = &jobstate.Error{Code: jobstate.CodeInternal, Message: fmt.Sprintf("runner: unknown request %q", r.Op)}
	}
	s := job.State()
	return message{Reply: r.ID, Error: asError(err), State: &s}
}

// asError keeps a job's contract error as it is, and wraps anything else.
func asError(err error) *jobstate.Error {
	if err == nil {
		return nil
	}
	var e *jobstate.Error
	if errors.As(err, &e) {
		return &jobstate.Error{Code: e.Code, Message: e.Message}
	}
	return &jobstate.Error{Code: jobstate.CodeInternal, Message: err.Error()}
}

// writer serializes messages from the job's goroutines onto one stream.
type writer struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *writer) send(m message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A parent that is gone cannot be told; the job still ends cleanly.
	_ = w.enc.Encode(m)
}
