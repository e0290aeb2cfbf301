package store

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJobs(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.open(t, Config{})
			ctx := testContext(t)

			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			rev, err := s.CreateJob(ctx, Job{ID: "a", Config: json.RawMessage(`{"record":true}`), CreatedAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateJob(ctx, Job{ID: "a"}); !errors.Is(err, ErrExists) {
				t.Fatalf("second create: %v, want ErrExists", err)
			}
			j, got, err := s.Job(ctx, "a")
			if err != nil || got != rev || !j.CreatedAt.Equal(t0) || string(j.Config) != `{"record":true}` || j.UpdatedAt.IsZero() {
				t.Fatalf("Job = %+v, %d, %v; want rev %d", j, got, err, rev)
			}

			j.State = json.RawMessage(`{"state":"running"}`)
			j.Node = "rec-1"
			rev2, err := s.UpdateJob(ctx, j, rev)
			if err != nil || rev2 <= rev {
				t.Fatalf("UpdateJob = %d, %v", rev2, err)
			}
			// A writer still holding the old revision is fenced off.
			if _, err := s.UpdateJob(ctx, j, rev); !errors.Is(err, ErrConflict) {
				t.Fatalf("stale UpdateJob: %v, want ErrConflict", err)
			}
			j, got, _ = s.Job(ctx, "a")
			if got != rev2 || string(j.State) != `{"state":"running"}` || j.Node != "rec-1" {
				t.Fatalf("after update: %+v rev %d", j, got)
			}

			if _, _, err := s.Job(ctx, "nope"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Job(nope): %v, want ErrNotFound", err)
			}
			if _, err := s.UpdateJob(ctx, Job{ID: "nope"}, 1); !errors.Is(err, ErrConflict) {
				t.Fatalf("UpdateJob(nope): %v, want ErrConflict", err)
			}

			for i, id := range []string{"b", "c"} {
				if _, err := s.CreateJob(ctx, Job{ID: id, CreatedAt: t0.Add(time.Duration(i+1) * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			jobs, err := s.Jobs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, j := range jobs {
				ids = append(ids, j.ID)
			}
			if want := "c b a"; strings.Join(ids, " ") != want {
				t.Fatalf("Jobs = %q, want newest first %q", strings.Join(ids, " "), want)
			}
		})
	}
}

func TestInvalidIDs(t *testing.T) {
	s := openEmbedded(t, Config{})
	ctx := testContext(t)
	for _, id := range []string{"", "a.b", "a*", ">", "a b", "../x", string(make([]byte, 65))} {
		if _, err := s.CreateJob(ctx, Job{ID: id}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("CreateJob(%q): %v, want ErrInvalidID", id, err)
		}
		if _, err := s.AppendEvent(ctx, id, "x", nil); !errors.Is(err, ErrInvalidID) {
			t.Errorf("AppendEvent(%q): %v, want ErrInvalidID", id, err)
		}
		if err := s.Enqueue(ctx, Delivery{ID: id, JobID: "j"}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Enqueue(id %q): %v, want ErrInvalidID", id, err)
		}
		if err := s.ClaimRoom(ctx, "demo:", id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ClaimRoom(%q): %v, want ErrInvalidID", id, err)
		}
	}
}
