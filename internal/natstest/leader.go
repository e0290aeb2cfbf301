package natstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Leader waits until a running node leads the JetStream stream (a KV
// bucket B is the stream "KV_B") and returns its index. It fails the test
// after ReadyTimeout.
func (c *Cluster) Leader(t testing.TB, stream string) int {
	t.Helper()
	i, err := c.poll(t.Context(), func(ctx context.Context) (int, error) { return c.streamLeader(ctx, stream) })
	if err != nil {
		t.Fatalf("natstest.Leader(%q): %v", stream, err)
	}
	return i
}

// MetaLeader waits until every running node names the same running node as
// the JetStream meta leader (the one that places streams and consumers) and
// returns its index. It fails the test after ReadyTimeout.
func (c *Cluster) MetaLeader(t testing.TB) int {
	t.Helper()
	i, err := c.poll(t.Context(), c.metaLeader)
	if err != nil {
		t.Fatalf("natstest.MetaLeader: %v", err)
	}
	return i
}

// poll calls f every 50 ms until it succeeds or ReadyTimeout passes, and
// then returns f's last error.
func (c *Cluster) poll(ctx context.Context, f func(context.Context) (int, error)) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	for {
		i, err := f(ctx)
		if err == nil {
			return i, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("not after %v: %w", ReadyTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// streamLeader asks a running node for the stream's info, which the
// stream's leader answers.
func (c *Cluster) streamLeader(ctx context.Context, stream string) (int, error) {
	run := c.runningNodes()
	if len(run) == 0 {
		return -1, fmt.Errorf("no node is running")
	}
	var last error
	for _, i := range run {
		leader, err := c.askStreamLeader(ctx, i, stream)
		if err != nil {
			last = err
			continue
		}
		if j := c.index(leader); j >= 0 && c.nodes[j].running() {
			return j, nil
		}
		last = fmt.Errorf("stream %s: %s names leader %q, not a running node", stream, c.nodes[i].name, leader)
	}
	return -1, last
}

func (c *Cluster) askStreamLeader(ctx context.Context, i int, stream string) (string, error) {
	nc, err := nats.Connect(c.URL(i), nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", c.nodes[i].name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Errorf("jetstream on %s: %w", c.nodes[i].name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return "", fmt.Errorf("stream %s info through %s: %w", stream, c.nodes[i].name, err)
	}
	info := s.CachedInfo()
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return "", fmt.Errorf("stream %s has no leader yet (asked %s)", stream, c.nodes[i].name)
	}
	return info.Cluster.Leader, nil
}

// jsz is the part of the monitoring endpoint /jsz this package reads.
type jsz struct {
	Meta *struct {
		Leader string `json:"leader"`
		Size   int    `json:"cluster_size"`
	} `json:"meta_cluster"`
}

func (c *Cluster) jsz(ctx context.Context, i int) (jsz, error) {
	var z jsz
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.MonitorURL(i)+"/jsz", nil)
	if err != nil {
		return z, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return z, fmt.Errorf("%s /jsz: %w", c.nodes[i].name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return z, fmt.Errorf("%s /jsz: %s", c.nodes[i].name, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&z); err != nil {
		return z, fmt.Errorf("%s /jsz: %w", c.nodes[i].name, err)
	}
	return z, nil
}

// metaLeader is the meta leader every running node agrees on. A node goes
// on naming a dead leader until its own election timer fires, so one
// node's word isn't enough.
func (c *Cluster) metaLeader(ctx context.Context) (int, error) {
	run := c.runningNodes()
	if len(run) == 0 {
		return -1, fmt.Errorf("no node is running")
	}
	leader := ""
	for _, i := range run {
		z, err := c.jsz(ctx, i)
		if err != nil {
			return -1, err
		}
		if z.Meta == nil || z.Meta.Leader == "" {
			return -1, fmt.Errorf("%s knows no meta leader yet", c.nodes[i].name)
		}
		if leader != "" && z.Meta.Leader != leader {
			return -1, fmt.Errorf("nodes disagree on the meta leader: %s and %s", leader, z.Meta.Leader)
		}
		leader = z.Meta.Leader
	}
	j := c.index(leader)
	if j < 0 || !c.nodes[j].running() {
		return -1, fmt.Errorf("meta leader %q is not a running node", leader)
	}
	return j, nil
}

// MoveLeader makes node to the leader of stream (through the JetStream API's
// leader step-down with a preferred placement) and waits until it is, so a
// test can kill a node that leads both a bucket and the meta group.
func (c *Cluster) MoveLeader(t testing.TB, stream string, to int) {
	t.Helper()
	c.check(t, to)
	want := c.nodes[to].name
	_, err := c.poll(t.Context(), func(ctx context.Context) (int, error) {
		i, err := c.streamLeader(ctx, stream)
		if err != nil || i == to {
			return i, err
		}
		return -1, c.stepDown(ctx, i, stream, want)
	})
	if err != nil {
		t.Fatalf("natstest.MoveLeader(%q, %s): %v", stream, want, err)
	}
}

// stepDown asks stream's leader, through node i, to hand over to the node
// named to. Success means the request was taken: the caller checks the
// outcome.
func (c *Cluster) stepDown(ctx context.Context, i int, stream, to string) error {
	nc, err := nats.Connect(c.URL(i), nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.nodes[i].name, err)
	}
	defer nc.Close()
	body, err := json.Marshal(map[string]any{"placement": map[string]string{"preferred": to}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.LEADER.STEPDOWN."+stream, body)
	if err != nil {
		return fmt.Errorf("stream %s step-down to %s: %w", stream, to, err)
	}
	var resp struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("stream %s step-down reply %q: %w", stream, msg.Data, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("stream %s step-down to %s: %s", stream, to, resp.Error.Description)
	}
	// The new leader takes a moment to be elected; don't ask again at once.
	select {
	case <-ctx.Done():
	case <-time.After(500 * time.Millisecond):
	}
	return fmt.Errorf("stream %s: step-down to %s asked, waiting", stream, to)
}
