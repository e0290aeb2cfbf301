package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/internal/natstest"
	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
)

// fleetEnv is a fleet on loopback: a real three-node nats-server cluster
// (R3 buckets), and serve nodes on it, each with its own data folder, all
// sharing one rooms folder and one webhook receiver.
type fleetEnv struct {
	t     *testing.T
	nats  *natstest.Cluster
	nodes []*serveEnv
	names []string
	hooks *hookReceiver
}

// fleetJob is a small job, so that three nodes with their jobs fit on the
// test machine: 320x180 at 15 fps costs 0.29 cores in the cost model.
func fleetJob(id, room string) map[string]any {
	return map[string]any{"id": id, "meetingUrl": "file:" + room + ".yaml", "record": true,
		"resolution": map[string]int{"width": 320, "height": 180}, "fps": 15}
}

// startFleet starts n serve nodes. capacity is each node's --capacity:
// 0.5 (0.4 cores to hand out) takes one fleetJob, 1.0 takes two.
func startFleet(t *testing.T, n int, capacity string) *fleetEnv {
	t.Helper()
	f := &fleetEnv{t: t, nats: natstest.StartCluster(t, 3), hooks: &hookReceiver{}}
	recv := httptest.NewServer(f.hooks)
	t.Cleanup(recv.Close)
	rooms := loopedRoom(t)
	for i := 1; i <= 6; i++ {
		if err := os.WriteFile(filepath.Join(rooms, fmt.Sprintf("r%d.yaml", i)), []byte("peers:\n  - name: alice\n    media: long.webm\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v := apitest.New(t)
	for i := range n {
		name := fmt.Sprintf("rec-%d", i+1)
		s := startServe(t, v, t.TempDir(), rooms, "--nats", strings.Join(f.nats.URLs(), ","), "--node", name,
			"--capacity", capacity, "--webhook", recv.URL, "--webhook-retries", "200ms,500ms,1s")
		f.nodes = append(f.nodes, s)
		f.names = append(f.names, name)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s's log:\n%s", name, fleetLog(s.proc.stderr.String()))
			}
		})
	}
	// Every node sees every other in the registry before the test begins.
	f.waitNodes(n)
	return f
}

func (f *fleetEnv) node(name string) *serveEnv {
	f.t.Helper()
	i := slices.Index(f.names, name)
	if i < 0 {
		f.t.Fatalf("no node %q in %v", name, f.names)
	}
	return f.nodes[i]
}

func (f *fleetEnv) nodesOf(s *serveEnv) []api.Node {
	f.t.Helper()
	var out struct{ Nodes []api.Node }
	if code := s.call("GET", "/v1/nodes", nil, &out); code != 200 {
		f.t.Fatalf("GET /v1/nodes = %d", code)
	}
	return out.Nodes
}

