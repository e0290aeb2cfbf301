package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/apitest"
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

	var ready struct{ Status string }
	if code := s.call("GET", "/readyz", nil, &ready); code != 200 {
		t.Fatalf("GET /readyz over TLS = %d", code)
	}

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
	_, err := http.Get(s.base + "/readyz")
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
	resp, err := http.Get("http://" + s.addr + "/v1/jobs")
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

	out, errOut, code = run(env, "stop", "tls-1")
	if code != 0 || strings.TrimSpace(out) != "tls-1 stopped" {
		t.Errorf("stop over TLS = %d %q %s", code, out, errOut)
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

	// Real calls meanwhile: each answered, within a functional 2 s.
	var worst time.Duration
	for i := range 10 {
		t0 := time.Now()
		var page api.JobPage
		if code := s.call("GET", "/v1/jobs", nil, &page); code != 200 {
			t.Errorf("GET /v1/jobs under slow clients = %d", code)
		}
		if i == 3 {
			job := map[string]any{"id": "slow-1", "meetingUrl": "file:long.yaml", "record": true, "resolution": map[string]int{"width": 320, "height": 180}}
			if code := s.call("POST", "/v1/jobs", job, nil); code != 201 {
				t.Errorf("POST /v1/jobs under slow clients = %d", code)
			}
		}
		d := time.Since(t0)
		worst = max(worst, d)
		if d > 2*time.Second {
			t.Errorf("call %d took %v under slow clients, want an answer within 2 s", i, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.waitJob("slow-1", "the recording to run", running)
	t.Logf("10 API calls and a job start under %d slow connections: worst %v", slow, worst.Round(time.Millisecond))
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
