package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
)

func TestClient(t *testing.T) {
	c, _, _ := setup(t, Options{})
	cl, err := NewClient(c.base, token, c.http)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := cl.Start(ctx, config.Job{ID: "j1", MeetingURL: "demo:", Record: true}, "key-1")
	if err != nil || s.ID != "j1" {
		t.Fatalf("Start = %+v, %v", s, err)
	}
	if again, err := cl.Start(ctx, config.Job{ID: "j1", MeetingURL: "demo:", Record: true}, "key-1"); err != nil || again.ID != "j1" {
		t.Fatalf("idempotent Start = %+v, %v", again, err)
	}
	var p *Problem
	if _, err := cl.Start(ctx, config.Job{MeetingURL: "demo:"}, ""); !errors.As(err, &p) || p.Status != 422 || p.Code != CodeInvalidConfig {
		t.Fatalf("Start of nothing = %v, want a 422 problem", err)
	}
	if _, err := cl.Job(ctx, "missing"); !errors.As(err, &p) || p.Code != CodeNotFound {
		t.Fatalf("Job(missing) = %v", err)
	}
	page, err := cl.Jobs(ctx, ListFilter{State: worker.Running, Limit: 5})
	if err != nil || len(page.Jobs) != 1 {
		t.Fatalf("Jobs = %+v, %v", page, err)
	}
	layout := config.Layout("speaker")
	if _, err := cl.Patch(ctx, "j1", Patch{Layout: &layout}); err != nil {
		t.Fatal(err)
	}

	// Watch from the start; events appended while watching arrive too.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []uint64
	go func() {
		time.Sleep(200 * time.Millisecond)
		if _, err := cl.Stop(ctx, "j1", true); err != nil {
			t.Error(err)
		}
	}()
	err = cl.Watch(wctx, "j1", 0, func(e Event) bool {
		got = append(got, e.Seq)
		return len(got) < 2
	})
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("Watch = %v, %v; want events 1 and 2", got, err)
	}
	// Resume after 1.
	got = nil
	err = cl.Watch(wctx, "j1", 1, func(e Event) bool { got = append(got, e.Seq); return false })
	if err != nil || len(got) != 1 || got[0] != 2 {
		t.Fatalf("Watch after 1 = %v, %v", got, err)
	}
	if err := cl.Watch(wctx, "missing", 0, func(Event) bool { return true }); !errors.As(err, &p) || p.Code != CodeNotFound {
		t.Fatalf("Watch(missing) = %v", err)
	}

	if _, err := NewClient("", "", nil); err == nil {
		t.Error("NewClient without a server succeeded")
	}
	if _, err := NewClient("ftp://x", "", nil); err == nil {
		t.Error("NewClient with ftp:// succeeded")
	}
	bad, _ := NewClient(c.base, "wrong-token", c.http)
	if _, err := bad.Jobs(ctx, ListFilter{}); !errors.As(err, &p) || p.Status != 401 {
		t.Fatalf("a wrong token = %v, want 401", err)
	}
}