func (f *fleetEnv) waitNodes(n int) {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range f.nodes {
		for len(f.nodesOf(s)) != n {
			if time.Now().After(deadline) {
				f.t.Fatalf("%s sees %d nodes, want %d", s.addr, len(f.nodesOf(s)), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// start posts a job to node s and returns its state and the status.
func (f *fleetEnv) start(s *serveEnv, body map[string]any) (worker.State, int) {
	f.t.Helper()
	var st worker.State
	code := s.call("POST", "/v1/jobs", body, &st)
	return st, code
}

// TestFleetCallsFromEveryNode: three nodes that take one job each. A race
// of two starts for one room on two nodes has one winner; starts through
// one node spread over the three; a fourth finds no room (503); every job
// is read, changed, listed, watched, stopped and its files fetched through
// every node, not only its own.
func TestFleetCallsFromEveryNode(t *testing.T) {
	f := startFleet(t, 3, "0.5")
	a, b, c := f.nodes[0], f.nodes[1], f.nodes[2]

	// The 409 rule across nodes, three times over.
	for round := range 3 {
		room := fmt.Sprintf("r%d", 4+round)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, s := range []*serveEnv{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, codes[i] = f.start(s, fleetJob(fmt.Sprintf("race-%d-%d", round, i), room))
			}()
		}
		wg.Wait()
		slices.Sort(codes)
		if codes[0] != 201 || codes[1] != 409 {
			t.Fatalf("round %d: two starts for one room on two nodes answered %v, want one 201 and one 409", round, codes)
		}
		for i := range 2 {
			id := fmt.Sprintf("race-%d-%d", round, i)
			var st worker.State
			if a.call("GET", "/v1/jobs/"+id, nil, &st) == 200 {
				if code := c.call("DELETE", "/v1/jobs/"+id+"?wait=true", nil, &st); code != 200 || st.State != "stopped" {
					t.Fatalf("stopping %s through another node: %d %s", id, code, st.State)
				}
			}
		}
	}

	// Placement: each node takes one; the fourth job finds no room.
	var ids []string
	owners := map[string]string{}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("job-%d", i)
		st, code := f.start(a, fleetJob(id, fmt.Sprintf("r%d", i)))
		if code != 201 {
			t.Fatalf("start %s through %s = %d", id, f.names[0], code)
		}
		ids = append(ids, id)
		owners[id] = st.Node
	}
	got := slices.Sorted(func(yield func(string) bool) {
		for _, n := range owners {
			if !yield(n) {
				return
			}
		}
	})
	if !slices.Equal(got, f.names) {
		t.Fatalf("three jobs placed on %v, want one on each of %v", owners, f.names)
	}
	var p api.Problem
	if code := b.call("POST", "/v1/jobs", fleetJob("job-4", "r4"), &p); code != 503 || p.Code != api.CodeNoCapacity {
		t.Fatalf("a fourth job with every node full: %d %+v, want 503 NO_CAPACITY", code, p)
	}

	// Every call answered from every node.
	for _, id := range ids {
		f.node(owners[id]).waitJob(id, "running", running)
		for i, s := range f.nodes {
			st := s.job(id)
			if st.Node != owners[id] || st.State != "running" || len(st.Parts) != 1 || st.Parts[0].Node != owners[id] {
				t.Errorf("%s read through %s: node %q state %s parts %+v, want running on %s in one part", id, f.names[i], st.Node, st.State, st.Parts, owners[id])
			}
		}
	}
	for i, s := range f.nodes {
		var page api.JobPage
		if code := s.call("GET", "/v1/jobs?state=running", nil, &page); code != 200 || len(page.Jobs) != 3 {
			t.Errorf("list through %s: %d, %d running jobs, want 3", f.names[i], code, len(page.Jobs))
		}
		var rs api.RoomState
		if code := s.call("GET", "/v1/rooms/state?meetingUrl=file:r2.yaml", nil, &rs); code != 200 || !slices.Equal(rs.Jobs, []string{"job-2"}) || !rs.Recording.Running {
			t.Errorf("room view through %s: %d %+v", f.names[i], code, rs)
		}
		for _, n := range f.nodesOf(s) {
			if n.Jobs != 1 || n.Used <= 0 || n.Draining {
				t.Errorf("%s sees node %+v, want one job each", f.names[i], n)
			}
		}
	}
	// A job's events, watched through a node that does not run it.
	other := f.nodes[(slices.Index(f.names, owners["job-1"])+1)%3]
	if evs := readSSE(t, other, "job-1", "", 2); len(evs) != 2 {
		t.Errorf("job-1's events through another node: %v", evs)
	}
	// A change through a node that does not run the job.
	var st worker.State
	if code := other.call("PATCH", "/v1/jobs/job-1", map[string]any{"layout": "pip"}, &st); code != 200 || st.Node != owners["job-1"] {
		t.Errorf("PATCH through another node: %d node %q", code, st.Node)
	}

	// Stopped through another node; its recording fetched through a third.
	time.Sleep(2 * time.Second)
	if code := other.call("DELETE", "/v1/jobs/job-1?wait=true", nil, &st); code != 200 || st.State != "stopped" {
		t.Fatalf("DELETE through another node: %d %s", code, st.State)
	}
	third := f.nodes[(slices.Index(f.names, owners["job-1"])+2)%3]
	var files struct{ Files []api.FileInfo }
	if code := third.call("GET", "/v1/jobs/job-1/files", nil, &files); code != 200 {
		t.Fatalf("files through a third node: %d", code)
	}
	if !slices.ContainsFunc(files.Files, func(fi api.FileInfo) bool {
		return fi.Path == "recording.mp4" && fi.Node == owners["job-1"] && fi.Bytes > 0 && !fi.Unavailable
	}) {
		t.Fatalf("files through a third node: %+v, want recording.mp4 on %s", files.Files, owners["job-1"])
	}
	checkPlays(t, third.download("job-1", "recording.mp4"), 1.5)

	// The freed node takes the next job.
	if st, code := f.start(c, fleetJob("job-5", "r5")); code != 201 || st.Node != owners["job-1"] {
		t.Errorf("a start after job-1 ended: %d on %q, want the freed node %s", code, st.Node, owners["job-1"])
	}
}

// checkPlays decodes a recording whole and wants at least minSeconds of
// video that starts on a keyframe and decodes without errors.
func checkPlays(t *testing.T, path string, minSeconds float64) {
	t.Helper()
	p := rtmptest.ProbeFile(t, path)
	if p.Duration() < minSeconds {
		t.Errorf("%s lasts %.2f s, want at least %.1f", filepath.Base(path), p.Duration(), minSeconds)
	}
	if errs, firstKey := rtmptest.DecodeCheck(t, path); errs != "" || !firstKey {
		t.Errorf("%s does not decode cleanly (first frame a keyframe: %v): %s", filepath.Base(path), firstKey, errs)
	}
}

// TestFleetFailover: the node running a job (recording and RTMP) is
// SIGKILLed. Another node runs the job again within 10 s, in a second part
// with its own files; the RTMP ingest sees the stream again; the webhook
// says failover, and every event reaches the receiver exactly once. Both
// parts play, fetched through a node that ran neither, once the dead node
// is back.
func TestFleetFailover(t *testing.T) {
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	f := startFleet(t, 3, "0.5")
	body := fleetJob("fo", "r1")
	body["rtmpUrls"] = []string{fmt.Sprintf("rtmp://127.0.0.1:%d/live/FLEETKEY7", ng.Port)}
	body["hlsRecord"] = true
	st, code := f.start(f.nodes[0], body)
	if code != 201 {
		t.Fatalf("start = %d", code)
	}
	owner := f.node(st.Node)
	owner.waitJob("fo", "recording and streaming", func(s worker.State) bool { return running(s) && s.RTMPStreaming.Running })
	time.Sleep(3 * time.Second)

	var watcher *serveEnv
	for _, s := range f.nodes {
		if s != owner {
			watcher = s
			break
		}
	}
	killed := time.Now()
	if err := owner.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	owner.proc.wait(t, 10*time.Second)
	after := watcher.waitJob("fo", "the job on another node", func(s worker.State) bool {
		return s.Node != "" && s.Node != st.Node && running(s) && len(s.Parts) == 2
	})
	took := time.Since(killed)
	t.Logf("failover: running on %s %.1f s after the SIGKILL of %s; gap %.1f s", after.Node, took.Seconds(), st.Node, after.Parts[1].GapSeconds)
	if took > 10*time.Second {
		t.Errorf("the job ran again %.1f s after its node died, want within 10 s", took.Seconds())
	}
	p1, p2 := after.Parts[0], after.Parts[1]
	if p1.Node != st.Node || p1.EndedAt == nil || p2.Cause != "failover" || p2.Node != after.Node ||
		!slices.Equal(p2.Files, []string{"recording.part2.mp4", "hls.part2/index.m3u8"}) || after.Recording.Path != "recording.part2.mp4" {
		t.Errorf("parts after the failover: %+v; recording %+v", after.Parts, after.Recording)
	}
	if p2.GapSeconds <= 0 || p2.GapSeconds > 10 {
		t.Errorf("the state gives a gap of %.2f s, want what the outage was (0..10 s)", p2.GapSeconds)
	}
	watcher.waitJob("fo", "streaming again", func(s worker.State) bool { return s.RTMPStreaming.Running })
	time.Sleep(3 * time.Second)

	// The dead node comes back; then the job ends, and both parts play
	// through a node that ran neither.
	owner.start()
	var final worker.State
	if code := watcher.call("DELETE", "/v1/jobs/fo?wait=true", nil, &final); code != 200 || final.State != "stopped" {
		t.Fatalf("stop after the failover: %d %s", code, final.State)
	}
	var third *serveEnv
	for _, s := range f.nodes {
		if s != owner && f.names[slices.Index(f.nodes, s)] != after.Node {
			third = s
		}
	}
	checkPlays(t, third.download("fo", "recording.mp4"), 2)
	checkPlays(t, third.download("fo", "recording.part2.mp4"), 2)
	// The HLS recordings, read where each node wrote them: the killed
	// node's up to its last segment (its job's process may have
	// finalized it when serve died under it), the new node's finalized.
	if d := playableHLSSeconds(t, filepath.Join(owner.data, "jobs", "fo", "hls"), hlsEither); d < 2 {
		t.Errorf("the killed node's HLS recording plays %.1f s, want the 3 s and more it recorded", d)
	}
	newNode := f.nodes[slices.Index(f.names, after.Node)]
	if d := playableHLSSeconds(t, filepath.Join(newNode.data, "jobs", "fo", "hls.part2"), hlsEnded); d < 2 {
		t.Errorf("the new node's HLS recording plays %.1f s, want the 3 s and more it recorded", d)
	}
	if n := ng.PublishesEnded(); n < 2 {
		t.Errorf("nginx saw %d publishes end, want the two parts' (the stream came back from the new node)", n)
	}

	// Webhooks: each event once across the fleet, the failover among them.
	// Deliveries the killed node had taken from the outbox are offered to
	// another node only after the consumer's ack wait (30 s), and a job's
	// webhooks go in order, so its later ones may wait that long.
	deadline := time.Now().Add(45 * time.Second)
	for !slices.Contains(f.hooks.types(), "failover") || !slices.Contains(f.hooks.types(), "jobStateUpdated") {
		if time.Now().After(deadline) {
			t.Fatalf("webhooks received: %v, want a failover", f.hooks.types())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	f.hooks.mu.Lock()
	defer f.hooks.mu.Unlock()
	seen := map[string]int{}
	for _, id := range f.hooks.ids {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("webhook %s delivered %d times, want once", id, n)
		}
	}
	if len(f.hooks.errors) > 0 {
		t.Errorf("webhook receiver: %v", f.hooks.errors)
	}
}

// TestFleetDrain: a drained node takes no new jobs and its job runs on;
// drained with migrate, its job continues on the other node in a new part.
// Through the CLI: roomcast nodes and roomcast drain.
func TestFleetDrain(t *testing.T) {
	f := startFleet(t, 2, "1.0")
	a := f.nodes[0]
	st, code := f.start(a, fleetJob("dr-a", "r1"))
	if code != 201 {
		t.Fatalf("start = %d", code)
	}
	x := st.Node
	y := f.names[1-slices.Index(f.names, x)]
	f.node(x).waitJob("dr-a", "running", running)
	env := append(cleanEnv(), "ROOMCAST_SERVER="+f.node(y).base, "ROOMCAST_TOKEN="+serveToken)

	if out, errOut, code := runRoomcastEnv(t, env, "drain", x); code != 0 || !strings.Contains(out, x+" is draining") {
		t.Fatalf("roomcast drain %s: exit %d\n%s%s", x, code, out, errOut)
	}
	// The registry is as fresh as the last heartbeat: the drain puts one
	// at once, which the other node reads soon after.
	deadline := time.Now().Add(3 * time.Second)
	for {
		out, errOut, code := runRoomcastEnv(t, env, "nodes")
		if code != 0 || !strings.Contains(out, "DRAINING") {
			t.Fatalf("roomcast nodes: exit %d\n%s%s", code, out, errOut)
		}
		if slices.ContainsFunc(strings.Split(out, "\n"), func(line string) bool {
			f := strings.Fields(line)
			return len(f) > 5 && f[0] == x && f[5] == "true"
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("roomcast nodes does not show %s draining:\n%s", x, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st2, code := f.start(f.node(x), fleetJob("dr-b", "r2"))
	if code != 201 || st2.Node != y {
		t.Fatalf("a start through the draining node: %d on %q, want %s", code, st2.Node, y)
	}
	if s := f.node(x).job("dr-a"); s.State != "running" || s.Node != x {
		t.Fatalf("the drained node's job: %s on %q, want it running on", s.State, s.Node)
	}

	time.Sleep(2 * time.Second)
	if out, errOut, code := runRoomcastEnv(t, env, "drain", x, "--migrate"); code != 0 {
		t.Fatalf("roomcast drain --migrate: exit %d\n%s%s", code, out, errOut)
	}
	moved := f.node(y).waitJob("dr-a", "the job on the other node", func(s worker.State) bool {
		return s.Node == y && running(s) && len(s.Parts) == 2
	})
	if p := moved.Parts[1]; p.Cause != "migrate" || p.GapSeconds > 5 || moved.Parts[0].EndedAt == nil {
		t.Errorf("parts after the migration: %+v", moved.Parts)
	}
	time.Sleep(2 * time.Second)
	var final worker.State
	if code := f.node(x).call("DELETE", "/v1/jobs/dr-a?wait=true", nil, &final); code != 200 || final.State != "stopped" {
		t.Fatalf("stop: %d %s", code, final.State)
	}
	checkPlays(t, f.node(y).download("dr-a", "recording.mp4"), 1.5)
	checkPlays(t, f.node(x).download("dr-a", "recording.part2.mp4"), 1.5)
}

// TestFleetNATSLeaderKill: the NATS server leading the lease bucket (and
// the meta group) is SIGKILLed under two running jobs. The API answers
// again, and every job is still running on the node it was on, in its one
// part: none was lost, none failed over, none ran twice.
func TestFleetNATSLeaderKill(t *testing.T) {
	f := startFleet(t, 2, "1.0")
	var ids []string
	for i := 1; i <= 2; i++ {
		id := fmt.Sprintf("nl-%d", i)
		if _, code := f.start(f.nodes[i-1], fleetJob(id, fmt.Sprintf("r%d", i))); code != 201 {
			t.Fatalf("start %s = %d", id, code)
		}
		ids = append(ids, id)
	}
	before := map[string]string{}
	for _, id := range ids {
		before[id] = f.nodes[0].waitJob(id, "running", running).Node
	}
	const leases = "KV_roomcast_leases"
	f.nats.MoveLeader(t, leases, f.nats.MetaLeader(t))
	leader := f.nats.Leader(t, leases)
	killed := time.Now()
	f.nats.Kill(t, leader)

	// The API answers again: a list and a new job through each node.
	for i, s := range f.nodes {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var page api.JobPage
			if code := s.call("GET", "/v1/jobs?state=running", nil, &page); code == 200 && len(page.Jobs) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not list the jobs 30 s after the NATS leader died", f.names[i])
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	listed := time.Since(killed)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st worker.State
		code := f.nodes[1].call("POST", "/v1/jobs", fleetJob("nl-new", "r3"), &st)
		if code == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job starts 30 s after the NATS leader died: last %d", code)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("after the SIGKILL of NATS server %s: jobs listed again after %.1f s, a job started after %.1f s",
		f.nats.Name(leader), listed.Seconds(), time.Since(killed).Seconds())

	// Long enough for a failover to have happened, had one been going to.
	time.Sleep(8 * time.Second)
	for _, id := range ids {
		st := f.nodes[0].job(id)
		if st.State != "running" || st.Node != before[id] || len(st.Parts) != 1 {
			t.Errorf("%s after the NATS leader's death: %s on %q in %d parts, want running on %s in one part",
				id, st.State, st.Node, len(st.Parts), before[id])
		}
	}
	// Each job runs in exactly one process across the fleet.
	var children int
	for _, s := range f.nodes {
		children += len(childrenOf(t, s.proc.cmd.Process.Pid))
	}
	if children != 3 {
		t.Errorf("%d job processes across the fleet, want 3 (no job run twice)", children)
	}
	f.nats.Restart(t, leader)
}

// runRoomcastEnv runs the binary to its end with env.
func runRoomcastEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startRoomcast(t, env, args...)
	p.wait(t, time.Minute)
	return p.stdout.String(), p.stderr.String(), p.exitCode(t)
}

// TestFleetNATSOutage: every NATS server dies for longer than a lease's
// life under two running jobs. The nodes keep recording on their own; when
// NATS is back each takes its jobs' lapsed leases again (their records
// still name it), and no node takes another's job over: every job is still
// one part on its node, and its recording runs through the outage without
// a gap.
func TestFleetNATSOutage(t *testing.T) {
	f := startFleet(t, 2, "0.5")
	owners := map[string]*serveEnv{}
	for i := 1; i <= 2; i++ {
		id := fmt.Sprintf("out-%d", i)
		st, code := f.start(f.nodes[i-1], fleetJob(id, fmt.Sprintf("r%d", i)))
		if code != 201 {
			t.Fatalf("start %s = %d", id, code)
		}
		owners[id] = f.node(st.Node)
		owners[id].waitJob(id, "running", running)
	}
	time.Sleep(2 * time.Second)
	size := func(id string) int64 {
		fi, err := os.Stat(filepath.Join(owners[id].data, "jobs", id, "recording.mp4"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := map[string]int64{}
	for id := range owners {
		before[id] = size(id)
	}
	for i := range f.nats.N() {
		f.nats.Kill(t, i)
	}
	time.Sleep(6 * time.Second) // beyond the 4 s lease TTL
	for id := range owners {
		if now := size(id); now <= before[id] {
			t.Errorf("%s's recording did not grow while NATS was down: %d → %d bytes", id, before[id], now)
		}
	}
	for i := range f.nats.N() {
		f.nats.Restart(t, i)
	}
	f.nats.WaitReady(t)
	// Back: the jobs are where they were, once the nodes had their say.
	deadline := time.Now().Add(30 * time.Second)
	for id, s := range owners {
		for {
			var st worker.State
			if code := f.nodes[0].call("GET", "/v1/jobs/"+id, nil, &st); code == 200 && st.State == "running" && st.Node == f.names[slices.Index(f.nodes, s)] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not back running on its node 30 s after NATS returned", id)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	time.Sleep(8 * time.Second) // a wrongful takeover would have happened by now
	var children int
	for _, s := range f.nodes {
		children += len(childrenOf(t, s.proc.cmd.Process.Pid))
	}
	if children != 2 {
		t.Errorf("%d job processes across the fleet after the outage, want 2", children)
	}
	for id, s := range owners {
		var st worker.State
		if code := s.call("DELETE", "/v1/jobs/"+id+"?wait=true", nil, &st); code != 200 || st.State != "stopped" || len(st.Parts) != 1 {
			t.Fatalf("%s: stop %d, %s in %d parts, want stopped in one part", id, code, st.State, len(st.Parts))
		}
		rec := filepath.Join(s.data, "jobs", id, "recording.mp4")
		checkPlays(t, rec, 15)
		checkNoGap(t, id, videoPacketTimes(t, rec), 0.5)
	}
}

// fleetLog is a node's log without its jobs' debug lines: what the fleet
// did, for a failed test.
func fleetLog(log string) string {
	var keep []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `"level":"DEBUG"`) {
			keep = append(keep, line)
		}
	}
	return tail(strings.Join(keep, "\n"), 12000)
}
