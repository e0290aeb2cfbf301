package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
)

// The service's end-to-end tests run the real `roomcast serve` on a
// loopback port, with its embedded JetStream store, real job processes and
// real file rooms, and check every answer against docs/openapi.json.

const (
	serveToken  = "e2e-token-1"
	serveSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

type serveEnv struct {
	t     *testing.T
	data  string
	rooms string
	addr  string
	base  string
	http  *http.Client
	proc  *proc
	args  []string
	env   []string
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// loopedRoom writes a rooms folder with a one-peer room whose clip lasts
// about a minute, so that a job runs as long as a test needs.
func loopedRoom(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(repoRoot(t), "testdata", "peers", "alice.webm")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-y", "-stream_loop", "4", "-i", src, "-c", "copy", filepath.Join(dir, "long.webm")).CombinedOutput(); err != nil {
		t.Fatalf("looping the clip: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "long.yaml"), []byte("peers:\n  - name: alice\n    media: long.webm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func startServe(t *testing.T, v *apitest.Validator, data, rooms string, extra ...string) *serveEnv {
	t.Helper()
	s := &serveEnv{t: t, data: data, rooms: rooms, addr: freeAddr(t)}
	s.base = "http://" + s.addr
	s.http = &http.Client{Transport: v.Transport(t, nil), Timeout: 90 * time.Second}
	s.args = append([]string{"serve", "--listen", s.addr, "--data", data, "--rooms-dir", rooms, "--log-level", "debug"}, extra...)
	s.env = append(cleanEnv(), "ROOMCAST_API_TOKENS="+serveToken, "ROOMCAST_WEBHOOK_SECRET="+serveSecret)
	s.start()
	return s
}

func (s *serveEnv) start() {
	t := s.t
	t.Helper()
	s.proc = startRoomcast(t, s.env, s.args...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			s.proc.cmd.Process.Kill()
			s.proc.wait(t, 10*time.Second)
			t.Fatalf("serve did not become ready: %v\n%s", err, tail(s.proc.stderr.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call makes one API call and decodes a JSON answer into out.
func (s *serveEnv) call(method, path string, body any, out any, hdr ...string) int {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		if raw, ok := body.(string); ok {
			b = []byte(raw)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+serveToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func (s *serveEnv) job(id string) worker.State {
	s.t.Helper()
	var st worker.State
	if code := s.call("GET", "/v1/jobs/"+id, nil, &st); code != 200 {
		s.t.Fatalf("GET job %s = %d", id, code)
	}
	return st
}

func (s *serveEnv) waitJob(id, what string, cond func(worker.State) bool) worker.State {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := s.job(id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s: timed out waiting for %s; state %+v", id, what, st)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// download fetches a job's file to a temporary path.
func (s *serveEnv) download(id, name string) string {
	s.t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/v1/jobs/"+id+"/files/"+name, nil)
	req.Header.Set("Authorization", "Bearer "+serveToken)
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		s.t.Fatalf("GET files/%s = %d", name, resp.StatusCode)
	}
	p := filepath.Join(s.t.TempDir(), filepath.Base(name))
	f, err := os.Create(p)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		s.t.Fatal(err)
	}
	return p
}

// childrenOf returns the pids of a process's children: each thread lists
// the ones it forked, and Go forks from whichever thread runs.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that just ended
		}
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

func running(st worker.State) bool { return st.State == worker.Running && st.Recording.Running }

func TestServeStartStateStop(t *testing.T) {
	v := apitest.New(t)
	s := startServe(t, v, t.TempDir(), loopedRoom(t))
	job := map[string]any{"id": "e2e-1", "meetingUrl": "file:long.yaml", "record": true,
		"resolution": map[string]int{"width": 320, "height": 180}}
	var st worker.State
	if code := s.call("POST", "/v1/jobs", job, &st); code != 201 || st.ID != "e2e-1" {
		t.Fatalf("POST /v1/jobs = %d %+v", code, st)
	}
	st = s.waitJob("e2e-1", "the recording to run and 2 s of output", func(st worker.State) bool { return running(st) && st.Stats.Elapsed >= 2 })

	// The contract's rule, and the room view.
	var p struct{ Code string }
	if code := s.call("POST", "/v1/jobs", map[string]any{"meetingUrl": "file:long.yaml", "rtmpUrls": []string{"rtmp://127.0.0.1:1/live/k"}}, &p); code != 409 || p.Code != "CONFLICT_RUNNING" {
		t.Errorf("a second start for the room = %d %s, want 409 CONFLICT_RUNNING", code, p.Code)
	}
	var rs struct {
		Recording struct{ Running bool }
		Jobs      []string
	}
	s.call("GET", "/v1/rooms/state?meetingUrl=file:long.yaml", nil, &rs)
	if !rs.Recording.Running || len(rs.Jobs) != 1 {
		t.Errorf("room view %+v, want recording running in one job", rs)
	}
	var page struct{ Jobs []worker.State }
	s.call("GET", "/v1/jobs?state=running", nil, &page)
	if len(page.Jobs) != 1 || page.Jobs[0].ID != "e2e-1" {
		t.Errorf("running jobs %+v", page.Jobs)
	}

	if code := s.call("DELETE", "/v1/jobs/e2e-1?wait=true", nil, &st); code != 200 || st.State != worker.Stopped {
		t.Fatalf("DELETE ?wait=true = %d, state %s (%v)", code, st.State, st.Error)
	}
	var files struct{ Files []struct{ Path string } }
	s.call("GET", "/v1/jobs/e2e-1/files", nil, &files)
	found := false
	for _, f := range files.Files {
		found = found || f.Path == "recording.mp4"
	}
	if !found {
		t.Fatalf("files %+v lack recording.mp4", files.Files)
	}
	mp4 := s.download("e2e-1", "recording.mp4")
	pr := ffprobe(t, mp4)
	if len(pr.Streams) != 2 || pr.Streams[0].Width != 320 {
		t.Errorf("recording streams %+v", pr.Streams)
	}
	if d := playableSeconds(t, mp4); d < 2 {
		t.Errorf("recording plays %.1f s, want at least 2", d)
	}
	// The room is free again.
	if code := s.call("POST", "/v1/jobs", map[string]any{"id": "e2e-2", "meetingUrl": "file:long.yaml", "record": true, "resolution": map[string]int{"width": 320, "height": 180}}, &st); code != 201 {
		t.Fatalf("start after the stop = %d", code)
	}
	s.call("DELETE", "/v1/jobs/e2e-2?wait=true", nil, &st)
}

func TestServeRefusals(t *testing.T) {
	v := apitest.New(t)
	s := startServe(t, v, t.TempDir(), loopedRoom(t), "--capacity", "0.45")
	var p struct {
		Code   string
		Fields []struct{ Field string }
	}
	for _, tc := range []struct {
		body  string
		field string
	}{
		{`{"meetingUrl":"demo:"}`, ""},
		{`{"meetingUrl":"demo:","record":true,"rtmpUrls":["rtmp://a/b/1","rtmp://a/b/2","rtmp://a/b/3","rtmp://a/b/4"]}`, "rtmpUrls"},
		{`{"meetingUrl":"demo:","record":true,"bogus":1}`, "bogus"},
		{`{"meetingUrl":"file:/etc/passwd","record":true}`, "meetingUrl"},
		{`{"meetingUrl":"file:../long.yaml","record":true}`, "meetingUrl"},
		{`{"id":"a/b","meetingUrl":"demo:","record":true}`, "id"},
	} {
		if code := s.call("POST", "/v1/jobs", tc.body, &p); code != 422 || p.Code != "INVALID_CONFIG" {
			t.Errorf("POST %s = %d %s, want 422 INVALID_CONFIG", tc.body, code, p.Code)
			continue
		}
		if tc.field != "" {
			found := false
			for _, f := range p.Fields {
				found = found || f.Field == tc.field
			}
			if !found {
				t.Errorf("POST %s: fields %+v do not name %s", tc.body, p.Fields, tc.field)
			}
		}
	}

	// Every route but health needs a token, on the real server too: the
	// walk covers the API's whole route table, so a new route without auth
	// fails here.
	for _, r := range api.New(api.Options{}).Routes() {
		path := strings.NewReplacer("{id}", "none", "{path...}", "recording.mp4").Replace(r.Pattern)
		req, _ := http.NewRequest(r.Method, s.base+path, nil)
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if r.Public != (resp.StatusCode != http.StatusUnauthorized) {
			t.Errorf("%s %s without a token = %d (public %v)", r.Method, path, resp.StatusCode, r.Public)
		}
	}

	// A client that sends its headers a byte at a time is cut off by the
	// header timeout (5 s), not kept forever: every read has a deadline.
	slowloris(t, s.addr)

	// Admission: the first small job (0.30 cores) fits 0.45 × 0.8, the second does not.
	small := func(id string) map[string]any {
		return map[string]any{"id": id, "meetingUrl": "file:long.yaml", "record": true, "resolution": map[string]int{"width": 320, "height": 180}}
	}
	if code := s.call("POST", "/v1/jobs", small("cap-1"), nil, "Idempotency-Key", "idem-1"); code != 201 {
		t.Fatalf("first job = %d", code)
	}
	// The same key answers the same job, without a second.
	var again worker.State
	if code := s.call("POST", "/v1/jobs", small("cap-other"), &again, "Idempotency-Key", "idem-1"); code != 200 || again.ID != "cap-1" {
		t.Errorf("idempotent start = %d %s, want 200 cap-1", code, again.ID)
	}
	req, _ := http.NewRequest("POST", s.base+"/v1/jobs", strings.NewReader(`{"id":"cap-2","meetingUrl":"demo:","record":true,"resolution":{"width":320,"height":180}}`))
	req.Header.Set("Authorization", "Bearer "+serveToken)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a job beyond capacity = %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// A start refused for want of room, retried with its key once there
	// is room, starts (its first try never made a job).
	retry := `{"meetingUrl":"demo:","record":true,"resolution":{"width":320,"height":180}}`
	if code := s.call("POST", "/v1/jobs", retry, nil, "Idempotency-Key", "idem-full"); code != 503 {
		t.Errorf("a keyed job beyond capacity = %d, want 503", code)
	}
	s.call("DELETE", "/v1/jobs/cap-1?wait=true", nil, nil)
	// The stop's answer comes as its outputs are finalized; the room and
	// the capacity are freed a moment later.
	var retried worker.State
	code := 0
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		retried = worker.State{}
		if code = s.call("POST", "/v1/jobs", retry, &retried, "Idempotency-Key", "idem-full"); code != 503 || time.Now().After(deadline) {
			break
		}
	}
	if code != 201 || retried.ID == "" {
		t.Errorf("the keyed job retried once there is room = %d %q, want 201", code, retried.ID)
	}
	var same worker.State
	if code := s.call("POST", "/v1/jobs", retry, &same, "Idempotency-Key", "idem-full"); code != 200 || same.ID != retried.ID {
		t.Errorf("the same key again = %d %q, want 200 %q", code, same.ID, retried.ID)
	}
	s.call("DELETE", "/v1/jobs/"+retried.ID+"?wait=true", nil, nil)
}

// hookReceiver verifies webhooks from the Standard Webhooks text alone.
type hookReceiver struct {
	mu     sync.Mutex
	fail   int // answer 500 to this many first
	got    []map[string]any
	ids    []string
	errors []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(serveSecret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	h.mu.Lock()
	defer h.mu.Unlock()
	if !strings.Contains(" "+r.Header.Get("webhook-signature")+" ", " "+want+" ") {
		h.errors = append(h.errors, "bad signature on "+r.Header.Get("webhook-id"))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if h.fail > 0 {
		h.fail--
		http.Error(w, "not now", http.StatusInternalServerError)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	h.got = append(h.got, m)
	h.ids = append(h.ids, r.Header.Get("webhook-id"))
}

func (h *hookReceiver) types() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.got {
		out = append(out, fmt.Sprint(m["type"]))
	}
	return out
}

func TestServeWebhooksAndEvents(t *testing.T) {
	v := apitest.New(t)
	hooks := &hookReceiver{fail: 2}
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	s := startServe(t, v, t.TempDir(), loopedRoom(t), "--webhook", recv.URL+"/hooks", "--webhook-retries", "200ms,300ms,500ms")
	// An RTMP URL where nothing listens: its output retries and errs, and
	// the recording goes on.
	dead := "rtmp://" + freeAddr(t) + "/live/k"
	s.call("POST", "/v1/jobs", map[string]any{"id": "hook-1", "meetingUrl": "file:long.yaml", "record": true, "rtmpUrls": []string{dead}, "resolution": map[string]int{"width": 320, "height": 180}}, nil)
	st := s.waitJob("hook-1", "running, with 2 s recorded and the RTMP output retrying", func(st worker.State) bool {
		return running(st) && st.Stats.Elapsed >= 2 && len(st.RTMPStreaming.Outputs) == 1 && st.RTMPStreaming.Outputs[0].Retries >= 1
	})

	// Metrics, while the job runs: its figures, as its state gives them.
	m := s.metrics(false)
	m.want(t, "one running job", equals(1), "roomcast_jobs", "state=running")
	m.want(t, "frames encoded", func(v float64) bool { return v >= float64(st.Stats.Frames) }, "roomcast_job_frames_total", "job=hook-1")
	m.want(t, "CPU used", positive, "roomcast_job_cpu_seconds_total", "job=hook-1")
	m.want(t, "an encode rate near 30 fps", func(v float64) bool { return v > 10 && v < 40 }, "roomcast_job_encode_fps", "job=hook-1")
	m.want(t, "the MP4's bytes", func(v float64) bool { return v >= float64(st.Recording.Bytes) && v > 0 }, "roomcast_output_bytes_total", "job=hook-1", "output=recording")
	m.want(t, "no recording errors", zero, "roomcast_output_errors_total", "job=hook-1", "output=recording")
	m.want(t, "the dead ingest's reconnects", positive, "roomcast_output_reconnects_total", "job=hook-1", "output=rtmp:1")
	m.want(t, "the dead ingest's errors", positive, "roomcast_output_errors_total", "job=hook-1", "output=rtmp:1")
	m.want(t, "a queue depth", func(v float64) bool { return v >= 0 }, "roomcast_output_queue_packets", "job=hook-1", "output=recording")
	m.want(t, "the job's admitted cost", positive, "roomcast_admission_used_cores")
	m.want(t, "the process's own metrics", positive, "process_resident_memory_bytes")
	var unauth struct{ Code string }
	if code := s.call("GET", "/metrics", nil, &unauth, "Authorization", "Bearer wrong"); code != 401 {
		t.Errorf("/metrics with a wrong token = %d, want 401 (it is public only with --metrics-public)", code)
	}

	s.call("DELETE", "/v1/jobs/hook-1?wait=true", nil, nil)

	deadline := time.Now().Add(30 * time.Second)
	for {
		ty := hooks.types()
		if len(ty) > 0 && ty[len(ty)-1] == "jobStateUpdated" {
			last := hooks.got[len(hooks.got)-1]["data"].(map[string]any)
			if last["state"] == "stopped" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks received %v; want the events through stopped", ty)
		}
		time.Sleep(100 * time.Millisecond)
	}
	hooks.mu.Lock()
	if len(hooks.errors) > 0 {
		t.Errorf("receiver errors: %v", hooks.errors)
	}
	seen := map[string]bool{}
	for _, id := range hooks.ids {
		if seen[id] {
			t.Errorf("webhook %s delivered twice", id)
		}
		seen[id] = true
	}
	hooks.mu.Unlock()
	ty := strings.Join(hooks.types(), ",")
	if !strings.Contains(ty, "recordingStateUpdated") {
		t.Errorf("webhooks %s lack recordingStateUpdated", ty)
	}

	// Metrics once it ended: the job's series are gone, the totals stay.
	m = s.metrics(false)
	if _, ok := m.value("roomcast_job_frames_total", "job=hook-1"); ok {
		t.Error("an ended job still has per-job series")
	}
	m.want(t, "one stopped job", equals(1), "roomcast_jobs", "state=stopped")
	m.want(t, "no running job", zero, "roomcast_jobs", "state=running")
	m.want(t, "the two failed attempts", equals(2), "roomcast_webhook_deliveries_total", "outcome=retried")
	m.want(t, "every event delivered", equals(float64(len(hooks.types()))), "roomcast_webhook_deliveries_total", "outcome=delivered")
	m.want(t, "no delivery failed for good", zero, "roomcast_webhook_deliveries_total", "outcome=failed")
	m.want(t, "an empty outbox", zero, "roomcast_webhook_outbox_depth")
	m.want(t, "the job's CPU", positive, "roomcast_ended_jobs_cpu_seconds_total")
	m.want(t, "nothing admitted", zero, "roomcast_admission_used_cores")

	// SSE: the same events in order, and a resume after the second.
	evs := readSSE(t, s, "hook-1", "", 3)
	if len(evs) != 3 {
		t.Fatalf("SSE gave %v", evs)
	}
	resumed := readSSE(t, s, "hook-1", evs[1][0], 1)
	if len(resumed) != 1 || resumed[0][0] != evs[2][0] {
		t.Fatalf("resume after %s gave %v, want %v", evs[1][0], resumed, evs[2])
	}
}

// readSSE reads n events of a job's stream: [id, type] pairs.
func readSSE(t *testing.T, s *serveEnv, id, lastID string, n int) [][2]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/jobs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+serveToken)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out [][2]string
	var cur [2]string
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur[0] = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur[1] = strings.TrimPrefix(line, "event: ")
		case line == "" && cur[0] != "":
			out = append(out, cur)
			cur = [2]string{}
		}
	}
	return out
}

func TestServeCrashesAndRestarts(t *testing.T) {
	v := apitest.New(t)
	data, rooms := t.TempDir(), loopedRoom(t)
	s := startServe(t, v, data, rooms)
	small := func(id, room string) map[string]any {
		return map[string]any{"id": id, "meetingUrl": room, "record": true, "hlsRecord": true, "resolution": map[string]int{"width": 320, "height": 180}}
	}
	s.call("POST", "/v1/jobs", small("crash-a", "file:long.yaml"), nil)
	if err := os.WriteFile(filepath.Join(rooms, "other.yaml"), []byte("peers:\n  - name: bob\n    media: long.webm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.call("POST", "/v1/jobs", small("crash-b", "file:other.yaml"), nil)
	for _, id := range []string{"crash-a", "crash-b"} {
		s.waitJob(id, "2.5 s of output", func(st worker.State) bool { return running(st) && st.Stats.Elapsed >= 2.5 })
	}

	// SIGKILL one job's process: that job fails, the other runs on.
	kids := childrenOf(t, s.proc.cmd.Process.Pid)
	if len(kids) != 2 {
		t.Fatalf("serve has %d job processes, want 2", len(kids))
	}
	// Kill one of them; which job it ran is what fails.
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var dead, alive string
	deadline := time.Now().Add(20 * time.Second)
	for dead == "" {
		for _, id := range []string{"crash-a", "crash-b"} {
			if st := s.job(id); st.State == worker.Failed {
				dead = id
				if !strings.Contains(st.Reason, "signal") {
					t.Errorf("job %s failed with %q, want the signal", id, st.Reason)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no job failed after its process was killed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	alive = map[string]string{"crash-a": "crash-b", "crash-b": "crash-a"}[dead]
	if st := s.job(alive); !running(st) {
		t.Fatalf("the other job %s is %s after its neighbour's crash", alive, st.State)
	}
	if d := playableSeconds(t, s.download(dead, "recording.mp4")); d < 1 {
		t.Errorf("the killed job's recording plays %.1f s", d)
	}
	if d := playableHLSSeconds(t, filepath.Join(data, "jobs", dead, "hls"), hlsCut); d < 1 {
		t.Errorf("the killed job's HLS recording plays %.1f s", d)
	}

	s.waitJob(alive, "4 s of output", func(st worker.State) bool { return running(st) && st.Stats.Elapsed >= 4 })
	// SIGKILL serve itself: its job process notices and finalizes; a new
	// serve on the same data keeps the history and marks the job failed.
	s.proc.cmd.Process.Kill()
	s.proc.wait(t, 10*time.Second)
	time.Sleep(3 * time.Second) // the orphaned job finalizes its outputs
	s.start()
	st := s.job(alive)
	if st.State != worker.Failed || st.Reason != "worker restarted" {
		t.Errorf("job %s after the restart: %s %q, want failed \"worker restarted\"", alive, st.State, st.Reason)
	}
	if st := s.job(dead); st.State != worker.Failed {
		t.Errorf("job %s lost its history: %s", dead, st.State)
	}
	// It had written 4 s when serve died, and finalizes rather than
	// stopping at its last complete fragment.
	if d := playableSeconds(t, s.download(alive, "recording.mp4")); d < 3.9 {
		t.Errorf("the interrupted job's recording plays %.2f s, want all of the 4 s it had written", d)
	}
	// Finalized too: its playlist ends.
	if d := playableHLSSeconds(t, filepath.Join(data, "jobs", alive, "hls"), hlsEnded); d < 3 {
		t.Errorf("the interrupted job's HLS recording plays %.2f s, want the 4 s it had written but for the last segment", d)
	}

	// SIGTERM finalizes a running job and exits 0.
	s.call("POST", "/v1/jobs", small("term-1", "file:long.yaml"), nil)
	s.waitJob("term-1", "2 s of output", func(st worker.State) bool { return running(st) && st.Stats.Elapsed >= 2 })
	s.proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.proc.wait(t, 40*time.Second); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, tail(s.proc.stderr.String(), 2000))
	}
	checkServeLog(t, s.proc.stderr.String(), "term-1")
	s.start()
	if st := s.job("term-1"); st.State != worker.Stopped {
		t.Errorf("job after SIGTERM: %s (%q), want stopped", st.State, st.Reason)
	}
	mp4 := filepath.Join(data, "jobs", "term-1", "recording.mp4")
	if pr := ffprobe(t, mp4); len(pr.Streams) != 2 {
		t.Errorf("the SIGTERM'd job's MP4: %+v", pr.Streams)
	}
}

func TestServePendingWebhookSurvivesRestart(t *testing.T) {
	v := apitest.New(t)
	hooks := &hookReceiver{fail: 1 << 30} // refuses everything until told otherwise
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	data := t.TempDir()
	s := startServe(t, v, data, loopedRoom(t), "--webhook", recv.URL+"/hooks", "--webhook-retries", "4s,4s,4s")
	s.call("POST", "/v1/jobs", map[string]any{"id": "pend-1", "meetingUrl": "file:long.yaml", "record": true, "resolution": map[string]int{"width": 320, "height": 180}}, nil)
	s.waitJob("pend-1", "running", running)
	// The first attempts have failed; their retries wait in the outbox.
	time.Sleep(500 * time.Millisecond)
	s.proc.cmd.Process.Kill()
	s.proc.wait(t, 10*time.Second)
	hooks.mu.Lock()
	hooks.fail = 0
	hooks.mu.Unlock()
	s.start()
	deadline := time.Now().Add(40 * time.Second)
	for !strings.Contains(strings.Join(hooks.types(), ","), "recordingStateUpdated") {
		if time.Now().After(deadline) {
			t.Fatalf("no pending delivery arrived after the restart; got %v", hooks.types())
		}
		time.Sleep(200 * time.Millisecond)
	}
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	if len(hooks.errors) > 0 {
		t.Errorf("receiver errors: %v", hooks.errors)
	}
	if len(hooks.got) == 0 || hooks.got[0]["type"] == nil {
		t.Fatalf("deliveries %v", hooks.got)
	}
}

// checkServeLog checks serve's log, its jobs' processes' lines included:
// slog JSON throughout, and the job's id on every line of a job's work.
func checkServeLog(t *testing.T, log, job string) {
	t.Helper()
	jobLines := 0
	for i, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil {
			t.Errorf("log line %d is not slog JSON: %q", i+1, line)
			continue
		}
		msg, _ := rec["msg"].(string)
		id, _ := rec["job"].(string)
		// Lines only a job's process writes: its outputs and its
		// compositor.
		if (msg == "output opened" || strings.HasPrefix(msg, "compositor:")) && id == "" {
			t.Errorf("a job's log line without its job id: %q", line)
		}
		if id == job {
			jobLines++
		}
	}
	if jobLines < 5 {
		t.Errorf("%d log lines carry job %s, want its process's lines among them", jobLines, job)
	}
}

// slowloris holds a connection to addr open with a header that never ends,
// and fails unless the server closes it within 10 s.
func slowloris(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET /v1/jobs HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		time.Sleep(500 * time.Millisecond)
		if _, err := c.Write([]byte("X")); err != nil {
			t.Logf("closed after %v", time.Since(start))
			return // closed by the server
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		var b [512]byte
		if n, err := c.Read(b[:]); n > 0 || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded)) {
			t.Logf("answered after %v: %q %v", time.Since(start), b[:n], err)
			return // answered (408) or closed
		}
	}
	t.Errorf("a connection sending its headers a byte every 0.5 s was still open after %v", time.Since(start).Round(time.Second))
}
