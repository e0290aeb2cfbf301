package store

import (
	"fmt"
	"sync"
	"testing"
)

func TestIdempotent(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := b.open(t, Config{})
			ctx := testContext(t)

			if id, err := s.Idempotent(ctx, "key 1", "first"); err != nil || id != "first" {
				t.Fatalf("first call = %q, %v; want first", id, err)
			}
			if id, err := s.Idempotent(ctx, "key 1", "second"); err != nil || id != "first" {
				t.Fatalf("second call = %q, %v; want first", id, err)
			}
			if id, err := s.Idempotent(ctx, "key 2", "second"); err != nil || id != "second" {
				t.Fatalf("other key = %q, %v; want second", id, err)
			}

			// Racing first calls agree on one id.
			ids := make([]string, 8)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Go(func() {
					id, err := s.Idempotent(ctx, "raced", fmt.Sprintf("job%d", i))
					if err != nil {
						t.Error(err)
					}
					ids[i] = id
				})
			}
			wg.Wait()
			for _, id := range ids {
				if id != ids[0] {
					t.Fatalf("racing calls got %q", ids)
				}
			}

			st, err := s.idem.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.TTL() != IdempotencyTTL {
				t.Fatalf("idempotency bucket TTL %v, want %v", st.TTL(), IdempotencyTTL)
			}
		})
	}
}
