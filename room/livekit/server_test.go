package livekit

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// The dev keys livekit-server --dev accepts.
const (
	devKey    = "devkey"
	devSecret = "secret"
)

// lkServer is a real livekit-server on free loopback ports.
type lkServer struct {
	bin                    string
	port, tcpPort, udpPort int
	autoCreate             bool
	dir                    string
	mu                     sync.Mutex
	cmd                    *exec.Cmd
	log                    *bytes.Buffer
	waited                 chan struct{}
}

// findServerBin finds livekit-server: $LIVEKIT_SERVER_BIN, then
// livekit-server on PATH, then $(go env GOPATH)/bin/server (what `go install
// github.com/livekit/livekit-server/cmd/server@v1.8.4` leaves).
func findServerBin() (string, error) {
	if p := os.Getenv("LIVEKIT_SERVER_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("LIVEKIT_SERVER_BIN: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("livekit-server"); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, gp := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(gp, "bin", "server")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("livekit-server not found: set LIVEKIT_SERVER_BIN, put livekit-server on PATH, " +
		"or run `go install github.com/livekit/livekit-server/cmd/server@v1.8.4`")
}

func serverBin(t testing.TB) string {
	t.Helper()
	p, err := findServerBin()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freeTCPPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free tcp port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func freeUDPPort(t testing.TB) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free udp port: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// newServer starts a livekit-server. Without autoCreate, rooms exist only once
// createRoom made them, which lets tests see "room does not exist".
func newServer(t testing.TB, autoCreate bool) *lkServer {
	s := &lkServer{
		bin:        serverBin(t),
		port:       freeTCPPort(t),
		tcpPort:    freeTCPPort(t),
		udpPort:    freeUDPPort(t),
		autoCreate: autoCreate,
		dir:        t.TempDir(),
	}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			logs := s.logs()
			if len(logs) > 6000 {
				logs = logs[len(logs)-6000:]
			}
			t.Logf("livekit-server log tail:\n%s", logs)
			if d := os.Getenv("LIVEKIT_TEST_LOG_DIR"); d != "" {
				_ = os.WriteFile(filepath.Join(d, "livekit-server.log"), []byte(s.logs()), 0o644)
			}
		}
	})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *lkServer) start() error {
	cfg := fmt.Sprintf("port: %d\nrtc:\n  tcp_port: %d\n  udp_port: %d\n  use_external_ip: false\nroom:\n  auto_create: %t\nlogging:\n  level: info\n",
		s.port, s.tcpPort, s.udpPort, s.autoCreate)
	cmd := exec.Command(s.bin, "--dev", "--bind", "127.0.0.1", "--node-ip", "127.0.0.1", "--config-body", cfg)
	cmd.Dir = s.dir
	buf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: buf}, &lockedWriter{w: buf}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	s.mu.Lock()
	s.cmd, s.log, s.waited = cmd, buf, waited
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-waited:
			return fmt.Errorf("livekit-server exited at start:\n%s", buf)
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", s.port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("livekit-server not ready after 10 s:\n%s", buf)
}

// kill stops the server at once, as a crash would.
func (s *lkServer) kill() {
	s.mu.Lock()
	cmd, waited := s.cmd, s.waited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-waited
}

func (s *lkServer) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

func (s *lkServer) url(roomName string) string {
	return fmt.Sprintf("livekit://127.0.0.1:%d/%s", s.port, roomName)
}

func (s *lkServer) api() *lksdk.RoomServiceClient {
	return lksdk.NewRoomServiceClient(fmt.Sprintf("http://127.0.0.1:%d", s.port), devKey, devSecret)
}

func (s *lkServer) createRoom(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.api().CreateRoom(ctx, &lkproto.CreateRoomRequest{Name: name}); err != nil {
		t.Fatalf("creating room %s: %v", name, err)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// shared is one server for the tests that do not kill it; TestMain stops it.
var shared struct {
	once sync.Once
	srv  *lkServer
	err  error
}

func sharedServer(t testing.TB) *lkServer {
	t.Helper()
	shared.once.Do(func() {
		bin, err := findServerBin()
		if err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "roomcast-livekit-")
		if err != nil {
			shared.err = err
			return
		}
		s := &lkServer{bin: bin, dir: dir, port: freeTCPPort(t), tcpPort: freeTCPPort(t), udpPort: freeUDPPort(t)}
		if err := s.start(); err != nil {
			s.kill()
			shared.err = err
			return
		}
		shared.srv = s
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := shared.srv.logs()
			if len(logs) > 6000 {
				logs = logs[len(logs)-6000:]
			}
			t.Logf("livekit-server log tail:\n%s", logs)
		}
	})
	return shared.srv
}

func TestMain(m *testing.M) {
	// As cmd/roomcast does: FFmpeg's probe warnings about Opus pre-skip are
	// noise here.
	astiav.SetLogLevel(astiav.LogLevelError)
	code := m.Run()
	if shared.srv != nil {
		shared.srv.kill()
		_ = os.RemoveAll(shared.srv.dir)
	}
	if testMedia.dir != "" {
		_ = os.RemoveAll(testMedia.dir)
	}
	os.Exit(code)
}
