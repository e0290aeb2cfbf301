package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.open(t, Config{})
			ctx := testContext(t)

			data := func(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)) }
			var seqs []uint64
			for i := range 5 {
				seq, err := s.AppendEvent(ctx, "job", "jobStateUpdated", data(i))
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, seq)
				// Another job's events interleave and must not show up.
				if _, err := s.AppendEvent(ctx, "other", "recordingStateUpdated", data(-1)); err != nil {
					t.Fatal(err)
				}
			}

			// Resume after the second event while 200 more are appended.
			const live = 200
			evCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, err := s.Events(evCtx, "job", seqs[1])
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 5; i < 5+live; i++ {
					if _, err := s.AppendEvent(ctx, "job", "rtmpStreamingStateUpdated", data(i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
			var got []Event
			for len(got) < 3+live {
				select {
				case e, ok := <-ch:
					if !ok {
						t.Fatalf("channel closed after %d events", len(got))
					}
					got = append(got, e)
				case <-ctx.Done():
					t.Fatalf("got %d of %d events", len(got), 3+live)
				}
			}
			wg.Wait()
			for i, e := range got {
				n := i + 2
				if e.JobID != "job" || string(e.Data) != string(data(n)) || e.Time.IsZero() {
					t.Fatalf("event %d = %+v, want data %s", i, e, data(n))
				}
				if i > 0 && e.Seq <= got[i-1].Seq {
					t.Fatalf("event %d: seq %d after %d", i, e.Seq, got[i-1].Seq)
				}
			}
			if got[0].Seq != seqs[2] || got[0].Type != "jobStateUpdated" || got[3].Type != "rtmpStreamingStateUpdated" {
				t.Fatalf("first events %+v %+v", got[0], got[3])
			}
			cancel()
			select {
			case _, ok := <-ch:
				for ok {
					_, ok = <-ch
				}
			case <-time.After(5 * time.Second):
				t.Fatal("channel not closed after the context ended")
			}

			// From the start: everything; from the last: only new ones.
			all, err := s.Events(ctx, "job", 0)
			if err != nil {
				t.Fatal(err)
			}
			if e := <-all; e.Seq != seqs[0] {
				t.Fatalf("Events(0) starts at %d, want %d", e.Seq, seqs[0])
			}
			lastCtx, cancelLast := context.WithCancel(ctx)
			defer cancelLast()
			tail, err := s.Events(lastCtx, "job", got[len(got)-1].Seq)
			if err != nil {
				t.Fatal(err)
			}
			seq, _ := s.AppendEvent(ctx, "job", "jobStateUpdated", data(999))
			if e := <-tail; e.Seq != seq || string(e.Data) != string(data(999)) {
				t.Fatalf("Events(last) = %+v, want seq %d", e, seq)
			}
		})
	}
}
