package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	roomcast "github.com/roomcast/roomcast"
	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/internal/lktest"
	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
)

// The security rows of docs/reliability.md: TLS, slow clients, secrets in
// what roomcast writes, paths confined to the data root, webhook targets
// from configuration only. Each runs the real serve.

// startServeTLS is startServe serving HTTPS with the certificate tf's CA
// signed; s.http trusts that CA.
func startServeTLS(t *testing.T, v *apitest.Validator, tf rtmptest.TLSFiles, data, rooms string, extra ...string) *serveEnv {
	t.Helper()
	s := &serveEnv{t: t, data: data, rooms: rooms, addr: freeAddr(t)}
	s.base = "https://" + s.addr
	hc, err := api.HTTPClient(tf.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	s.http = &http.Client{Transport: v.Transport(t, hc.Transport), Timeout: 90 * time.Second}
	s.args = append([]string{"serve", "--listen", s.addr, "--data", data, "--rooms-dir", rooms, "--log-level", "debug",
		"--tls-cert", tf.CertFile, "--tls-key", tf.KeyFile}, extra...)
	s.env = append(cleanEnv(), "ROOMCAST_API_TOKENS="+serveToken, "ROOMCAST_WEBHOOK_SECRET="+serveSecret)
	s.proc = startRoomcast(t, s.env, s.args...)
	ready := &http.Client{Transport: hc.Transport, Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := ready.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			s.proc.cmd.Process.Kill()
			s.proc.wait(t, 10*time.Second)
			t.Fatalf("serve over TLS did not become ready: %v\n%s", err, tail(s.proc.stderr.String(), 3000))
		}
	}
}

// TestServeTLS: serve with --tls-cert and --tls-key answers HTTPS; the CLI
// clients trusting the test's CA (ROOMCAST_CA_FILE or --ca-file) start,
// list and stop a job; a client without the CA fails the handshake; plain
// HTTP to the port gets no API answer; the flags come both or neither.
func TestServeTLS(t *testing.T) {
	tf := rtmptest.NewTLS(t)
	v := apitest.New(t)
	s := startServeTLS(t, v, tf, t.TempDir(), loopedRoom(t))

	resp, err := s.http.Get(s.base + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Proto != "HTTP/2.0" || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET /readyz over TLS = %d %s, want 200 over HTTP/2 and TLS 1.2 or later", resp.StatusCode, resp.Proto)
	}
	t.Logf("GET /readyz: %d over %s, %s", resp.StatusCode, resp.Proto, tls.VersionName(resp.TLS.Version))

	env := append(cleanEnv(), "ROOMCAST_SERVER="+s.base, "ROOMCAST_TOKEN="+serveToken, "ROOMCAST_CA_FILE="+tf.CAFile)
	run := func(env []string, args ...string) (string, string, int) {
		t.Helper()
		p := startRoomcast(t, env, args...)
		p.wait(t, 90*time.Second)
		return p.stdout.String(), p.stderr.String(), p.exitCode(t)
	}
	out, errOut, code := run(env, "start", "--room", "file:long.yaml", "--record", "--hls", "--resolution", "320x180", "--id", "tls-1")
	if code != 0 || out != "tls-1\n" {
		t.Fatalf("start over TLS with ROOMCAST_CA_FILE = %d %q %s", code, out, errOut)
	}
	st := s.waitJob("tls-1", "the recording to run", running)
	// The live HLS URL in the state is the node's, and so https://.
	if st.HLSStreaming.URL == nil || !strings.HasPrefix(*st.HLSStreaming.URL, "https://"+s.addr+"/") {
		t.Errorf("hlsStreaming.url = %v, want https://%s/…", st.HLSStreaming.URL, s.addr)
	}
	out, errOut, code = run(env, "list")
	if code != 0 || !strings.Contains(out, "tls-1") {
		t.Errorf("list over TLS = %d %q %s", code, out, errOut)
	}
	// --ca-file instead of the variable.
	flagEnv := append(cleanEnv(), "ROOMCAST_SERVER="+s.base, "ROOMCAST_TOKEN="+serveToken)
	out, errOut, code = run(flagEnv, "status", "tls-1", "--ca-file", tf.CAFile)
	if code != 0 || !strings.Contains(out, "running") {
		t.Errorf("status --ca-file = %d %q %s", code, out, errOut)
	}

	// Without the CA: the handshake fails, and says why.
	_, errOut, code = run(flagEnv, "list")
	if code == 0 || !strings.Contains(errOut, "certificate") {
		t.Errorf("list without the CA = %d %s, want a failure naming the certificate", code, errOut)
	}
	_, err = http.Get(s.base + "/readyz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("GET /readyz with the system's CAs only: %v, want x509.UnknownAuthorityError", err)
	}
	// A CA file that holds no certificate is the flag's error.
	bad := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(bad, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(flagEnv, "list", "--ca-file", bad); code != 2 || !strings.Contains(errOut, "--ca-file") {
		t.Errorf("list --ca-file (no PEM) = %d %s, want 2 naming --ca-file", code, errOut)
	}

	// Plain HTTP to the TLS port: Go's TLS server answers a bare 400 and
	// closes; the API never sees the request.
	resp, err = http.Get("http://" + s.addr + "/v1/jobs")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || strings.Contains(string(b), "tls-1") || strings.Contains(string(b), `"code"`) {
			t.Errorf("plain HTTP to the TLS port = %d %q, want a bare 400", resp.StatusCode, b)
		}
		t.Logf("plain HTTP to the TLS port: %d %q", resp.StatusCode, strings.TrimSpace(string(b)))
	} else {
		t.Logf("plain HTTP to the TLS port: %v", err)
	}
	// And a TLS client that offers TLS 1.1 only is refused.
	pool := x509.NewCertPool()
	if pem, err := os.ReadFile(tf.CAFile); err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatal("reading the CA", err)
	}
	if c, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded, want TLS 1.2 at least")
	}

	// SSE over TLS (HTTP/2): watch follows the job to its end.
	watch := startRoomcast(t, env, "watch", "tls-1")
	time.Sleep(500 * time.Millisecond)
	out, errOut, code = run(env, "stop", "tls-1")
	if code != 0 || strings.TrimSpace(out) != "tls-1 stopped" {
		t.Errorf("stop over TLS = %d %q %s", code, out, errOut)
	}
	if err := watch.wait(t, 30*time.Second); err != nil || !strings.Contains(watch.stdout.String(), "stopped") {
		t.Errorf("watch over TLS = %v\n%s%s", err, watch.stdout.String(), watch.stderr.String())
	}

	// The flags: both or neither, files that load, and TLS is no licence
	// to listen beyond loopback without tokens.
	noTokens := cleanEnv()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", tf.CertFile}, "--tls-key"},
		{[]string{"--tls-key", tf.KeyFile}, "--tls-cert"},
		{[]string{"--tls-cert", tf.KeyFile, "--tls-key", tf.KeyFile}, "--tls-cert"},
		{[]string{"--tls-cert", tf.CertFile, "--tls-key", tf.CertFile + ".missing"}, "--tls-key"},
		{[]string{"--tls-cert", tf.CertFile, "--tls-key", tf.KeyFile, "--listen", "0.0.0.0:" + strings.Split(freeAddr(t), ":")[1]}, "API tokens"},
	} {
		args := append([]string{"serve", "--data", t.TempDir()}, tc.args...)
		_, errOut, code := run(noTokens, args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("roomcast %s = %d %q, want 2 naming %s", strings.Join(args, " "), code, strings.TrimSpace(errOut), tc.want)
		}
	}
}

