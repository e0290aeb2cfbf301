package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// RoomBusyError says another job holds the room.
type RoomBusyError struct {
	MeetingURL string
	JobID      string // the holder
}

func (e *RoomBusyError) Error() string {
	return fmt.Sprintf("store: room %q is held by job %s", e.MeetingURL, e.JobID)
}

// roomKey maps a meetingUrl to a KV key: keys allow only [-/_=.a-zA-Z0-9],
// and a URL has anything. A hash keeps distinct URLs distinct.
func roomKey(meetingURL string) string {
	h := sha256.Sum256([]byte(meetingURL))
	return "room_" + hex.EncodeToString(h[:])
}

// ClaimRoom makes jobID the room's one job, fleet-wide: the claim is a KV
// create, so of two racing claims exactly one wins; the other gets a
// *RoomBusyError naming the winner. Claiming a room the job already holds
// succeeds.
func (s *Store) ClaimRoom(ctx context.Context, meetingURL, jobID string) error {
	if err := checkID(jobID); err != nil {
		return err
	}
	key := roomKey(meetingURL)
	// A release between our failed create and our read makes the key
	// vanish; try again, a few times at most.
	for range 3 {
		_, err := s.rooms.Create(ctx, key, []byte(jobID))
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("store: claim room %q: %w", meetingURL, err)
		}
		e, err := s.rooms.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: claim room %q: %w", meetingURL, err)
		}
		if holder := string(e.Value()); holder != jobID {
			return &RoomBusyError{MeetingURL: meetingURL, JobID: holder}
		}
		return nil
	}
	return fmt.Errorf("store: claim room %q: claimed and released repeatedly, try again", meetingURL)
}

// ReleaseRoom frees the room if jobID holds it. A claim held by another job
// is left alone, so a late release can never free a successor's room;
// releasing a room that isn't ours is not an error.
func (s *Store) ReleaseRoom(ctx context.Context, meetingURL, jobID string) error {
	key := roomKey(meetingURL)
	e, err := s.rooms.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: release room %q: %w", meetingURL, err)
	}
	if string(e.Value()) != jobID {
		return nil
	}
	// The revision check keeps a claim made since our read.
	err = s.rooms.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	if err != nil && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("store: release room %q: %w", meetingURL, err)
	}
	return nil
}

// RoomHolder is the id of the job holding the room; ErrNotFound if none.
func (s *Store) RoomHolder(ctx context.Context, meetingURL string) (string, error) {
	e, err := s.rooms.Get(ctx, roomKey(meetingURL))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("store: room %q: %w", meetingURL, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: room %q: %w", meetingURL, err)
	}
	return string(e.Value()), nil
}

// ClaimedJobs lists the ids of the jobs holding a room. Every job that has
// not ended holds one, so this is the fleet's list of live jobs, read
// without going through every record ever kept.
func (s *Store) ClaimedJobs(ctx context.Context) ([]string, error) {
	var ids []string
	err := eachValue(ctx, s.rooms, func(v []byte) error {
		ids = append(ids, string(v))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claimed rooms: %w", err)
	}
	return ids, nil
}
