package rtmp

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
)

// openExpectingError opens a sink that cannot publish and returns the first
// reported error and how long after Open's start it came.
func openExpectingError(t *testing.T, url string, src *rtmptest.Source, mod func(*Options)) (time.Duration, error) {
	t.Helper()
	s, _ := newSink(t, url, mod)
	t.Cleanup(func() { s.Close() })
	states := newStateLog(t)
	start := time.Now()
	if err := s.Open(context.Background(), src.Info, states); err != nil {
		t.Fatalf("Open should report, not fail: %v", err)
	}
	if _, ok := states.firstErr(); !ok {
		// Some servers confirm the publish and only then hang up (nginx's
		// "deny publish"): the sink sees it while writing.
		if err := feed(t, s, src, 0, time.Hour, true); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	st, ok := states.firstErr()
	if !ok {
		t.Fatalf("no error reported: %+v", states.all())
	}
	if st.Running {
		t.Errorf("reported running with an error")
	}
	if last, _ := states.last(); last.Running {
		t.Errorf("running at the end: %+v", states.all())
	}
	return st.at.Sub(start), st.Err
}

// TestConnectErrors: every way the first connection can fail is reported
// within the connect timeout (5 s), worded after what happened, with the
// server's own message when it sent one.
func TestConnectErrors(t *testing.T) {
	t.Parallel()
	src := rtmptest.Encode(t, 1, testW, testH, testFPS)

	deny := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "forbidden key", http.StatusForbidden)
	}))
	t.Cleanup(deny.Close)
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{Apps: fmt.Sprintf(`
    application deny { live on; allow publish 10.0.0.1; deny publish all; }
    application hook { live on; on_publish %s/auth; }
`, deny.URL)})

	// A server that accepts TCP and never answers the handshake.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	// Something already publishes this key on nginx: nginx answers a second
	// publisher with onStatus NetStream.Publish.BadName "Already publishing".
	busyURL := fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, testKey)
	first, _ := newSink(t, busyURL, nil)
	if err := first.Open(context.Background(), src.Info, newStateLog(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })

	certs := rtmptest.NewTLS(t)
	tlsNginx := rtmptest.StartNginx(t, rtmptest.NginxConfig{CertFile: certs.CertFile, KeyFile: certs.KeyFile})

	tests := []struct {
		name  string
		url   string
		mod   func(*Options)
		want  []string // substrings of the error
		under time.Duration
	}{
		{name: "nothing listening", url: fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", rtmptest.FreePort(t), testKey),
			want: []string{"connection refused"}, under: time.Second},
		{name: "silent server", url: fmt.Sprintf("rtmp://%s/live/%s", silent.Addr(), testKey),
			mod:  func(o *Options) { o.ConnectTimeout = 700 * time.Millisecond },
			want: []string{"no answer within 700ms"}, under: 2 * time.Second},
		{name: "silent server default timeout", url: fmt.Sprintf("rtmp://%s/live/%s", silent.Addr(), testKey),
			want: []string{"no answer within 5s"}, under: 5500 * time.Millisecond},
		{name: "publish denied by access rule", url: fmt.Sprintf("rtmp://127.0.0.1:%d/deny/%s", ng.Port, testKey),
			want: []string{"server closed the connection", "after the publish started (stream key or app refused?)"}, under: 5 * time.Second},
		{name: "publish denied by on_publish 403", url: fmt.Sprintf("rtmp://127.0.0.1:%d/hook/%s", ng.Port, testKey),
			want: []string{"closed the connection after the publish request"}, under: 5 * time.Second},
		{name: "unknown application", url: fmt.Sprintf("rtmp://127.0.0.1:%d/nosuchapp/%s", ng.Port, testKey),
			want: []string{`during connect (application "nosuchapp"`}, under: 5 * time.Second},
		{name: "server message: already publishing", url: busyURL,
			want: []string{"NetStream.Publish.BadName", "Already publishing"}, under: 5 * time.Second},
		{name: "rtmps with an unknown CA", url: fmt.Sprintf("rtmps://localhost:%d/live/%s", tlsNginx.TLSPort, testKey),
			want: []string{"TLS handshake", "certificate"}, under: 5 * time.Second},
		{name: "rtmp to a TLS port", url: fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", tlsNginx.TLSPort, testKey),
			mod: func(o *Options) { o.ConnectTimeout = time.Second }, want: []string{"RTMP handshake"}, under: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			took, err := openExpectingError(t, tt.url, src, tt.mod)
			checkNoKey(t, err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "/****") {
				t.Errorf("error %q does not name the (masked) URL", err)
			}
			if took > tt.under {
				t.Errorf("error reported after %v, want under %v", took, tt.under)
			}
			t.Logf("after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestGiveUpAfterRetryWindow: with nothing to connect to, Write keeps
// dropping and retrying with backoff, then fails once the window is over.
func TestGiveUpAfterRetryWindow(t *testing.T) {
	t.Parallel()
	src := rtmptest.Encode(t, 4, testW, testH, testFPS)
	url := fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", rtmptest.FreePort(t), testKey)
	s, _ := newSink(t, url, func(o *Options) { o.RetryWindow = 2 * time.Second })
	t.Cleanup(func() { s.Close() })
	states := newStateLog(t)
	start := time.Now()
	if err := s.Open(context.Background(), src.Info, states); err != nil {
		t.Fatal(err)
	}
	err := feed(t, s, src, 0, time.Hour, true)
	took := time.Since(start)
	checkNoKey(t, err)
	if err == nil || !strings.Contains(err.Error(), "giving up after 2s") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Write error = %v, want giving up with the last cause", err)
	}
	if took < 2*time.Second || took > 3*time.Second {
		t.Errorf("gave up after %v, want just after the 2s window", took)
	}
	last, _ := states.last()
	// Attempts at 0, +0.5, +1.5 s: two retries inside the window.
	if last.Running || last.Err == nil || last.Retries < 2 {
		t.Errorf("last state %+v, want failed with retries >= 2", last)
	}
	if err2 := s.Write(context.Background(), src.Packets[0]); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Write after giving up = %v, want the same error", err2)
	}
}

// TestReconnect kills the ingest mid-stream and restarts it on the same
// port: the sink must be publishing again within 2 s of the ingest's return,
// report retries, and start the new recording with sequence headers and a
// keyframe so it plays from its first frame.
func TestReconnect(t *testing.T) {
	t.Parallel()
	src := rtmptest.Encode(t, 8, testW, testH, testFPS)
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	s, _ := newSink(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, testKey), nil)
	states := newStateLog(t)
	if err := s.Open(context.Background(), src.Info, states); err != nil {
		t.Fatal(err)
	}
	mustFeed := func(from, to time.Duration) {
		if err := feed(t, s, src, from, to, true); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	mustFeed(0, 2*time.Second)
	ng.Kill()
	mustFeed(2*time.Second, 3*time.Second)
	ng.Start()
	back := time.Now()
	mustFeed(3*time.Second, 8*time.Second)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	st, ok := states.runningSince(back.Add(-500 * time.Millisecond))
	if !ok {
		t.Fatalf("never running again after the restart: %+v", states.all())
	}
	if d := st.at.Sub(back); d > 2*time.Second {
		t.Errorf("publishing again %v after the ingest came back, want < 2s", d)
	}
	if st.Retries < 1 {
		t.Errorf("retries = %d after a reconnect", st.Retries)
	}
	var sawDown bool
	for _, x := range states.all() {
		if !x.Running && x.Err != nil && strings.Contains(x.Err.Error(), "connection lost") {
			sawDown = true
		}
	}
	if !sawDown {
		t.Errorf("the drop was not reported: %+v", states.all())
	}
	t.Logf("publishing again %v after restart, retries %d", st.at.Sub(back).Round(time.Millisecond), st.Retries)

	ng.WaitPublishesEnded(1, 5*time.Second)
	ng.Stop()
	recs := ng.Recordings()
	if len(recs) != 2 {
		t.Fatalf("want 2 recordings (before and after the restart), got %v", recs)
	}
	// The second connection starts at the first keyframe after it is up;
	// keyframes come every 2 s, so it holds 8 s minus a multiple of 2.
	p := rtmptest.ProbeFile(t, recs[1])
	gopsLost := int((8.0-p.Duration())/2 + 0.5)
	checkRecording(t, recs[1], 8-2*float64(gopsLost))
	if gopsLost > 3 {
		t.Errorf("second recording only %.2fs", p.Duration())
	}
}
