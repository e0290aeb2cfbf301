package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
)

// What serve pays per state change on the embedded server: the job
// record's compare-and-set, the event, and the webhook's enqueue.
func BenchmarkUpdateJob(b *testing.B) {
	s, ctx := benchStore(b)
	j := Job{ID: "job", State: json.RawMessage(`{"state":"running","recording":{"running":true,"bytes":123456}}`)}
	rev, err := s.CreateJob(ctx, j)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rev, err = s.UpdateJob(ctx, j, rev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	s, ctx := benchStore(b)
	data := json.RawMessage(`{"state":"running","recording":{"running":true,"bytes":123456}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AppendEvent(ctx, "job", "recordingStateUpdated", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEnqueue(b *testing.B) {
	s, ctx := benchStore(b)
	body := []byte(`{"type":"recordingStateUpdated","timestamp":"2026-01-02T03:04:05Z","data":{"state":"running"}}`)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := s.Enqueue(ctx, Delivery{ID: fmt.Sprint("msg_", i), JobID: "job", Type: "recordingStateUpdated", Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStore(b *testing.B) (*Store, context.Context) {
	s, err := Open(b.Context(), Config{Dir: b.TempDir(), Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, b.Context()
}
