package store

import (
	"strings"
	"testing"
	"time"
)

// The embedded server's JetStream limits are Config's, or the documented
// defaults: never nats-server's 75% of the machine.
func TestEmbeddedLimits(t *testing.T) {
	for _, tc := range []struct {
		name               string
		mem, store         int64
		wantMem, wantStore int64
	}{
		{"defaults", 0, 0, DefaultMaxMemory, DefaultMaxStore},
		{"configured", 8 << 20, 256 << 20, 8 << 20, 256 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openEmbedded(t, Config{MaxMemory: tc.mem, MaxStore: tc.store})
			c := s.srv.JetStreamConfig()
			if c == nil || c.MaxMemory != tc.wantMem || c.MaxStore != tc.wantStore {
				t.Fatalf("JetStream config %+v, want memory %d and store %d", c, tc.wantMem, tc.wantStore)
			}
			info, err := s.js.AccountInfo(testContext(t))
			if err != nil {
				t.Fatal(err)
			}
			if info.Streams < 6 { // 4 buckets and 2 streams
				t.Fatalf("account has %d streams, want at least 6", info.Streams)
			}
			if s.srv.Addr() != nil || s.URL() != "" {
				t.Fatalf("embedded server listens on %v without Listen", s.srv.Addr())
			}
		})
	}
}

// With Listen, other processes (a CLI, a second node) reach the embedded
// server and see the same state.
func TestEmbeddedListen(t *testing.T) {
	s := openEmbedded(t, Config{Listen: "127.0.0.1:0"})
	url := s.URL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("URL() = %q", url)
	}
	ctx := testContext(t)
	if _, err := s.CreateJob(ctx, Job{ID: "j1"}); err != nil {
		t.Fatal(err)
	}
	other := openStore(t, Config{URLs: []string{url}})
	if _, _, err := other.Job(ctx, "j1"); err != nil {
		t.Fatalf("job through the listening socket: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dir", Config{}, "Dir is required"},
		{"replicas embedded", Config{Dir: t.TempDir(), Replicas: 3}, "need a NATS cluster"},
		{"bad listen", Config{Dir: t.TempDir(), Listen: "nohostport"}, "listen"},
		{"bad backoff", Config{Dir: t.TempDir(), Backoff: []time.Duration{-1}}, "backoff"},
		{"empty backoff", Config{Dir: t.TempDir(), Backoff: []time.Duration{}}, "backoff"},
		{"unreachable cluster", Config{URLs: []string{"nats://127.0.0.1:1"}}, "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = quietLogger()
			s, err := Open(testContext(t), tc.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Open succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want %q", err, tc.want)
			}
		})
	}
}
