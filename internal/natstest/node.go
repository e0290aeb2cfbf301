package natstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/roomcast/roomcast/internal/syncbuf"
)

// errPortTaken is a node failing to listen because another process took one
// of its ports between freePorts closing it and the node binding it.
var errPortTaken = errors.New("natstest: a port was taken")

// node is one nats-server process; its ports and store directory stay the
// same across restarts, so a restarted node rejoins as the same peer.
type node struct {
	name                string
	client, route, http int
	storeDir, confPath  string
	log                 io.Writer // shared by every run, prefixed by name

	mu     sync.Mutex
	cmd    *exec.Cmd
	waited chan struct{} // closed when cmd has exited
}

func (n *node) url() string        { return "nats://127.0.0.1:" + strconv.Itoa(n.client) }
func (n *node) monitorURL() string { return "http://127.0.0.1:" + strconv.Itoa(n.http) }

// writeConf writes the node's configuration, with routes to every peer.
func (n *node) writeConf(clusterName string, peers []*node) error {
	var routes []string
	for _, p := range peers {
		if p != n {
			routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p.route))
		}
	}
	conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: %s
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, n.name, n.client, n.http, n.storeDir, clusterName, n.route, strings.Join(routes, ", "))
	if err := os.MkdirAll(n.storeDir, 0o755); err != nil {
		return fmt.Errorf("natstest: store dir of %s: %w", n.name, err)
	}
	if err := os.WriteFile(n.confPath, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("natstest: config of %s: %w", n.name, err)
	}
	return nil
}

func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.waited:
		return false
	default:
		return true
	}
}

// start runs the node and returns once it accepts client connections. It
// doesn't wait for routes or JetStream: a node alone can't elect a leader.
func (n *node) start(ctx context.Context, bin string) error {
	out := &syncbuf.Buffer{} // this run's output, to tell a taken port
	w := io.MultiWriter(n.log, out)
	cmd := exec.Command(bin, "-c", n.confPath)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("natstest: starting %s (%s): %w", n.name, bin, err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	n.mu.Lock()
	n.cmd, n.waited = cmd, waited
	n.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		select {
		case <-waited:
			if strings.Contains(out.String(), "address already in use") {
				return fmt.Errorf("%w: %s exited at start:\n%s", errPortTaken, n.name, out)
			}
			return fmt.Errorf("natstest: %s exited at start:\n%s", n.name, out)
		default:
		}
		nc, err := nats.Connect(n.url(), nats.Timeout(time.Second), nats.NoReconnect())
		if err == nil {
			nc.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			n.kill()
			return fmt.Errorf("natstest: %s not accepting clients on %s after 10 s (%v): %w", n.name, n.url(), err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// kill ends the node with SIGKILL, as a crash or a lost machine would, and
// waits for the process to be gone.
func (n *node) kill() {
	n.mu.Lock()
	cmd, waited := n.cmd, n.waited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-waited
}

// stop ends the node with SIGTERM, on which nats-server hands the leadership
// of its Raft groups to peers before it exits; after 10 s it is killed.
func (n *node) stop() error {
	n.mu.Lock()
	cmd, waited := n.cmd, n.waited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = cmd.Process.Kill()
		<-waited
		return fmt.Errorf("natstest: SIGTERM to %s: %w", n.name, err)
	}
	select {
	case <-waited:
		return nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-waited
		return fmt.Errorf("natstest: %s still running 10 s after SIGTERM; killed it", n.name)
	}
}

// freePorts returns k distinct loopback ports that were free a moment ago:
// all k listeners are held open together so none is handed out twice.
func freePorts(k int) ([]int, error) {
	ports := make([]int, 0, k)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range k {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natstest: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newNodes lays out n nodes under dir on fresh ports and writes their configs.
func newNodes(dir, clusterName string, n int, logTo func(name string) io.Writer) ([]*node, error) {
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	nodes := make([]*node, n)
	for i := range nodes {
		name := "n" + strconv.Itoa(i+1)
		nodes[i] = &node{
			name:     name,
			client:   ports[3*i],
			route:    ports[3*i+1],
			http:     ports[3*i+2],
			storeDir: filepath.Join(dir, name, "store"),
			confPath: filepath.Join(dir, name, "nats.conf"),
			log:      logTo(name),
		}
	}
	for _, nd := range nodes {
		if err := nd.writeConf(clusterName, nodes); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

// prefixed is a log destination for one node.
func prefixed(w io.Writer, name string) io.Writer {
	return &prefixWriter{w: w, prefix: []byte(name + ": ")}
}
