package janustest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSmoke starts Janus in a namespace, creates a room and joins it as a
// publisher without media, which listparticipants then shows.
func TestSmoke(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.CreateRoom(ctx, Room{ID: 1234, Description: "smoke"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Request(ctx, map[string]any{"request": "create", "room": 1235}); err == nil {
		t.Fatal("creating a room without the admin key succeeded")
	}
	c := newTestClient(s)
	sid, err := c.post(ctx, "", map[string]any{"janus": "create"})
	if err != nil {
		t.Fatal(err)
	}
	hid, err := c.post(ctx, fmt.Sprintf("/%d", sid), map[string]any{"janus": "attach", "plugin": "janus.plugin.videoroom"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.post(ctx, fmt.Sprintf("/%d/%d", sid, hid), map[string]any{"janus": "message",
		"body": map[string]any{"request": "join", "ptype": "publisher", "room": 1234, "display": "smoker"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ps, err := s.ListParticipants(ctx, 1234, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 1 && ps[0].Display == "smoker" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("participants %+v, want smoker", ps)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Kill()
	if err := s.Start(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if _, err := s.ListParticipants(ctx, 1234, ""); err == nil {
		t.Fatal("the room survived a restart")
	}
}
