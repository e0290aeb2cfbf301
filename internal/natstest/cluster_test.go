package natstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterForms checks that three nodes route to each other and share
// one JetStream meta group of three peers.
func TestClusterForms(t *testing.T) {
	c := StartCluster(t, 3)
	m := c.MetaLeader(t)
	t.Logf("meta leader: %s", c.Name(m))
	for i := range c.N() {
		var z jsz
		getJSON(t, c.MonitorURL(i)+"/jsz", &z)
		if z.Meta == nil || z.Meta.Size != 3 || z.Meta.Leader != c.Name(m) {
			t.Errorf("%s /jsz meta_cluster = %+v, want size 3 and leader %s", c.Name(i), z.Meta, c.Name(m))
		}
		var rz struct {
			Routes []struct {
				RemoteName string `json:"remote_name"`
			} `json:"routes"`
		}
		getJSON(t, c.MonitorURL(i)+"/routez", &rz)
		var peers []string
		for _, r := range rz.Routes {
			if !slices.Contains(peers, r.RemoteName) {
				peers = append(peers, r.RemoteName)
			}
		}
		slices.Sort(peers)
		var want []string
		for j := range c.N() {
			if j != i {
				want = append(want, c.Name(j))
			}
		}
		if !slices.Equal(peers, want) {
			t.Errorf("%s routes to %v, want %v", c.Name(i), peers, want)
		}
	}
}

// TestKVAcrossNodes writes an R3 bucket through node 1 and reads it through
// node 3.
func TestKVAcrossNodes(t *testing.T) {
	c := StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	js1 := newJS(t, c, 0)
	kv1, err := js1.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "across", Replicas: 3})
	if err != nil {
		t.Fatalf("create R3 bucket through n1: %v", err)
	}
	if _, err := kv1.Put(ctx, "room.a", []byte("owner=rec-1")); err != nil {
		t.Fatalf("put through n1: %v", err)
	}
	js3 := newJS(t, c, 2)
	kv3, err := js3.KeyValue(ctx, "across")
	if err != nil {
		t.Fatalf("bind bucket through n3: %v", err)
	}
	e, err := kv3.Get(ctx, "room.a")
	if err != nil {
		t.Fatalf("get through n3: %v", err)
	}
	if string(e.Value()) != "owner=rec-1" {
		t.Errorf("n3 reads %q, want owner=rec-1", e.Value())
	}
	s, err := js3.Stream(ctx, "KV_across")
	if err != nil {
		t.Fatalf("stream info through n3: %v", err)
	}
	if ci := s.CachedInfo().Cluster; ci == nil || len(ci.Replicas)+1 != 3 {
		t.Errorf("KV_across cluster info %+v, want a leader and 2 replicas", ci)
	}
}

// TestLeaderFailover kills the node that leads both a bucket's stream and
// the meta group, and measures how long until a write through a surviving
// node succeeds: the time for which the fleet's API can't write state after
// NATS loses its leader. Then the killed node restarts and must hold the
// write. NATSTEST_FAILOVERS=5 repeats it for a spread of figures.
func TestLeaderFailover(t *testing.T) {
	rounds := 1
	if s := os.Getenv("NATSTEST_FAILOVERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("NATSTEST_FAILOVERS=%q: want a count of kills, at least 1", s)
		}
		rounds = n
	}
	const bucket, stream = "failover", "KV_failover"
	c := StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rounds)*time.Minute)
	defer cancel()
	kv0, err := newJS(t, c, 0).CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: 3})
	if err != nil {
		t.Fatalf("create R3 bucket: %v", err)
	}
	if _, err := kv0.Put(ctx, "k", []byte("before")); err != nil {
		t.Fatalf("first put: %v", err)
	}

	var writes, metas []time.Duration
	for r := range rounds {
		victim := c.MetaLeader(t)
		c.MoveLeader(t, stream, victim)
		survivor := (victim + 1) % c.N()
		kv, err := newJS(t, c, survivor).KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("bind bucket through %s: %v", c.Name(survivor), err)
		}
		value := fmt.Sprintf("after kill %d", r+1)

		killed := time.Now()
		c.Kill(t, victim)
		metaDone := make(chan time.Duration, 1)
		go func() {
			_, err := c.poll(ctx, c.metaLeader)
			if err != nil {
				t.Errorf("no new meta leader: %v", err)
			}
			metaDone <- time.Since(killed)
		}()
		rev, took := putUntil(ctx, t, kv, "k", value, 30*time.Second)
		meta := <-metaDone
		writes, metas = append(writes, took), append(metas, meta)
		t.Logf("kill %d of %s (meta and %s leader): write through %s succeeded after %v; new meta leader agreed after %v",
			r+1, c.Name(victim), stream, c.Name(survivor), took.Round(time.Millisecond), meta.Round(time.Millisecond))

		restarted := time.Now()
		c.Restart(t, victim)
		caughtUp(ctx, t, c, victim, stream, rev, 20*time.Second)
		caught := time.Since(restarted)
		e, err := newJS(t, c, victim).KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("bind bucket through restarted %s: %v", c.Name(victim), err)
		}
		got, err := e.Get(ctx, "k")
		if err != nil || string(got.Value()) != value {
			t.Fatalf("restarted %s reads %v (%v), want %q", c.Name(victim), got, err, value)
		}
		c.WaitReady(t)
		t.Logf("restarted %s: holds the write after %v, cluster ready after %v",
			c.Name(victim), caught.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	}
	t.Logf("write after leader kill over %d kills: %s", rounds, spread(writes))
	t.Logf("meta leader re-elected over %d kills: %s", rounds, spread(metas))
}

