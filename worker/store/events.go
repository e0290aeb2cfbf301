package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const eventTypeHeader = "Roomcast-Event"

// Event is one entry of a job's event log.
type Event struct {
	// Seq is the event's position in the log of all jobs: it grows with
	// every event of a job but is not contiguous per job. It is the SSE id
	// that Last-Event-ID hands back to Events.
	Seq   uint64
	JobID string
	Type  string          // rtmpStreamingStateUpdated, jobStateUpdated, …
	Time  time.Time       // when the store took it
	Data  json.RawMessage // the service's payload (the job's state)
}

// AppendEvent adds an event to the job's log and returns its Seq.
func (s *Store) AppendEvent(ctx context.Context, jobID, typ string, data json.RawMessage) (uint64, error) {
	if err := checkID(jobID); err != nil {
		return 0, err
	}
	m := &nats.Msg{Subject: eventsSubject + jobID, Header: nats.Header{}, Data: data}
	m.Header.Set(eventTypeHeader, typ)
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		return 0, fmt.Errorf("store: append %s event of job %s: %w", typ, jobID, err)
	}
	return ack.Sequence, nil
}

// Events streams the job's events with Seq > after: first the stored ones,
// then new ones as they are appended, in order, with none lost between the
// two (one ordered consumer serves both). The channel closes when ctx ends,
// or if the subscription breaks (logged); a caller resumes by calling
// Events again with the last Seq it got.
func (s *Store) Events(ctx context.Context, jobID string, after uint64) (<-chan Event, error) {
	if err := checkID(jobID); err != nil {
		return nil, err
	}
	c, err := s.js.OrderedConsumer(ctx, eventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{eventsSubject + jobID},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    after + 1,
	})
	if err != nil {
		return nil, fmt.Errorf("store: events of job %s: %w", jobID, err)
	}
	it, err := c.Messages()
	if err != nil {
		return nil, fmt.Errorf("store: events of job %s: %w", jobID, err)
	}
	ch := make(chan Event, 16)
	stop := context.AfterFunc(ctx, it.Stop)
	go func() {
		defer close(ch)
		defer stop()
		defer it.Stop()
		for {
			m, err := it.Next()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					s.log.Warn("event stream broke", "job", jobID, "err", err)
				}
				return
			}
			e, err := toEvent(m)
			if err != nil {
				s.log.Warn("bad event", "job", jobID, "err", err)
				return
			}
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func toEvent(m jetstream.Msg) (Event, error) {
	meta, err := m.Metadata()
	if err != nil {
		return Event{}, err
	}
	return Event{
		Seq:   meta.Sequence.Stream,
		JobID: strings.TrimPrefix(m.Subject(), eventsSubject),
		Type:  m.Headers().Get(eventTypeHeader),
		Time:  meta.Timestamp.UTC(),
		Data:  json.RawMessage(m.Data()),
	}, nil
}