// TestServeSlowClients holds 200 slow connections against serve, half
// sending a request header a byte at a time and half sending nothing, and
// checks that real API calls are answered meanwhile and that the header
// timeout closes every slow one.
func TestServeSlowClients(t *testing.T) {
	v := apitest.New(t)
	s := startServe(t, v, t.TempDir(), loopedRoom(t))

	const slow = 200
	var closed atomic.Int32
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	closedAt := make([]time.Duration, slow)
	for i := range slow {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			trickle := i%2 == 0
			if trickle {
				_, _ = c.Write([]byte("GET /v1/jobs HTTP/1.1\r\nHost: x\r\n"))
			}
			var b [256]byte
			for ctx.Err() == nil {
				if trickle {
					if _, err := c.Write([]byte("X")); err != nil {
						break
					}
				}
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				if _, err := c.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					break // closed by the server
				} else if err == nil {
					// An answer (400 to a header cut short): the server
					// closes next.
					continue
				}
			}
			if ctx.Err() == nil {
				closedAt[i] = time.Since(start)
				closed.Add(1)
			}
		}()
	}
	t.Logf("%d slow connections open after %v", slow, time.Since(start).Round(time.Millisecond))
	// The descriptors they hold, against serve's limit (Go raises the
	// soft limit to the hard one at start).
	pid := s.proc.cmd.Process.Pid
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		limit := ""
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "Max open files") {
					limit = strings.Join(strings.Fields(l)[3:5], "/")
				}
			}
		}
		t.Logf("serve holds %d descriptors; its open-files limit (soft/hard) is %s", len(fds), limit)
	}

	// Real calls meanwhile: each answered, within a functional 2 s.
	var worst, startTook time.Duration
	for i := range 10 {
		t0 := time.Now()
		var page api.JobPage
		if code := s.call("GET", "/v1/jobs", nil, &page); code != 200 {
			t.Errorf("GET /v1/jobs under slow clients = %d", code)
		}
		d := time.Since(t0)
		worst = max(worst, d)
		if d > 2*time.Second {
			t.Errorf("call %d took %v under slow clients, want an answer within 2 s", i, d)
		}
		if i == 3 {
			// A start forks the job's process: a looser bound.
			t0 := time.Now()
			job := map[string]any{"id": "slow-1", "meetingUrl": "file:long.yaml", "record": true, "resolution": map[string]int{"width": 320, "height": 180}}
			if code := s.call("POST", "/v1/jobs", job, nil); code != 201 {
				t.Errorf("POST /v1/jobs under slow clients = %d", code)
			}
			startTook = time.Since(t0)
			if startTook > 10*time.Second {
				t.Errorf("a job start took %v under slow clients, want it within 10 s", startTook)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Size limits meanwhile: a body over 64 KiB, headers over 16 KiB.
	big := `{"meetingUrl":"demo:","record":true,"id":"` + strings.Repeat("x", 70<<10) + `"}`
	var tooLarge struct{ Code string }
	if code := s.call("POST", "/v1/jobs", big, &tooLarge); code != 413 || tooLarge.Code != "TOO_LARGE" {
		t.Errorf("a 70 KiB body = %d %s, want 413 TOO_LARGE", code, tooLarge.Code)
	}
	req, _ := http.NewRequest("GET", s.base+"/v1/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+serveToken)
	req.Header.Set("X-Padding", strings.Repeat("x", 20<<10))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("20 KiB of headers: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("20 KiB of headers = %d, want 431", resp.StatusCode)
		}
	}
	s.waitJob("slow-1", "the recording to run", running)
	t.Logf("under %d slow connections: 10 lists answered in at most %v, a job start in %v", slow, worst.Round(time.Millisecond), startTook.Round(time.Millisecond))
	wg.Wait()
	var last time.Duration
	for _, d := range closedAt {
		last = max(last, d)
	}
	t.Logf("%d of %d slow connections closed by serve, the last after %v", closed.Load(), slow, last.Round(100*time.Millisecond))
	if closed.Load() != slow {
		t.Errorf("%d of %d slow connections were still open after 15 s; the header timeout is 5 s", slow-int(closed.Load()), slow)
	}
	s.call("DELETE", "/v1/jobs/slow-1?wait=true", nil, nil)
	if st := s.job("slow-1"); st.State != worker.Stopped {
		t.Errorf("slow-1 ended %s", st.State)
	}
}

// leakHunt collects what roomcast wrote or answered, by name, and fails the
// test for each secret found in any of it.
type leakHunt struct {
	mu        sync.Mutex
	artifacts []leakArtifact
}

type leakArtifact struct {
	name string
	text string
	// allowed are secrets this artifact must hold to do its work.
	allowed []string
}

func (h *leakHunt) add(name, text string, allowed ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.artifacts = append(h.artifacts, leakArtifact{name, text, allowed})
}

// check greps every artifact for every secret; secrets maps a secret's
// description to its text.
func (h *leakHunt) check(t *testing.T, secrets map[string]string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	bytes := 0
	for _, a := range h.artifacts {
		bytes += len(a.text)
		for what, sec := range secrets {
			if slices.Contains(a.allowed, sec) {
				continue
			}
			if i := strings.Index(a.text, sec); i >= 0 {
				from, to := max(0, i-120), min(len(a.text), i+len(sec)+60)
				t.Errorf("%s leaks %s: …%s…", a.name, what, a.text[from:to])
			}
		}
		if m := jwtPattern.FindString(a.text); m != "" && !slices.Contains(a.allowed, "jwt") {
			t.Errorf("%s holds a JWT (an access token minted from the LiveKit secret): %.60s…", a.name, m)
		}
	}
	t.Logf("searched %d artifacts, %d KiB, for %d secrets", len(h.artifacts), bytes>>10, len(secrets))
}

var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.`)

// rawHooks keeps each webhook body as received, then lets hookReceiver
// verify and record it.
type rawHooks struct {
	hookReceiver
	raw []string
}

func (h *rawHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var hdr strings.Builder
	_ = r.Header.Write(&hdr)
	h.mu.Lock()
	h.raw = append(h.raw, r.Method+" "+r.URL.String()+"\n"+hdr.String()+"\n"+string(b))
	h.mu.Unlock()
	r.Body = io.NopCloser(strings.NewReader(string(b)))
	h.hookReceiver.ServeHTTP(w, r)
}

// TestServeSecretsNeverLeak runs a job with every output through serve (a
// LiveKit room with its own API key and secret and a publishing peer, the
// recording, live HLS, the HLS recording, thumbnails, tracks, two RTMP
// ingests on nginx-rtmp and a third where nothing listens), with API tokens
// and a signed webhook, makes a few calls fail, and then looks for every
// secret in everything roomcast wrote or answered: serve's log and its
// job's, every state, list, event and SSE stream, every webhook received,
// every error body, /metrics, and every file under --data.
func TestServeSecretsNeverLeak(t *testing.T) {
	const (
		lkKey      = "APIleakKeyQ7w2Zr"
		lkSecret   = "leakSecretVb93Kd0qLmT5xYp2NwE8sJ6hGfRcZa41"
		token2     = "tok-second-Hq3Lw9Xe"
		wrongToken = "tok-wrong-Pz8Kc2Vb"
		key1       = "sk-live-one-R2d9Lq"
		key2       = "sk-live-two-M7x4Wt"
		key3       = "sk-dead-three-J5n8Yc"
		key4       = "sk-refused-four-T3g6Ue"
		urlPass    = "urlpass-Ns4Qe7Kd"
		rtmpPass   = "rtmppass-Fw6Zt1Ho"
	)
	secrets := map[string]string{
		"the LiveKit API key": lkKey, "the LiveKit API secret": lkSecret,
		"API token 1": serveToken, "API token 2": token2, "a wrong token a client sent": wrongToken,
		"the webhook secret": serveSecret, "the webhook secret's key": strings.TrimPrefix(serveSecret, "whsec_"),
		"stream key 1": key1, "stream key 2": key2, "stream key 3 (dead ingest)": key3, "stream key 4 (refused URL)": key4,
		"a password in a refused meetingUrl": urlPass, "a password in a refused RTMP URL": rtmpPass,
	}

	lk, err := lktest.New(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	lk.Key, lk.Secret = lkKey, lkSecret
	if err := lk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.Kill)
	lkEnv := append(cleanEnv(), "LIVEKIT_API_KEY="+lkKey, "LIVEKIT_API_SECRET="+lkSecret)
	pub := startRoomcast(t, lkEnv, "publish", "--room", lk.URL("leaks"), "--identity", "alice",
		"--media", filepath.Join(repoRoot(t), "testdata", "peers", "alice.webm"), "--loop")
	_ = pub

	nginx := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	hooks := &rawHooks{}
	recv := httptest.NewServer(hooks)
	defer recv.Close()

	v := apitest.New(t)
	s := &serveEnv{t: t, data: t.TempDir(), rooms: loopedRoom(t), addr: freeAddr(t)}
	s.base = "http://" + s.addr
	s.http = &http.Client{Transport: v.Transport(t, nil), Timeout: 90 * time.Second}
	s.args = []string{"serve", "--listen", s.addr, "--data", s.data, "--rooms-dir", s.rooms, "--log-level", "debug",
		"--webhook", recv.URL + "/hooks", "--webhook-retries", "200ms"}
	s.env = append(lkEnv, "ROOMCAST_API_TOKENS="+serveToken+","+token2, "ROOMCAST_WEBHOOK_SECRET="+serveSecret)
	s.start()

	var h leakHunt
	// raw makes a call and keeps its answer as an artifact.
	raw := func(method, path, token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var hdr strings.Builder
		_ = resp.Header.Write(&hdr)
		h.add(fmt.Sprintf("the answer to %s %s (%d)", method, path, resp.StatusCode), hdr.String()+string(b))
		return resp.StatusCode, string(b)
	}

	ingest := fmt.Sprintf("rtmp://127.0.0.1:%d/live/", nginx.Port)
	job := map[string]any{
		"id": "leak-1", "meetingUrl": lk.URL("leaks"), "record": true, "hls": true, "hlsRecord": true,
		"rtmpUrls":   []string{ingest + key1, ingest + key2, "rtmp://" + freeAddr(t) + "/live/" + key3},
		"thumbnails": "1s", "tracks": true, "resolution": map[string]int{"width": 320, "height": 180},
	}
	jb, _ := json.Marshal(job)
	if code, body := raw("POST", "/v1/jobs", token2, string(jb)); code != 201 {
		t.Fatalf("POST the job = %d %s", code, body)
	}
	s.waitJob("leak-1", "4 s recorded, the peer seen, both ingests running and the dead one retrying", func(st worker.State) bool {
		o := st.RTMPStreaming.Outputs
		return running(st) && st.Stats.Elapsed >= 4 && st.Peers >= 1 && len(o) == 3 && o[0].Running && o[1].Running && o[2].Retries >= 1
	})

	// The job's process: its command line and environment hold the
	// room's credentials (it joins with them) but neither the API tokens
	// nor the webhook secret, which only serve uses.
	kids := childrenOf(t, s.proc.cmd.Process.Pid)
	if len(kids) == 0 {
		t.Fatal("serve has no job process")
	}
	for _, pid := range kids {
		for _, f := range []string{"cmdline", "environ"} {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
			if err != nil {
				t.Fatal(err)
			}
			h.add(fmt.Sprintf("the job process's %s", f), strings.ReplaceAll(string(b), "\x00", "\n"), lkKey, lkSecret)
		}
	}

	// Calls that fail, each with a secret in what it sent.
	for _, c := range []struct{ method, path, token, body string }{
		{"GET", "/v1/jobs", wrongToken, ""},
		{"GET", "/v1/jobs/leak-1", "", ""},
		{"POST", "/v1/jobs", serveToken, `{"meetingUrl":"demo:","record":true,"rtmpUrls":["rtmp://bot:` + rtmpPass + `@127.0.0.1/live/` + key4 + `"]}`},
		{"POST", "/v1/jobs", serveToken, `{"meetingUrl":"demo:","record":true,"rtmpUrls":["rtmpx://127.0.0.1/live/` + key4 + `"]}`},
		{"POST", "/v1/jobs", serveToken, `{"meetingUrl":"demo:","record":true,"rtmpUrls":["rtmp://127.0.0.1/live/` + key4 + `","rtmp://a/b/` + key4 + `","rtmp://a/b/c","rtmp://a/b/d"]}`},
		{"POST", "/v1/jobs", serveToken, `{"meetingUrl":"livekit://alice:` + urlPass + `@127.0.0.1:7880/leaks","record":true}`},
		{"POST", "/v1/jobs", serveToken, `{"meetingUrl":"` + lk.URL("leaks") + `","record":true,"rtmpUrls":["rtmp://127.0.0.1/live/` + key4 + `"]}`},
		{"PATCH", "/v1/jobs/leak-1", serveToken, `{"addRtmpUrls":["rtmp//127.0.0.1/live/` + key4 + `"]}`},
		{"PATCH", "/v1/jobs/leak-1", serveToken, `{"layout":"nonesuch"}`},
	} {
		code, body := raw(c.method, c.path, c.token, c.body)
		t.Logf("%s %s → %d %s", c.method, c.path, code, strings.TrimSpace(body))
		if code < 400 {
			t.Errorf("%s %s %s = %d, want a refusal", c.method, c.path, c.body, code)
		}
	}
	// A refused RTMP URL's problem names which, with its key masked.
	if code, body := raw("POST", "/v1/jobs", serveToken, `{"meetingUrl":"demo:","record":true,"rtmpUrls":["rtmp://a/live/k","rtmpx://127.0.0.1/live/`+key4+`"]}`); code != 422 || !strings.Contains(body, `"field":"rtmpUrls[1]"`) {
		t.Errorf("a bad second RTMP URL = %d %s, want 422 naming rtmpUrls[1]", code, body)
	}
	// What a client reads while the job runs.
	raw("GET", "/v1/jobs/leak-1", serveToken, "")
	raw("GET", "/v1/jobs", serveToken, "")
	raw("GET", "/v1/rooms/state?meetingUrl="+url.QueryEscape(lk.URL("leaks")), serveToken, "")
	raw("GET", "/metrics", serveToken, "")
	raw("GET", "/v1/jobs/leak-1/files", serveToken, "")
	raw("GET", "/v1/nodes", serveToken, "")
	if code, body := raw("GET", "/hls/leak-1/index.m3u8", serveToken, ""); code == 200 {
		for _, line := range strings.Split(body, "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				raw("GET", "/hls/leak-1/"+line, serveToken, "")
			}
		}
	}

	raw("DELETE", "/v1/jobs/leak-1?wait=true", serveToken, "")
	final := s.waitJob("leak-1", "stopped", func(st worker.State) bool { return st.State == worker.Stopped })
	if final.Recording.Bytes == 0 || len(final.Tracks) == 0 || final.Thumbnails == nil {
		t.Errorf("the job did not write every output: recording %d bytes, %d tracks, thumbnails %+v", final.Recording.Bytes, len(final.Tracks), final.Thumbnails)
	}
	raw("GET", "/v1/jobs/leak-1", serveToken, "")
	raw("GET", "/metrics", serveToken, "")
	raw("GET", "/v1/webhooks/deliveries", serveToken, "")
	// The whole event stream, through stopped.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", s.base+"/v1/jobs/leak-1/events", nil)
	req.Header.Set("Authorization", "Bearer "+serveToken)
	if resp, err := s.http.Do(req); err == nil {
		var sse strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			sse.Write(buf[:n])
			if err != nil || strings.Contains(sse.String(), `"state":"stopped"`) && strings.Contains(string(buf[:n]), "\n\n") {
				break
			}
		}
		resp.Body.Close()
		h.add("the SSE event stream", sse.String())
	}
	cancel()
	// Every webhook, once the last (stopped) has come.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		hooks.mu.Lock()
		done := len(hooks.raw) > 0 && strings.Contains(hooks.raw[len(hooks.raw)-1], `"state":"stopped"`)
		hooks.mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
	}
	hooks.mu.Lock()
	for i, b := range hooks.raw {
		h.add(fmt.Sprintf("webhook %d", i+1), b)
	}
	if len(hooks.errors) > 0 {
		t.Errorf("webhook receiver: %v", hooks.errors)
	}
	nHooks := len(hooks.raw)
	hooks.mu.Unlock()

	// serve's log, its job's process's lines included, once it has exited.
	_ = s.proc.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.proc.wait(t, 60*time.Second); err != nil {
		t.Errorf("serve exited with %v", err)
	}
	h.add("serve's log (stderr, with the job's)", s.proc.stderr.String())
	h.add("serve's stdout", s.proc.stdout.String())

	// Every file under --data. The store (nats/) must keep each job's
	// config, its RTMP URLs with their keys, to restart or move the job:
	// only the stream keys are allowed there.
	files, storeHasKey := 0, false
	err = filepath.WalkDir(s.data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.data, p)
		var allowed []string
		if strings.HasPrefix(rel, "nats"+string(filepath.Separator)) {
			allowed = []string{key1, key2, key3}
			storeHasKey = storeHasKey || strings.Contains(string(b), key1)
		}
		h.add(rel, string(b), allowed...)
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The control: the store holds the job's config, so a search that
	// finds stream key 1 nowhere there is blind.
	if !storeHasKey {
		t.Error("stream key 1 is nowhere in the store under nats/, where the job's config keeps it: the search reads nothing")
	}
	t.Logf("the job: %.1f s recorded, %d tracks, %d webhooks; %d files under --data", final.Stats.Elapsed, len(final.Tracks), nHooks, files)
	h.check(t, secrets)
}

// TestServePathsConfined: no request and no manifest makes serve write
// outside --data or read media outside --rooms-dir. Job ids with "..", "/"
// or an absolute path; file rooms outside the rooms folder by "..", an
// absolute path or a symlink; manifests in it whose media lie outside by
// the same three ways; file downloads by "..", an encoded "%2e%2e" and a
// symlink planted in the job's folder.
func TestServePathsConfined(t *testing.T) {
	v := apitest.New(t)
	data, rooms, outside := t.TempDir(), loopedRoom(t), t.TempDir()
	clip := filepath.Join(repoRoot(t), "testdata", "peers", "alice.webm")
	b, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	secretMedia := filepath.Join(outside, "private.webm")
	if err := os.WriteFile(secretMedia, b, 0o644); err != nil {
		t.Fatal(err)
	}
	secretText := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secretText, []byte("outside-the-data-root\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "room.yaml"), []byte("peers:\n  - name: eve\n    media: private.webm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	up, err := filepath.Rel(rooms, secretMedia)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, media string) {
		if err := os.WriteFile(filepath.Join(rooms, name), []byte("peers:\n  - name: eve\n    media: "+media+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("media-dotdot.yaml", up)
	write("media-abs.yaml", secretMedia)
	write("media-link.yaml", "link.webm")
	write("media-linkdir.yaml", "linked/private.webm")
	for link, target := range map[string]string{"link.webm": secretMedia, "linked": outside, "room-link.yaml": filepath.Join(outside, "room.yaml")} {
		if err := os.Symlink(target, filepath.Join(rooms, link)); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadDir(outside)

	s := startServe(t, v, data, rooms)
	var p struct {
		Code   string
		Fields []struct{ Field string }
	}
	small := map[string]int{"width": 320, "height": 180}
	// Refused at the door: 422 naming the field.
	for _, tc := range []struct {
		name, id, room, field string
	}{
		{"id ..", "..", "file:long.yaml", "id"},
		{"id ../x", "../escape", "file:long.yaml", "id"},
		{"id with /", "a/b", "file:long.yaml", "id"},
		{"absolute id", "/tmp/x", "file:long.yaml", "id"},
		{"id %2e%2e", "%2e%2e", "file:long.yaml", "id"},
		{"room by ..", "", "file:../" + filepath.Base(outside) + "/room.yaml", "meetingUrl"},
		{"room by a longer ..", "", "file:sub/../../room.yaml", "meetingUrl"},
		{"absolute room", "", "file:" + filepath.Join(outside, "room.yaml"), "meetingUrl"},
		{"room through a symlink", "", "file:room-link.yaml", "meetingUrl"},
		{"room /etc/passwd", "", "file:/etc/passwd.yaml", "meetingUrl"},
	} {
		job := map[string]any{"meetingUrl": tc.room, "record": true, "resolution": small}
		if tc.id != "" {
			job["id"] = tc.id
		}
		p.Code, p.Fields = "", nil
		code := s.call("POST", "/v1/jobs", job, &p)
		named := slices.ContainsFunc(p.Fields, func(f struct{ Field string }) bool { return f.Field == tc.field })
		if code != 422 || !named {
			t.Errorf("%s: POST = %d %s %+v, want 422 naming %s", tc.name, code, p.Code, p.Fields, tc.field)
		}
	}
	// Admitted (the manifest lies in the folder) but its media does not:
	// the job's process refuses to open it, the start answers 422 naming
	// meetingUrl, and the job's record says why it failed.
	for i, m := range []string{"media-dotdot.yaml", "media-abs.yaml", "media-link.yaml", "media-linkdir.yaml"} {
		id := fmt.Sprintf("media-%d", i)
		var refusal struct {
			Code, Message string
			Fields        []struct{ Field string }
		}
		code := s.call("POST", "/v1/jobs", map[string]any{"id": id, "meetingUrl": "file:" + m, "record": true, "resolution": small}, &refusal)
		named := slices.ContainsFunc(refusal.Fields, func(f struct{ Field string }) bool { return f.Field == "meetingUrl" })
		if code != 422 || refusal.Code != "INVALID_CONFIG" || !named || !strings.Contains(refusal.Message, "outside the rooms folder") {
			t.Errorf("%s: POST = %d %s %+v %q, want 422 INVALID_CONFIG naming meetingUrl: media outside the rooms folder", m, code, refusal.Code, refusal.Fields, refusal.Message)
		}
		st := s.waitJob(id, "the job to end", func(st worker.State) bool { return st.State == worker.Stopped || st.State == worker.Failed })
		if st.State != worker.Failed || st.Recording.Bytes > 0 {
			t.Errorf("%s: job ended %s with %d bytes recorded, want failed with none", m, st.State, st.Recording.Bytes)
		}
		t.Logf("%s: POST %d %s: %s", m, code, refusal.Code, refusal.Message)
	}

	// A job that runs, and its files.
	if code := s.call("POST", "/v1/jobs", map[string]any{"id": "ok-1", "meetingUrl": "file:long.yaml", "record": true, "resolution": small}, nil); code != 201 {
		t.Fatalf("the good job = %d", code)
	}
	s.waitJob("ok-1", "the recording to run", running)
	jobDir := filepath.Join(data, "jobs", "ok-1")
	if err := os.Symlink(secretText, filepath.Join(jobDir, "planted.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(jobDir, "planted-dir")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		"../../../" + filepath.Base(outside) + "/secret.txt", "..%2F..%2Fnats", "%2e%2e/%2e%2e/nats", "%2e%2e%2f%2e%2e%2fnats",
		"planted.txt", "planted-dir/secret.txt", "%2Fetc%2Fpasswd", "..%5C..%5Csecret.txt",
	} {
		req, _ := http.NewRequest("GET", s.base+"/v1/jobs/ok-1/files/"+path, nil)
		req.Header.Set("Authorization", "Bearer "+serveToken)
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(body), "outside-the-data-root") || strings.Contains(string(body), "root:") {
			t.Errorf("GET files/%s = %d %.80q, want a refusal", path, resp.StatusCode, body)
		}
	}
	var list struct{ Files []struct{ Path string } }
	s.call("GET", "/v1/jobs/ok-1/files", nil, &list)
	for _, f := range list.Files {
		if strings.HasPrefix(f.Path, "planted") {
			t.Errorf("the file list shows the planted link %s", f.Path)
		}
	}
	for _, path := range []string{"/v1/jobs/..%2F..%2Fetc", "/v1/jobs/%2e%2e", "/v1/jobs/%2Ftmp"} {
		if code := s.call("GET", path, nil, nil); code != 404 && code != 422 {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	s.call("DELETE", "/v1/jobs/ok-1?wait=true", nil, nil)

	// Nothing was written outside --data: the outside folder is as it
	// was, and every job's folder lies under data/jobs.
	after, _ := os.ReadDir(outside)
	if len(after) != len(before) {
		t.Errorf("the outside folder has %d entries, had %d", len(after), len(before))
	}
	dirs, _ := os.ReadDir(filepath.Join(data, "jobs"))
	var names []string
	for _, d := range dirs {
		names = append(names, d.Name())
	}
	t.Logf("job folders under data/jobs: %v", names)
	for _, n := range names {
		if !strings.HasPrefix(n, "media-") && n != "ok-1" {
			t.Errorf("an unexpected job folder %s", n)
		}
	}
}

// TestServeWebhookTargetsFromConfigOnly: no request body can name a
// webhook target. The API's schema has no such field in any body, and the
// real serve refuses a job config or patch that tries one, 422 naming the
// field; the webhooks still go only to --webhook.
func TestServeWebhookTargetsFromConfigOnly(t *testing.T) {
	// Every property of every request body in the API's schema, $refs
	// followed: the only URLs a caller gives are the room and the RTMP
	// ingests.
	var doc map[string]any
	if err := json.Unmarshal(roomcast.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var props []string
	seen := map[string]bool{}
	var walk func(path string, s any)
	walk = func(path string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			if l, ok := s.([]any); ok {
				for _, e := range l {
					walk(path, e)
				}
			}
			return
		}
		if ref, ok := m["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/components/schemas/")
			if !seen[name] {
				seen[name] = true
				walk(name, schemas[name])
			}
			return
		}
		for k, v := range m {
			switch k {
			case "properties":
				for name, ps := range v.(map[string]any) {
					props = append(props, path+"."+name)
					walk(path+"."+name, ps)
				}
			case "example", "examples", "description":
			default:
				walk(path, v)
			}
		}
	}
	bodies := 0
	for route, ops := range doc["paths"].(map[string]any) {
		for method, op := range ops.(map[string]any) {
			o, ok := op.(map[string]any)
			if !ok || o["requestBody"] == nil {
				continue
			}
			bodies++
			walk(strings.ToUpper(method)+" "+route, o["requestBody"])
		}
	}
	for _, p := range props {
		if strings.HasSuffix(p, "UploadTarget.url") || strings.HasSuffix(p, "UploadConfig.url") {
			continue // an s3:// bucket the job writes to (config refuses any other scheme), not a target it calls
		}
		name := strings.ToLower(p[strings.LastIndexByte(p, '.')+1:])
		if strings.Contains(name, "webhook") || strings.Contains(name, "hook") || strings.Contains(name, "callback") ||
			(strings.Contains(name, "url") && !slices.Contains([]string{"meetingurl", "rtmpurls", "addrtmpurls", "removertmpurls"}, name)) {
			t.Errorf("request body property %s could name a target", p)
		}
	}
	t.Logf("%d request bodies, %d properties: none names a webhook", bodies, len(props))

	hooks := &hookReceiver{}
	recv := httptest.NewServer(hooks)
	defer recv.Close()
	var other atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { other.Add(1) }))
	defer elsewhere.Close()
	v := apitest.New(t)
	s := startServe(t, v, t.TempDir(), loopedRoom(t), "--webhook", recv.URL+"/hooks")
	var p struct {
		Code   string
		Fields []struct{ Field string }
	}
	small := map[string]int{"width": 320, "height": 180}
	for _, field := range []string{"webhook", "webhooks", "webhookUrl", "webhookUrls", "callbackUrl"} {
		p.Code, p.Fields = "", nil
		job := map[string]any{"meetingUrl": "file:long.yaml", "record": true, "resolution": small, field: elsewhere.URL}
		code := s.call("POST", "/v1/jobs", job, &p)
		if code != 422 || !slices.ContainsFunc(p.Fields, func(f struct{ Field string }) bool { return f.Field == field }) {
			t.Errorf("POST a job with %q = %d %s %+v, want 422 naming it", field, code, p.Code, p.Fields)
		}
	}
	if code := s.call("POST", "/v1/jobs", map[string]any{"id": "wh-1", "meetingUrl": "file:long.yaml", "record": true, "resolution": small}, nil); code != 201 {
		t.Fatalf("POST the job = %d", code)
	}
	for _, field := range []string{"webhook", "webhooks"} {
		p.Code, p.Fields = "", nil
		code := s.call("PATCH", "/v1/jobs/wh-1", map[string]any{field: elsewhere.URL}, &p)
		if code != 422 || !slices.ContainsFunc(p.Fields, func(f struct{ Field string }) bool { return f.Field == field }) {
			t.Errorf("PATCH with %q = %d %s %+v, want 422 naming it", field, code, p.Code, p.Fields)
		}
	}
	s.waitJob("wh-1", "the recording to run", running)
	s.call("DELETE", "/v1/jobs/wh-1?wait=true", nil, nil)
	for deadline := time.Now().Add(20 * time.Second); len(hooks.types()) < 3 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(hooks.types()); n < 3 || other.Load() != 0 {
		t.Errorf("webhooks: %d to --webhook, %d elsewhere; want them all at --webhook", n, other.Load())
	}
}

// TestDockerfileRunsAsNonRoot reads the Dockerfile (no docker here, and the
// image is not built in CI): its final stage switches to a user that is
// not root, created in that stage, and the entrypoint binary is installed
// where that user can run it.
func TestDockerfileRunsAsNonRoot(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Instructions, continuation lines joined, of the last FROM's stage.
	joined := strings.ReplaceAll(string(b), "\\\n", " ")
	var stage []string
	for _, line := range strings.Split(joined, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stage = nil
		}
		stage = append(stage, line)
	}
	var user, entry string
	var created, copied []string
	for _, ins := range stage {
		f := strings.Fields(ins)
		switch strings.ToUpper(f[0]) {
		case "USER":
			user = f[1]
		case "ENTRYPOINT":
			var argv []string
			if err := json.Unmarshal([]byte(strings.TrimSpace(ins[len(f[0]):])), &argv); err != nil || len(argv) == 0 {
				t.Fatalf("ENTRYPOINT %q: want the exec form, [\"binary\", …]", ins)
			}
			entry = argv[0]
		case "RUN":
			if i := slices.Index(f, "useradd"); i >= 0 {
				// the name is the last word of the useradd command
				rest := f[i+1:]
				if j := slices.Index(rest, "&&"); j >= 0 {
					rest = rest[:j]
				}
				created = append(created, rest[len(rest)-1])
			}
		case "COPY":
			if len(f) >= 3 {
				dst := f[len(f)-1]
				for _, src := range f[1 : len(f)-1] {
					if strings.HasPrefix(src, "--") {
						continue
					}
					if strings.HasSuffix(dst, "/") {
						copied = append(copied, dst+filepath.Base(src))
					} else {
						copied = append(copied, dst)
					}
				}
			}
		}
	}
	name := strings.Split(user, ":")[0]
	if name == "" || name == "root" || name == "0" {
		t.Fatalf("the final stage's USER is %q: the image would run as root", user)
	}
	if !slices.Contains(created, name) {
		t.Errorf("USER %s is not created in the final stage (useradd …: %v)", name, created)
	}
	// The entrypoint: a bare name found on the image's PATH, in a folder
	// every user may read and run from, copied there by the build.
	path := entry
	if !strings.Contains(entry, "/") {
		path = "/usr/local/bin/" + entry
	}
	if !slices.Contains(copied, path) {
		t.Errorf("ENTRYPOINT %s: not installed at %s by a COPY (copied: %v)", entry, path, copied)
	}
	if !strings.HasPrefix(path, "/usr/local/bin/") && !strings.HasPrefix(path, "/usr/bin/") {
		t.Errorf("ENTRYPOINT %s lies outside /usr/local/bin and /usr/bin, where a non-root user may not run it", path)
	}
	t.Logf("final stage: USER %s (created there), ENTRYPOINT %s installed at %s", user, entry, path)
}

// TestJanusPINNeverLeaks: a Janus room's PIN, given as JANUS_ROOM_PIN, is
// nowhere in what a job writes: its log (debug), status.json, the HLS
// recording's playlists, tracks/room.yaml, any file. The job runs as
// `record` inside Janus's network namespace (serve's jobs are the same
// code in a job process; serve itself cannot be reached from outside the
// namespace).
func TestJanusPINNeverLeaks(t *testing.T) {
	const pin = "pin-leak-Ud5Wq8Rs"
	s := startJanusServer(t)
	url := janusRoom(t, s, janustest.Room{ID: 5151, Pin: pin})
	nsEnv := func(args ...string) *proc {
		t.Helper()
		p := &proc{cmd: s.NS.Command(binPath, args...), done: make(chan error, 1)}
		p.cmd.Dir = repoRoot(t)
		p.cmd.Env = append(cleanEnv(), "JANUS_ROOM_PIN="+pin)
		p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.done <- p.cmd.Wait() }()
		t.Cleanup(p.stop)
		return p
	}
	nsEnv("publish", "--room", url, "--identity", "alice", "--media", filepath.Join(repoRoot(t), "testdata", "peers", "alice.webm"), "--loop")
	time.Sleep(time.Second)
	out := t.TempDir()
	rec := nsEnv("record", "--room", url, "--record", "--hls-record", "--tracks", "--thumbnails", "1s",
		"--resolution", "320x180", "--duration", "4s", "--out", out, "--log-level", "debug")
	if err := rec.wait(t, 60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	st := readStatus(t, out)
	if st.State != worker.Stopped || st.Peers < 1 {
		t.Fatalf("the job ended %s with %d peers, want stopped with alice", st.State, st.Peers)
	}
	var h leakHunt
	h.add("record's log (stderr)", rec.stderr.String())
	h.add("record's stdout", rec.stdout.String())
	files := 0
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		h.add(rel, string(b))
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%.1f s recorded of a PIN-protected Janus room, %d peers; %d files", st.Stats.Elapsed, st.Peers, files)
	h.check(t, map[string]string{"the Janus room PIN": pin})
}