// TestGracefulStop stops, with SIGTERM, the node that leads both a bucket's
// stream and the meta group: it hands both over on the way out, so a write
// through a survivor succeeds without waiting for an election.
func TestGracefulStop(t *testing.T) {
	const bucket, stream = "graceful", "KV_graceful"
	c := StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	kv0, err := newJS(t, c, 0).CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: 3})
	if err != nil {
		t.Fatalf("create R3 bucket: %v", err)
	}
	if _, err := kv0.Put(ctx, "k", []byte("before")); err != nil {
		t.Fatalf("first put: %v", err)
	}
	victim := c.MetaLeader(t)
	c.MoveLeader(t, stream, victim)
	survivor := (victim + 1) % c.N()
	kv, err := newJS(t, c, survivor).KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("bind bucket through %s: %v", c.Name(survivor), err)
	}
	stopped := time.Now()
	c.Stop(t, victim)
	exited := time.Since(stopped)
	putUntil(ctx, t, kv, "k", "after stop", 30*time.Second)
	took := time.Since(stopped)
	m := c.MetaLeader(t)
	t.Logf("SIGTERM to %s (meta and %s leader): it exited after %v, a write through %s succeeded %v after the signal, meta leader now %s (%v after the signal)",
		c.Name(victim), stream, exited.Round(time.Millisecond), c.Name(survivor), took.Round(time.Millisecond), c.Name(m), time.Since(stopped).Round(time.Millisecond))
	if c.Running(victim) {
		t.Errorf("%s still running after Stop", c.Name(victim))
	}
}

// putUntil retries a put with short attempts until one succeeds, and returns
// its revision and how long it took; the test fails after limit.
func putUntil(ctx context.Context, t *testing.T, kv jetstream.KeyValue, key, value string, limit time.Duration) (uint64, time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		actx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		rev, err := kv.Put(actx, key, []byte(value))
		cancel()
		if err == nil {
			return rev, time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("no put succeeded within %v of the leader's death: %v", limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// caughtUp waits until node i's own copy of stream holds sequence seq, as
// its monitoring endpoint reports it.
func caughtUp(ctx context.Context, t *testing.T, c *Cluster, i int, stream string, seq uint64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last uint64
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var z struct {
			Accounts []struct {
				Streams []struct {
					Name  string `json:"name"`
					State struct {
						LastSeq uint64 `json:"last_seq"`
					} `json:"state"`
				} `json:"stream_detail"`
			} `json:"account_details"`
		}
		if tryJSON(c.MonitorURL(i)+"/jsz?accounts=true&streams=true", &z) == nil {
			for _, a := range z.Accounts {
				for _, s := range a.Streams {
					if s.Name == stream {
						last = s.State.LastSeq
					}
				}
			}
			if last >= seq {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("restarted %s holds %s up to seq %d after %v, want %d", c.Name(i), stream, last, limit, seq)
}

func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("min %v, median %v, max %v", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

func newJS(t *testing.T, c *Cluster, i int) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(c.Conn(t, i))
	if err != nil {
		t.Fatalf("jetstream on %s: %v", c.Name(i), err)
	}
	return js
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := tryJSON(url, v); err != nil {
		t.Fatal(err)
	}
}

func tryJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
