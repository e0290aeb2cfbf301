package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"encoding/json"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/worker"
)

const token = "s3cret-token"

// memService is a Service kept in memory: the API's own tests exercise the
// transport (auth, bodies, codes, streams, files) against it; the service
// that runs real jobs has its end-to-end tests.
type memService struct {
	mu     sync.Mutex
	dir    string
	jobs   map[string]worker.State
	order  []string
	keys   map[string]string
	events []Event
	notify chan struct{}
	ready  error
}

func newMemService(t *testing.T) *memService {
	return &memService{dir: t.TempDir(), jobs: map[string]worker.State{}, keys: map[string]string{}, notify: make(chan struct{})}
}

func (m *memService) appendEvent(typ string, s worker.State) {
	b, _ := json.Marshal(s)
	m.events = append(m.events, Event{Seq: uint64(len(m.events) + 1), Type: typ, Time: time.Now().UTC(), Data: b})
	close(m.notify)
	m.notify = make(chan struct{})
}

func (m *memService) StartJob(_ context.Context, cfg config.Job, key string) (worker.State, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.keys[key]; ok && key != "" {
		return m.jobs[id], true, nil
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return worker.State{}, false, err
	}
	for _, s := range m.jobs {
		if s.Room == cfg.MeetingURL && s.State == worker.Running {
			return worker.State{}, false, &worker.Error{Code: worker.CodeAlreadyRunning, Message: "recording already runs for " + cfg.MeetingURL}
		}
	}
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("job%d", len(m.jobs)+1)
	}
	now := time.Now().UTC()
	s := worker.State{ID: cfg.ID, State: worker.Running, Room: cfg.MeetingURL, StartedAt: &now,
		RTMPStreaming: worker.RTMPStreaming{Outputs: []worker.RTMPOutput{}}}
	s.Recording.Running = cfg.Record
	m.jobs[cfg.ID] = s
	m.order = append([]string{cfg.ID}, m.order...)
	if key != "" {
		m.keys[key] = cfg.ID
	}
	if err := os.MkdirAll(filepath.Join(m.dir, cfg.ID, "hls"), 0o755); err != nil {
		return s, false, err
	}
	_ = os.WriteFile(filepath.Join(m.dir, cfg.ID, "recording.mp4"), []byte("0123456789"), 0o644)
	_ = os.WriteFile(filepath.Join(m.dir, cfg.ID, "hls", "index.m3u8"), []byte("#EXTM3U\n"), 0o644)
	m.appendEvent("jobStateUpdated", s)
	return s, false, nil
}

func (m *memService) Job(_ context.Context, id string) (worker.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.jobs[id]
	if !ok {
		return s, &Problem{Code: CodeNotFound, Message: "no job " + id}
	}
	return s, nil
}

func (m *memService) Jobs(_ context.Context, f ListFilter) (JobPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var p JobPage
	for _, id := range m.order {
		s := m.jobs[id]
		if (f.State == "" || s.State == f.State) && (f.MeetingURL == "" || s.Room == f.MeetingURL) && len(p.Jobs) < f.Limit {
			p.Jobs = append(p.Jobs, s)
		}
	}
	return p, nil
}

func (m *memService) StopJob(ctx context.Context, id string, wait bool) (worker.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.jobs[id]
	if !ok {
		return s, &Problem{Code: CodeNotFound, Message: "no job " + id}
	}
	s.State = worker.Stopping
	if wait {
		s.State = worker.Stopped
		s.Recording.Running = false
	}
	m.jobs[id] = s
	m.appendEvent("jobStateUpdated", s)
	return s, nil
}

func (m *memService) PatchJob(_ context.Context, id string, p Patch) (worker.State, error) {
	s, err := m.Job(context.Background(), id)
	if err != nil {
		return s, err
	}
	if len(p.AddRTMPURLs) > 3 {
		return s, &config.Error{Problems: []string{"rtmpUrls: at most 3 URLs"}}
	}
	return s, nil
}

