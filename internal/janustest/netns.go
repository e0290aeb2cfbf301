package janustest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// EnvNetns names the network namespace a test binary was re-executed in by
// Main; its tests then run Janus and their WebRTC peers side by side.
const EnvNetns = "ROOMCAST_JANUS_NETNS"

// Addr is the address Janus binds and offers as its ICE candidate: a 127.x
// address on a veth, which Janus (unlike lo) does not skip.
const Addr = "127.0.0.2"

var nsSeq atomic.Int64

// Netns is a private network namespace with lo up and a veth carrying
// Addr. Janus never offers loopback candidates, so it and its clients run
// in here, away from the machine's real addresses.
type Netns struct {
	Name string
	// inside: this process already runs in the namespace (Main re-executed
	// it there), so commands and sockets need no switching.
	inside bool
	owned  bool
}

// NewNetns creates a namespace (root only). Close deletes it.
func NewNetns() (*Netns, error) {
	if name := os.Getenv(EnvNetns); name != "" {
		return &Netns{Name: name, inside: true}, nil
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("janustest: `ip` not found: run scripts/install-deps.sh test (apt-get install iproute2)")
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("janustest: creating a network namespace for Janus needs root (the tests run as root in CI: .ci/run)")
	}
	n := &Netns{Name: fmt.Sprintf("rc-janus-%d-%d", os.Getpid(), nsSeq.Add(1)), owned: true}
	steps := [][]string{
		{"netns", "add", n.Name},
		{"-n", n.Name, "link", "set", "lo", "up"},
		{"-n", n.Name, "link", "add", "jv0", "type", "veth", "peer", "name", "jv1"},
		{"-n", n.Name, "addr", "add", Addr + "/32", "dev", "jv0"},
		{"-n", n.Name, "link", "set", "jv0", "up"},
		{"-n", n.Name, "link", "set", "jv1", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			n.Close()
			return nil, fmt.Errorf("janustest: ip %s: %w: %s", strings.Join(s, " "), err, out)
		}
	}
	return n, nil
}

// Close deletes the namespace if NewNetns made it.
func (n *Netns) Close() {
	if n.owned {
		_ = exec.Command("ip", "netns", "del", n.Name).Run()
	}
}

// Command is exec.Command run inside the namespace.
func (n *Netns) Command(name string, args ...string) *exec.Cmd {
	if n.inside {
		return exec.Command(name, args...)
	}
	return exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// DialContext dials from inside the namespace: the socket is made on a
// thread switched into it, and a socket stays in the namespace it was made
// in, whichever thread later uses it.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if n.inside {
		return d.DialContext(ctx, network, addr)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread goes back to its own namespace before it is unlocked;
		// if it cannot, it stays locked and dies with the goroutine. It
		// must not stay switched: were it the main thread, which never
		// dies, /proc/self/net would show the namespace's sockets to the
		// rest of the test binary.
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- result{nil, fmt.Errorf("janustest: %w", err)}
			return
		}
		defer home.Close()
		f, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("janustest: %w", err)}
			return
		}
		err = unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
		f.Close()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("janustest: setns %s: %w", n.Name, err)}
			return
		}
		c, err := d.DialContext(ctx, network, addr)
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// HTTPClient talks HTTP to servers inside the namespace.
func (n *Netns) HTTPClient() *http.Client {
	return &http.Client{
		Timeout:   40 * time.Second,
		Transport: &http.Transport{DialContext: n.DialContext, DisableKeepAlives: true},
	}
}

// Main runs a package's tests inside a fresh namespace: call it from
// TestMain. The test binary re-executes itself under `ip netns exec`, so
// that its in-process WebRTC peers share the namespace with the Janus
// servers the tests start; the exit status is the child's.
func Main(m interface{ Run() int }) {
	if os.Getenv(EnvNetns) != "" {
		os.Exit(m.Run())
	}
	n, err := NewNetns()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name, os.Args[0]}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), EnvNetns+"="+n.Name)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	n.Close()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "janustest:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
