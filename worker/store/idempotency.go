package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Idempotent binds an Idempotency-Key to a job id for IdempotencyTTL (24 h).
// The first call stores jobID and returns it; later calls within the TTL
// return the id the first stored, whatever jobID they pass. Of racing first
// calls exactly one wins. Keys are any string (hashed to a KV key); a
// service scoping keys per client prefixes them.
func (s *Store) Idempotent(ctx context.Context, key, jobID string) (string, error) {
	if err := checkID(jobID); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(key))
	k := "idem_" + hex.EncodeToString(h[:])
	for range 3 {
		_, err := s.idem.Create(ctx, k, []byte(jobID))
		if err == nil {
			return jobID, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return "", fmt.Errorf("store: idempotency key: %w", err)
		}
		e, err := s.idem.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired between the two calls
		}
		if err != nil {
			return "", fmt.Errorf("store: idempotency key: %w", err)
		}
		return string(e.Value()), nil
	}
	return "", errors.New("store: idempotency key: kept vanishing, try again")
}