func (m *memService) Events(ctx context.Context, id string, after uint64) (<-chan Event, error) {
	if _, err := m.Job(ctx, id); err != nil {
		return nil, err
	}
	ch := make(chan Event)
	go func() {
		defer close(ch)
		next := after + 1
		for {
			m.mu.Lock()
			var todo []Event
			for _, e := range m.events {
				if e.Seq >= next {
					todo = append(todo, e)
				}
			}
			wake := m.notify
			m.mu.Unlock()
			for _, e := range todo {
				select {
				case ch <- e:
					next = e.Seq + 1
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func (m *memService) JobFiles(ctx context.Context, id string) (*os.Root, error) {
	if _, err := m.Job(ctx, id); err != nil {
		return nil, err
	}
	return os.OpenRoot(filepath.Join(m.dir, id))
}

func (m *memService) LiveHLS(ctx context.Context, id string) (http.Handler, error) {
	if _, err := m.Job(ctx, id); err != nil {
		return nil, err
	}
	return nil, &Problem{Code: CodeNotFound, Message: "no live HLS"}
}

func (m *memService) RoomState(_ context.Context, u string) (RoomState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := RoomState{MeetingURL: u}
	for _, id := range m.order {
		if s := m.jobs[id]; s.Room == u {
			rs.Jobs = append(rs.Jobs, id)
			rs.Recording.Running = rs.Recording.Running || s.Recording.Running
		}
	}
	return rs, nil
}

func (m *memService) StopRoom(ctx context.Context, u string) (JobPage, error) {
	p, _ := m.Jobs(ctx, ListFilter{MeetingURL: u, Limit: 100})
	if len(p.Jobs) == 0 {
		return p, &Problem{Code: CodeNotFound, Message: "nothing runs for " + u}
	}
	return p, nil
}

func (m *memService) Deliveries(context.Context, bool) ([]Delivery, error) { return nil, nil }
func (m *memService) RetryDelivery(_ context.Context, id string) (Delivery, error) {
	return Delivery{}, &Problem{Code: CodeNotFound, Message: "no failed delivery " + id}
}
func (m *memService) Ready(context.Context) error { return m.ready }

type client struct {
	t    *testing.T
	base string
	http *http.Client
}

func setup(t *testing.T, opts Options) (*client, *memService, *apitest.Validator) {
	t.Helper()
	svc := newMemService(t)
	tokens, err := ParseTokens(token + ",other-token")
	if err != nil {
		t.Fatal(err)
	}
	opts.Service, opts.Tokens = svc, tokens
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	v := apitest.New(t)
	return &client{t: t, base: srv.URL, http: &http.Client{Transport: v.Transport(t, nil)}}, svc, v
}

func (c *client) do(method, path, body string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (c *client) want(status int, method, path, body string, hdr ...string) []byte {
	c.t.Helper()
	resp, b := c.do(method, path, body, hdr...)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, status)
	}
	return b
}

func problem(t *testing.T, b []byte) Problem {
	t.Helper()
	var p Problem
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	return p
}

func TestEveryRouteButHealthNeedsAToken(t *testing.T) {
	c, _, _ := setup(t, Options{})
	a := New(Options{})
	for _, r := range a.Routes() {
		path := strings.NewReplacer("{id}", "job1", "{path...}", "recording.mp4").Replace(r.Pattern)
		for _, auth := range []string{"", "Bearer wrong-token", "Basic czNjcmV0LXRva2Vu", "Bearer"} {
			resp, b := c.do(r.Method, path, "", "Authorization", auth)
			if r.Public {
				if resp.StatusCode == http.StatusUnauthorized {
					t.Errorf("public %s %s answered 401", r.Method, path)
				}
				continue
			}
			if resp.StatusCode != http.StatusUnauthorized || problem(t, b).Code != CodeUnauthorized {
				t.Errorf("%s %s with %q = %d %s, want 401 UNAUTHORIZED", r.Method, path, auth, resp.StatusCode, b)
			}
		}
	}
	// An unknown route does not tell a stranger it is unknown.
	if resp, _ := c.do("GET", "/v1/nothing", "", "Authorization", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown route without a token = %d, want 401", resp.StatusCode)
	}
}

func TestHealth(t *testing.T) {
	c, svc, _ := setup(t, Options{})
	c.want(200, "GET", "/healthz", "", "Authorization", "")
	c.want(200, "GET", "/readyz", "", "Authorization", "")
	svc.ready = fmt.Errorf("shutting down")
	b := c.want(503, "GET", "/readyz", "", "Authorization", "")
	if !strings.Contains(string(b), "shutting down") {
		t.Errorf("readyz body %s lacks the reason", b)
	}
}

func TestStartJob(t *testing.T) {
	c, _, _ := setup(t, Options{})
	b := c.want(201, "POST", "/v1/jobs", `{"meetingUrl":"demo:","record":true,"resolution":{"width":1280,"height":720}}`)
	var s worker.State
	if err := json.Unmarshal(b, &s); err != nil || s.ID == "" || s.State != worker.Running {
		t.Fatalf("answer %s: %v", b, err)
	}

	// The same idempotency key: the same job, not a second one.
	first := c.want(201, "POST", "/v1/jobs", `{"meetingUrl":"livekit://127.0.0.1:7880/b","record":true}`, "Idempotency-Key", "k-1")
	again := c.want(200, "POST", "/v1/jobs", `{"meetingUrl":"livekit://127.0.0.1:7880/b","record":true}`, "Idempotency-Key", "k-1")
	var s1, s2 worker.State
	_ = json.Unmarshal(first, &s1)
	_ = json.Unmarshal(again, &s2)
	if s1.ID != s2.ID {
		t.Errorf("idempotent start gave %s then %s", s1.ID, s2.ID)
	}

	// The contract's rule: a second start for a room that records.
	p := problem(t, c.want(409, "POST", "/v1/jobs", `{"meetingUrl":"demo:","rtmpUrls":["rtmp://127.0.0.1/live/k"]}`))
	if p.Code != CodeConflictRunning {
		t.Errorf("409 code %s, want %s", p.Code, CodeConflictRunning)
	}

	for _, tc := range []struct {
		name, body string
		fields     []string
	}{
		{"nothing asked", `{"meetingUrl":"livekit://127.0.0.1:7880/c"}`, nil},
		{"unknown field", `{"meetingUrl":"demo:","record":true,"recrod":true}`, []string{"recrod"}},
		{"bad values", `{"meetingUrl":"demo:","record":true,"fps":0.5,"resolution":{"width":1281,"height":720}}`, []string{"fps"}},
		{"bad id", `{"id":"../etc","meetingUrl":"demo:","record":true}`, []string{"id"}},
		{"not an object", `[1,2]`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := problem(t, c.want(422, "POST", "/v1/jobs", tc.body))
			if p.Code != CodeInvalidConfig || p.Message == "" {
				t.Fatalf("problem %+v", p)
			}
			for _, f := range tc.fields {
				found := false
				for _, fp := range p.Fields {
					found = found || fp.Field == f
				}
				if !found {
					t.Errorf("fields %+v do not name %s", p.Fields, f)
				}
			}
		})
	}

	big := `{"meetingUrl":"demo:","record":true,"layout":"` + strings.Repeat("x", MaxBody) + `"}`
	if p := problem(t, c.want(413, "POST", "/v1/jobs", big)); p.Code != CodeTooLarge {
		t.Errorf("413 code %s", p.Code)
	}
}

func TestJobControl(t *testing.T) {
	c, _, _ := setup(t, Options{})
	c.want(201, "POST", "/v1/jobs", `{"id":"j1","meetingUrl":"demo:","record":true}`)
	c.want(201, "POST", "/v1/jobs", `{"id":"j2","meetingUrl":"livekit://127.0.0.1:7880/two","record":true}`)

	var page JobPage
	_ = json.Unmarshal(c.want(200, "GET", "/v1/jobs", ""), &page)
	if len(page.Jobs) != 2 || page.Jobs[0].ID != "j2" {
		t.Errorf("list = %+v, want j2 then j1", page.Jobs)
	}
	_ = json.Unmarshal(c.want(200, "GET", "/v1/jobs?meetingUrl=demo:&state=running&limit=10", ""), &page)
	if len(page.Jobs) != 1 || page.Jobs[0].ID != "j1" {
		t.Errorf("filtered list = %+v, want j1", page.Jobs)
	}
	p := problem(t, c.want(422, "GET", "/v1/jobs?limit=0&state=dancing", ""))
	if p.Code != CodeInvalidQuery || len(p.Fields) != 2 {
		t.Errorf("bad query problem %+v", p)
	}

	c.want(200, "GET", "/v1/jobs/j1", "")
	c.want(404, "GET", "/v1/jobs/nope", "")
	c.want(404, "GET", "/v1/jobs/..%2Fetc", "")

	c.want(200, "PATCH", "/v1/jobs/j1", `{"layout":"speaker"}`)
	if p := problem(t, c.want(422, "PATCH", "/v1/jobs/j1", `{"layuot":"speaker"}`)); len(p.Fields) != 1 || p.Fields[0].Field != "layuot" {
		t.Errorf("patch with an unknown field: %+v", p)
	}
	c.want(422, "PATCH", "/v1/jobs/j1", `{}`)
	if p := problem(t, c.want(422, "PATCH", "/v1/jobs/j1", `{"addRtmpUrls":["rtmp://a/b/1","rtmp://a/b/2","rtmp://a/b/3","rtmp://a/b/4"]}`)); len(p.Fields) != 1 || p.Fields[0].Field != "rtmpUrls" {
		t.Errorf("over the limit: %+v", p)
	}

	var s worker.State
	_ = json.Unmarshal(c.want(202, "DELETE", "/v1/jobs/j1", ""), &s)
	if s.State != worker.Stopping {
		t.Errorf("DELETE answered %s, want stopping", s.State)
	}
	_ = json.Unmarshal(c.want(200, "DELETE", "/v1/jobs/j2?wait=true", ""), &s)
	if s.State != worker.Stopped {
		t.Errorf("DELETE ?wait=true answered %s, want stopped", s.State)
	}
	c.want(422, "DELETE", "/v1/jobs/j2?wait=soon", "")

	var rs RoomState
	_ = json.Unmarshal(c.want(200, "GET", "/v1/rooms/state?meetingUrl=demo:", ""), &rs)
	if len(rs.Jobs) != 1 || rs.Jobs[0] != "j1" {
		t.Errorf("room view %+v", rs)
	}
	c.want(422, "GET", "/v1/rooms/state", "")
	c.want(202, "POST", "/v1/rooms/stop", `{"meetingUrl":"demo:"}`)
	c.want(404, "POST", "/v1/rooms/stop", `{"meetingUrl":"demo:none"}`)
	c.want(422, "POST", "/v1/rooms/stop", `{"room":"demo:"}`)
}

func TestEventsResumeWithLastEventID(t *testing.T) {
	c, svc, _ := setup(t, Options{})
	c.want(201, "POST", "/v1/jobs", `{"id":"j1","meetingUrl":"demo:","record":true}`)
	c.want(202, "DELETE", "/v1/jobs/j1", "")

	read := func(lastID string, n int, during func()) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/jobs/j1/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type %q", ct)
		}
		if during != nil {
			during()
		}
		var ids []string
		sc := bufio.NewScanner(resp.Body)
		var id, typ string
		for sc.Scan() && len(ids) < n {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var e Event
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil || e.Type != typ || len(e.Data) == 0 {
					t.Fatalf("event %s data %s: %v", id, line, err)
				}
				ids = append(ids, id+":"+typ)
			}
		}
		return ids
	}
	if got := read("", 2, nil); strings.Join(got, ",") != "1:jobStateUpdated,2:jobStateUpdated" {
		t.Fatalf("events = %v", got)
	}
	// Resume after 1, while a new event is appended: nothing lost.
	got := read("1", 2, func() {
		svc.mu.Lock()
		svc.appendEvent("recordingStateUpdated", svc.jobs["j1"])
		svc.mu.Unlock()
	})
	if strings.Join(got, ",") != "2:jobStateUpdated,3:recordingStateUpdated" {
		t.Fatalf("resumed events = %v", got)
	}
	c.want(422, "GET", "/v1/jobs/j1/events", "", "Last-Event-ID", "x")
	c.want(404, "GET", "/v1/jobs/none/events", "")
}

