package natstest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// probeStream is the stream WaitReady creates and deletes to show the
// cluster places replicated assets.
const probeStream = "natstest_ready"

// WaitReady waits until every running node answers /healthz and the
// JetStream API, they agree on a meta leader, and a stream with one replica
// per running node (at most 3) can be created; so after a Restart it also
// means the restarted node is a peer again. It fails the test after
// ReadyTimeout.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	if _, err := c.poll(t.Context(), c.ready); err != nil {
		t.Fatalf("natstest.WaitReady: %v", err)
	}
}

func (c *Cluster) ready(ctx context.Context) (int, error) {
	run := c.runningNodes()
	if len(run) == 0 {
		return -1, fmt.Errorf("no node is running")
	}
	for _, i := range run {
		if err := c.healthz(ctx, i); err != nil {
			return -1, err
		}
	}
	if _, err := c.metaLeader(ctx); err != nil {
		return -1, err
	}
	for _, i := range run {
		if err := c.probe(ctx, i, i == run[0], min(3, len(run))); err != nil {
			return -1, err
		}
	}
	return 0, nil
}

func (c *Cluster) healthz(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.MonitorURL(i)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s /healthz: %w", c.nodes[i].name, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /healthz: %s", c.nodes[i].name, resp.Status)
	}
	return nil
}

// probe asks node i for the account's JetStream info and, when create is
// set, creates and deletes an R-replicas stream through it.
func (c *Cluster) probe(ctx context.Context, i int, create bool, replicas int) error {
	name := c.nodes[i].name
	nc, err := nats.Connect(c.URL(i), nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", name, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream on %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream account info through %s: %w", name, err)
	}
	if !create {
		return nil
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     probeStream,
		Storage:  jetstream.MemoryStorage,
		Replicas: replicas,
	}); err != nil {
		return fmt.Errorf("creating an R%d stream through %s: %w", replicas, name, err)
	}
	if err := js.DeleteStream(ctx, probeStream); err != nil {
		return fmt.Errorf("deleting the R%d probe stream through %s: %w", replicas, name, err)
	}
	return nil
}
