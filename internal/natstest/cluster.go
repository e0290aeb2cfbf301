package natstest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/syncbuf"
)

// ClusterName is the cluster every node joins.
const ClusterName = "roomcast-test"

// ReadyTimeout bounds WaitReady, Leader and MetaLeader. A Raft election
// after a node's death takes 4 to 9 s in nats-server (its election timeout,
// which the server doesn't let a config change), so this leaves room for two.
const ReadyTimeout = 30 * time.Second

// Cluster is N nats-server nodes routed to each other on loopback, each with
// JetStream. Nodes are indexed from 0; node i is named "n<i+1>".
type Cluster struct {
	bin   string
	nodes []*node
	logs  *syncbuf.Buffer // every node's output, when not verbose
}

// StartCluster starts n nodes, stops them when the test ends, and returns
// once the cluster is ready (see WaitReady). With -v the nodes log to stderr,
// each line behind its node's name; otherwise their logs are printed only if
// the test failed.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest.StartCluster: n = %d, want at least 1 node", n)
	}
	bin, err := FindBin()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // before the Cleanups below: they run first, on a live dir
	c := &Cluster{bin: bin}
	var sink io.Writer = os.Stderr
	if !testing.Verbose() {
		c.logs = &syncbuf.Buffer{}
		sink = c.logs
	}
	t.Cleanup(func() {
		if t.Failed() && c.logs != nil {
			t.Logf("nats-server logs:\n%s", c.logs)
		}
	})
	t.Cleanup(c.killAll)

	for attempt := 1; ; attempt++ {
		// Each attempt has its own store dirs: a half-started attempt's
		// nodes may have written Raft state for ports nobody uses now.
		nodes, err := newNodes(filepath.Join(dir, "try"+strconv.Itoa(attempt)), ClusterName, n,
			func(name string) io.Writer { return prefixed(sink, name) })
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = nodes
		err = c.startAll(t.Context())
		if err == nil {
			break
		}
		c.killAll()
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			t.Fatalf("natstest.StartCluster: %v", err)
		}
		t.Logf("natstest: retrying on new ports: %v", err)
	}
	c.WaitReady(t)
	return c
}

func (c *Cluster) startAll(ctx context.Context) error {
	for _, nd := range c.nodes {
		if err := nd.start(ctx, c.bin); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) killAll() {
	for _, nd := range c.nodes {
		nd.kill()
	}
}

// N is the number of nodes, running or not.
func (c *Cluster) N() int { return len(c.nodes) }

// URLs are every node's client URL (nats://127.0.0.1:PORT), killed ones too:
// a client given them all finds a running node.
func (c *Cluster) URLs() []string {
	urls := make([]string, len(c.nodes))
	for i, nd := range c.nodes {
		urls[i] = nd.url()
	}
	return urls
}

// URL is node i's client URL.
func (c *Cluster) URL(i int) string { return c.nodes[i].url() }

// MonitorURL is node i's HTTP monitoring address (http://127.0.0.1:PORT,
// serving /varz, /jsz, /healthz, …).
func (c *Cluster) MonitorURL(i int) string { return c.nodes[i].monitorURL() }

// Name is node i's server name, n1 for node 0.
func (c *Cluster) Name(i int) string { return c.nodes[i].name }

// Running reports whether node i's process is alive.
func (c *Cluster) Running(i int) bool { return c.nodes[i].running() }

// Logs is what the nodes have logged so far (empty with -v, where the logs
// went to stderr).
func (c *Cluster) Logs() string {
	if c.logs == nil {
		return ""
	}
	return c.logs.String()
}

// Kill ends node i with SIGKILL and waits until its process is gone. Killing
// a node that isn't running does nothing.
func (c *Cluster) Kill(t testing.TB, i int) {
	t.Helper()
	c.check(t, i)
	c.nodes[i].kill()
}

// Stop ends node i gracefully, with SIGTERM: nats-server first hands the
// leadership of its streams and of the meta group to peers, so the cluster
// doesn't wait for an election as it does after Kill. Stopping a node that
// isn't running does nothing.
func (c *Cluster) Stop(t testing.TB, i int) {
	t.Helper()
	c.check(t, i)
	if err := c.nodes[i].stop(); err != nil {
		t.Fatalf("natstest.Stop: %v", err)
	}
}

// Restart starts a killed or stopped node i again on its ports and store directory, so
// it rejoins as the same peer, and returns once it accepts clients. It
// doesn't wait for the node to catch up: WaitReady waits for the cluster.
func (c *Cluster) Restart(t testing.TB, i int) {
	t.Helper()
	c.check(t, i)
	if c.nodes[i].running() {
		t.Fatalf("natstest.Restart: %s is running; Kill or Stop it first", c.nodes[i].name)
	}
	if err := c.nodes[i].start(t.Context(), c.bin); err != nil {
		t.Fatalf("natstest.Restart: %v", err)
	}
}

// Conn connects to node i alone (reconnecting elsewhere in the cluster if
// it dies) and closes the connection when the test ends.
func (c *Cluster) Conn(t testing.TB, i int, opts ...nats.Option) *nats.Conn {
	t.Helper()
	c.check(t, i)
	nc, err := nats.Connect(c.URL(i), opts...)
	if err != nil {
		t.Fatalf("natstest: connect to %s at %s: %v", c.Name(i), c.URL(i), err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (c *Cluster) check(t testing.TB, i int) {
	t.Helper()
	if i < 0 || i >= len(c.nodes) {
		t.Fatalf("natstest: node index %d out of range: the cluster has nodes 0..%d", i, len(c.nodes)-1)
	}
}

// index is the node whose server name is name, -1 for none.
func (c *Cluster) index(name string) int {
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

func (c *Cluster) runningNodes() []int {
	var idx []int
	for i, nd := range c.nodes {
		if nd.running() {
			idx = append(idx, i)
		}
	}
	return idx
}