func TestFiles(t *testing.T) {
	c, svc, _ := setup(t, Options{})
	c.want(201, "POST", "/v1/jobs", `{"id":"j1","meetingUrl":"demo:","record":true}`)
	// A link out of the job's folder, as a hostile manifest might leave.
	secret := filepath.Join(svc.dir, "secret.txt")
	_ = os.WriteFile(secret, []byte("no"), 0o644)
	if err := os.Symlink(secret, filepath.Join(svc.dir, "j1", "link.mp4")); err != nil {
		t.Fatal(err)
	}

	var list struct{ Files []FileInfo }
	_ = json.Unmarshal(c.want(200, "GET", "/v1/jobs/j1/files", ""), &list)
	if len(list.Files) != 2 || list.Files[0].Path != "hls/index.m3u8" || list.Files[1].Path != "recording.mp4" || list.Files[1].Bytes != 10 {
		t.Errorf("files = %+v, want hls/index.m3u8 and recording.mp4 (no link)", list.Files)
	}
	if b := c.want(200, "GET", "/v1/jobs/j1/files/recording.mp4", ""); string(b) != "0123456789" {
		t.Errorf("file body %q", b)
	}
	resp, b := c.do("GET", "/v1/jobs/j1/files/recording.mp4", "", "Range", "bytes=2-4")
	if resp.StatusCode != 206 || string(b) != "234" || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Errorf("range = %d %q %s", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"link.mp4", "../secret.txt", "..%2Fsecret.txt", "hls/../../secret.txt", "hls", "missing.mp4", "%2Fetc%2Fpasswd"} {
		resp, b := c.do("GET", "/v1/jobs/j1/files/"+p, "")
		if resp.StatusCode != 404 || strings.Contains(string(b), "no\n") || string(b) == "no" {
			t.Errorf("GET files/%s = %d %q, want 404", p, resp.StatusCode, b)
		}
	}
}

func TestMetricsAuth(t *testing.T) {
	m := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "roomcast_up 1\n") })
	c, _, _ := setup(t, Options{Metrics: m})
	c.want(401, "GET", "/metrics", "", "Authorization", "")
	c.want(200, "GET", "/metrics", "")
	pub, _, _ := setup(t, Options{Metrics: m, MetricsPublic: true})
	pub.want(200, "GET", "/metrics", "", "Authorization", "")
}

func TestParseTokens(t *testing.T) {
	if _, err := ParseTokens("short"); err == nil {
		t.Error("a 5-character token was accepted")
	}
	tk, err := ParseTokens(" a-long-token , ,second-token")
	if err != nil || tk.Len() != 2 {
		t.Fatalf("ParseTokens = %d tokens, %v", tk.Len(), err)
	}
	p := filepath.Join(t.TempDir(), "tokens")
	_ = os.WriteFile(p, []byte("# the backend\nfile-token-1\n\nfile-token-2\n"), 0o600)
	ft, err := LoadTokens(p)
	if err != nil || ft.Len() != 2 || tk.Merge(ft).Len() != 4 {
		t.Fatalf("LoadTokens = %d, %v", ft.Len(), err)
	}
}
