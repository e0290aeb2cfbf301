package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
)

// fleetTrials is how many placements each placement row times, and
// fleetKills how many failovers the failover row does.
const (
	fleetTrials = 10
	fleetKills  = 10
)

// natsCluster is three nats-server processes clustered on loopback, each
// with JetStream, as the fleet's tests run them.
type natsCluster struct {
	procs []*exec.Cmd
	urls  []string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func startNATSCluster(dir string) (*natsCluster, error) {
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "nats-server")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %w (install: GOFLAGS= go install github.com/nats-io/nats-server/v2@v2.15.2)", bin, err)
	}
	c := &natsCluster{}
	var client, route []int
	for range 3 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		q, err := freePort()
		if err != nil {
			return nil, err
		}
		client, route = append(client, p), append(route, q)
	}
	var routes []string
	for _, q := range route {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", q))
	}
	for i := range 3 {
		sd := filepath.Join(dir, fmt.Sprintf("nats-n%d", i+1))
		_ = os.RemoveAll(sd)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("nats-n%d.log", i+1)))
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "-js", "-sd", sd, "-a", "127.0.0.1", "-p", strconv.Itoa(client[i]),
			"-n", fmt.Sprintf("n%d", i+1), "--cluster_name", "roomcast-bench",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", route[i]), "--routes", strings.Join(routes, ","))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			c.stop()
			return nil, err
		}
		c.procs = append(c.procs, cmd)
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
	}
	return c, nil
}

func (c *natsCluster) stop() {
	for _, p := range c.procs {
		_ = p.Process.Kill()
		_, _ = p.Process.Wait()
	}
}

// fleetNode is one serve node of the bench's fleet.
type fleetNode struct {
	name, data string
	s          *serveProc
}

func (n *fleetNode) start(bin, dir, rooms string, nats []string) error {
	s, err := startServeArgs(bin, dir, rooms, n.data, "serve-"+n.name+".log",
		"--nats", strings.Join(nats, ","), "--node", n.name, "--capacity", "0.5")
	if err != nil {
		return err
	}
	n.s, n.data = s, s.data
	return nil
}

// kill ends the node as a lost machine would (SIGKILL), keeping its data.
func (n *fleetNode) kill() {
	_ = n.s.cmd.Process.Kill()
	<-n.s.done
	n.s.log.Close()
}

// benchJob is a small demo-room job: what is timed is the fleet, not the
// picture.
func benchJob(id string) config.Job {
	return config.Job{ID: id, MeetingURL: "demo:", Record: true, Resolution: config.Resolution{Width: 320, Height: 180}, FPS: 15}
}

// startToRunning posts a job to s and times it to the job's state running,
// its recording too, as read through s.
func startToRunning(ctx context.Context, s *serveProc, cfg config.Job) (time.Duration, string, error) {
	t0 := time.Now()
	st, err := s.startJob(ctx, cfg)
	if err != nil {
		return 0, "", err
	}
	for st.State != worker.Running || !st.Recording.Running {
		if time.Since(t0) > 30*time.Second {
			return 0, "", fmt.Errorf("job %s not running after 30 s: %s", cfg.ID, st.State)
		}
		time.Sleep(10 * time.Millisecond)
		if st, err = s.client.Job(ctx, cfg.ID); err != nil {
			return 0, "", err
		}
	}
	return time.Since(t0), st.Node, nil
}

// placements times fleetTrials starts through s, each stopped before the
// next.
func placements(ctx context.Context, s *serveProc, prefix string) ([]float64, map[string]int, error) {
	var out []float64
	where := map[string]int{}
	for i := range fleetTrials {
		id := fmt.Sprintf("%s-%d", prefix, i)
		d, node, err := startToRunning(ctx, s, benchJob(id))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, ms(d))
		where[node]++
		if _, err := s.client.Stop(ctx, id, true); err != nil {
			return nil, nil, err
		}
	}
	return out, where, nil
}

