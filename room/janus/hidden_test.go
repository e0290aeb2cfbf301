package janus

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/room"
)

// participantWatcher is a plain VideoRoom participant, joined without
// media, that keeps every event Janus sends it.
type participantWatcher struct {
	mu     sync.Mutex
	events []string
}

func joinWatcher(t *testing.T, s *janustest.Server, roomID uint64) *participantWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	base, _, _ := ParseURL(s.URL(roomID))
	red := newRedactor()
	sess, err := newSession(ctx, base, "", s.NS.HTTPClient(), red, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w := &participantWatcher{}
	go func() {
		_ = sess.poll(ctx, func(m message) {
			if m.PluginData != nil {
				w.mu.Lock()
				w.events = append(w.events, string(m.PluginData.Data))
				w.mu.Unlock()
			}
		})
	}()
	h, err := sess.attach(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sess.send(ctx, h, map[string]any{"request": "join", "ptype": "publisher", "room": roomID, "display": "watcher"}, nil); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestHidden: the recorder subscribes to alice, yet the room's other
// participant hears of alice only, and listparticipants shows the two of
// them.
func TestHidden(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{})
	url := s.URL(id)
	pw := joinWatcher(t, s, id)
	alice := startPublisher(t, url, "alice", peerFile(t, "alice.webm"))
	r := startRoom(t, Options{URL: url})
	w := watch(r)
	w.wait(t, 10*time.Second, "alice's tracks flowing", func(w *watcher) bool {
		return w.packets[alice.ID()+"/0"] > 20 && w.packets[alice.ID()+"/1"] > 20
	})
	time.Sleep(2 * time.Second) // time for any event about the recorder to arrive
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ps, err := s.ListParticipants(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Display)
	}
	if len(ps) != 2 {
		t.Errorf("listparticipants: %v, want watcher and alice", names)
	}
	pw.mu.Lock()
	defer pw.mu.Unlock()
	for _, ev := range pw.events {
		if strings.Contains(ev, `"joined"`) {
			continue // the watcher's own join
		}
		if !strings.Contains(ev, alice.ID()) {
			t.Errorf("the participant got an event not about alice: %s", ev)
		}
	}
	if len(pw.events) < 1 {
		t.Errorf("the participant got no event, want alice's publishing")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.count(room.PeerJoined, ""); n != 2 {
		t.Errorf("the recorder saw %d peers join, want 2 (watcher, alice)", n)
	}
}

// TestPIN: a wrong PIN fails Start with ErrWrongPIN and without the PIN in
// the error; the right one records.
func TestPIN(t *testing.T) {
	s := startJanus(t)
	const pin = "pin-7f3a9c"
	id := newRoom(t, s, janustest.Room{Pin: pin})
	url := s.URL(id)
	r, err := New(Options{URL: url, PIN: "bad-pin-1234"})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start(context.Background())
	r.Close()
	if !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("Start with a wrong PIN: %v, want ErrWrongPIN", err)
	}
	if strings.Contains(err.Error(), "bad-pin-1234") {
		t.Errorf("the error shows the PIN: %v", err)
	}
	alice := startPublisher(t, url, "alice", peerFile(t, "alice.webm"), func(o *PublisherOptions) { o.PIN = pin })
	w := watch(startRoom(t, Options{URL: url, PIN: pin}))
	w.wait(t, 10*time.Second, "alice's video flowing", func(w *watcher) bool { return w.packets[alice.ID()+"/0"] > 20 })
}

// TestRequirePrivateID: a room with require_pvtid lets only a visible
// publisher subscribe, so the hidden recorder refuses it, clearly.
func TestRequirePrivateID(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{RequirePvtID: true})
	url := s.URL(id)
	startPublisher(t, url, "alice", peerFile(t, "alice.webm"))
	r, err := New(Options{URL: url, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(context.Background()); err != nil {
		if !errors.Is(err, ErrRequiresPrivateID) {
			t.Fatalf("Start: %v, want ErrRequiresPrivateID", err)
		}
		return
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-r.Events():
			if ok {
				continue
			}
			if !errors.Is(r.Err(), ErrRequiresPrivateID) {
				t.Fatalf("the room ended with %v, want ErrRequiresPrivateID", r.Err())
			}
			return
		case <-deadline:
			t.Fatal("the room did not end")
		}
	}
}

// TestUnpublish: alice stops publishing but stays. Janus tells its
// participants "unpublished" twice; the recorder removes each track once and
// keeps alice as a peer.
func TestUnpublish(t *testing.T) {
	s := startJanus(t)
	id := newRoom(t, s, janustest.Room{})
	url := s.URL(id)
	alice := startPublisher(t, url, "alice", peerFile(t, "alice.webm"), func(o *PublisherOptions) { o.Screen = peerFile(t, "slides.webm") })
	w := watch(startRoom(t, Options{URL: url}))
	w.wait(t, 10*time.Second, "alice's three tracks", func(w *watcher) bool { return len(w.liveTracks()) == 3 })
	w.mu.Lock()
	screens := 0
	for _, info := range w.liveTracks() {
		if info.Source == room.SourceScreen {
			screens++
			if info.Kind != room.KindVideo {
				t.Errorf("the screen share track is %s", info.Kind)
			}
		}
	}
	w.mu.Unlock()
	if screens != 1 {
		t.Errorf("%d screen-share tracks, want 1 (the stream described \"screen\")", screens)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := alice.Unpublish(ctx); err != nil {
		t.Fatal(err)
	}
	w.wait(t, 10*time.Second, "alice's tracks removed", func(w *watcher) bool { return len(w.liveTracks()) == 0 })
	time.Sleep(2 * time.Second)
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.count(room.TrackRemoved, ""); n != 3 {
		t.Errorf("%d TrackRemoved, want 3", n)
	}
	if n := w.count(room.PeerLeft, ""); n != 0 {
		t.Errorf("%d PeerLeft, want 0: alice is still in the room", n)
	}
}
