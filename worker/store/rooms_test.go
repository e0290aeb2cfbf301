package store

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
)

// claimRace has n claimants race for one room through the given stores
// (one per claimant, or all the same) and checks exactly one wins.
func claimRace(t *testing.T, stores []*Store, room string) string {
	t.Helper()
	ctx := testContext(t)
	n := len(stores)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = stores[i].ClaimRoom(ctx, room, fmt.Sprintf("job%d", i))
		})
	}
	close(start)
	wg.Wait()
	winner := ""
	for i, err := range errs {
		var busy *RoomBusyError
		switch {
		case err == nil:
			if winner != "" {
				t.Fatalf("two claims won: %s and job%d", winner, i)
			}
			winner = fmt.Sprintf("job%d", i)
		case !errors.As(err, &busy):
			t.Fatalf("claim %d: %v, want *RoomBusyError", i, err)
		}
	}
	if winner == "" {
		t.Fatalf("no claim won: %v", errs)
	}
	for i, err := range errs {
		var busy *RoomBusyError
		if errors.As(err, &busy) && busy.JobID != winner {
			t.Fatalf("claim %d lost to %s, but %s won", i, busy.JobID, winner)
		}
	}
	return winner
}

func TestRooms(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.open(t, Config{})
			ctx := testContext(t)
			const room = "livekit://127.0.0.1:7880/room one?x=y"

			winner := claimRace(t, []*Store{s, s, s, s, s, s, s, s}, room)
			if err := s.ClaimRoom(ctx, room, winner); err != nil {
				t.Fatalf("the holder's second claim: %v", err)
			}
			if h, err := s.RoomHolder(ctx, room); err != nil || h != winner {
				t.Fatalf("RoomHolder = %q, %v; want %s", h, err, winner)
			}
			// Another room is another claim.
			if err := s.ClaimRoom(ctx, "demo:", "other"); err != nil {
				t.Fatalf("claim of another room: %v", err)
			}

			// A release by a job that doesn't hold the room changes nothing.
			if err := s.ReleaseRoom(ctx, room, "intruder"); err != nil {
				t.Fatal(err)
			}
			var busy *RoomBusyError
			if err := s.ClaimRoom(ctx, room, "late"); !errors.As(err, &busy) || busy.JobID != winner {
				t.Fatalf("claim after a stranger's release: %v, want busy by %s", err, winner)
			}

			if err := s.ReleaseRoom(ctx, room, winner); err != nil {
				t.Fatal(err)
			}
			if _, err := s.RoomHolder(ctx, room); !errors.Is(err, ErrNotFound) {
				t.Fatalf("RoomHolder after release: %v, want ErrNotFound", err)
			}
			if err := s.ReleaseRoom(ctx, room, winner); err != nil {
				t.Fatalf("second release: %v", err)
			}
			if err := s.ClaimRoom(ctx, room, "next"); err != nil {
				t.Fatalf("claim after release: %v", err)
			}
		})
	}
}

var kvKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

// FuzzRoomKey: any meetingUrl maps to a valid KV key of fixed length, the
// same every time, and two different URLs to two different keys.
func FuzzRoomKey(f *testing.F) {
	f.Add("demo:", "demo: ")
	f.Add("livekit://127.0.0.1:7880/room", "livekit+https://h/room")
	f.Add("file:/rooms/a b.yaml", "file:/rooms/a%20b.yaml")
	f.Add("", "\x00")
	f.Fuzz(func(t *testing.T, a, b string) {
		ka := roomKey(a)
		if !kvKey.MatchString(ka) || len(ka) != len("room_")+64 {
			t.Fatalf("roomKey(%q) = %q: not a valid fixed-length KV key", a, ka)
		}
		if roomKey(a) != ka {
			t.Fatalf("roomKey(%q) not deterministic", a)
		}
		if (a == b) != (ka == roomKey(b)) {
			t.Fatalf("roomKey(%q) = %q, roomKey(%q) = %q", a, ka, b, roomKey(b))
		}
	})
}