// fleetPart measures placement on one node and across a three-node fleet,
// and failover over fleetKills SIGKILLs of the node running a job.
func fleetPart(ctx context.Context, bin, dir string) (serveResult, error) {
	res := serveResult{at: time.Now()}
	var err error
	if bin, err = filepath.Abs(bin); err != nil {
		return res, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return res, err
	}
	loadBefore := loadAverage()

	// One node, embedded NATS.
	one, err := startServe(bin, dir, dir, 0)
	if err != nil {
		return res, err
	}
	alone, _, err := placements(ctx, one, "alone")
	one.close()
	if err != nil {
		return res, err
	}
	aMed, aMax := medianMax(alone)
	res.rows = append(res.rows, fmt.Sprintf("| POST /v1/jobs → running, one node (embedded NATS), %d trials | median **%.0f ms**, max %.0f ms | — |", fleetTrials, aMed, aMax))

	nc, err := startNATSCluster(dir)
	if err != nil {
		return res, err
	}
	defer nc.stop()
	nodes := []*fleetNode{{name: "rec-1"}, {name: "rec-2"}, {name: "rec-3"}}
	for _, n := range nodes {
		if err := n.start(bin, dir, dir, nc.urls); err != nil {
			return res, err
		}
	}
	defer func() {
		for _, n := range nodes {
			if n.s != nil {
				n.s.close()
			}
		}
	}()
	time.Sleep(2 * time.Second) // every node in the registry

	here, whereHere, err := placements(ctx, nodes[0].s, "here")
	if err != nil {
		return res, err
	}
	hMed, hMax := medianMax(here)
	res.rows = append(res.rows, fmt.Sprintf("| POST → running across a 3-node fleet (R3 buckets), placed on the node called, %d trials | median **%.0f ms**, max %.0f ms | — |", fleetTrials, hMed, hMax))
	// With the called node drained, every job goes to another node: the
	// call, the placement and the reply cross NATS.
	if _, err := nodes[0].s.client.Drain(ctx, "rec-1", false); err != nil {
		return res, err
	}
	time.Sleep(1500 * time.Millisecond)
	away, whereAway, err := placements(ctx, nodes[0].s, "away")
	if err != nil {
		return res, err
	}
	wMed, wMax := medianMax(away)
	res.rows = append(res.rows, fmt.Sprintf("| same, the called node drained: placed on another node by request-reply | median **%.0f ms**, max %.0f ms | — |", wMed, wMax))
	res.notes = append(res.notes, fmt.Sprintf("placement: a job is placed on the node with the most free CPU in the registry (this node first among equals), and started there by a NATS request; the time is POST to a state of running with its recording open, read through the node called. Placed: %v, then %v with rec-1 drained.", whereHere, whereAway))

	// Failover: rec-1 stays drained; the job runs on rec-2 or rec-3, and
	// each kill moves it to the other.
	var fo []float64
	st, err := nodes[0].s.startJob(ctx, benchJob("fo"))
	if err != nil {
		return res, err
	}
	owner := st.Node
	for k := range fleetKills {
		var victim, other *fleetNode
		for _, n := range nodes[1:] {
			if n.name == owner {
				victim = n
			} else {
				other = n
			}
		}
		if victim == nil {
			return res, fmt.Errorf("failover %d: the job runs on %q, not rec-2 or rec-3", k, owner)
		}
		if _, err := waitRunningOn(ctx, nodes[0].s, "fo", owner, k+1); err != nil {
			return res, err
		}
		time.Sleep(2 * time.Second)
		t0 := time.Now()
		victim.kill()
		got, err := waitRunningOn(ctx, nodes[0].s, "fo", other.name, k+2)
		if err != nil {
			return res, err
		}
		fo = append(fo, time.Since(t0).Seconds())
		owner = got.Node
		if err := victim.start(bin, dir, dir, nc.urls); err != nil {
			return res, err
		}
		time.Sleep(1500 * time.Millisecond) // back in the registry
	}
	lo, med, hi := minMedMax(fo)
	res.rows = append(res.rows, fmt.Sprintf("| failover: SIGKILL of the job's node → the job running on another node, in a new part, %d kills | min %.1f s, median **%.1f s**, max %.1f s | ≤ 10 s |", fleetKills, lo, med, hi))
	res.notes = append(res.notes, fmt.Sprintf("failover is the lease's TTL (%s, the time a dead node's lease takes to lapse) plus the orphan scan (every 1 s) plus the new part's start; the job ran in %d parts at the end. Load average before the part: %s, after: %s.",
		"4 s", fleetKills+1, loadBefore, loadAverage()))
	return res, nil
}

// waitRunningOn waits until job id runs on node in part parts.
func waitRunningOn(ctx context.Context, s *serveProc, id, node string, parts int) (worker.State, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.client.Job(ctx, id)
		if err == nil && st.Node == node && st.State == worker.Running && st.Recording.Running && len(st.Parts) == parts {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("job %s not running on %s in part %d after 30 s: on %q, %s, %d parts (%v)", id, node, parts, st.Node, st.State, len(st.Parts), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func minMedMax(xs []float64) (lo, med, hi float64) {
	med, hi = medianMax(xs)
	lo = xs[0]
	for _, x := range xs {
		lo = min(lo, x)
	}
	return lo, med, hi
}

// fleetSection renders the fleet part for results.md.
func fleetSection(r serveResult) string {
	return r.render("fleet", "Serve nodes on a three-node nats-server cluster on loopback (R3 buckets), `--capacity 0.5` each (one small job per node), jobs of the demo room at 320x180p15.", "roomcast")
}
