// Package lktest runs a real livekit-server (v1.9.11 by default, v1.8.4 on
// request; in --dev mode) on free loopback ports for tests: the connector's
// own, and the end-to-end tests that record LiveKit rooms.
package lktest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/auth"
	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/roomcast/roomcast/internal/syncbuf"
)

// The dev keys livekit-server --dev accepts.
const (
	DevKey    = "devkey"
	DevSecret = "secret"
)

// The livekit-server versions the tests run. scripts/install-deps.sh installs
// each as $(go env GOPATH)/bin/livekit-vVERSION/server.
const (
	// Version is the default: what current browser SDKs work with
	// (livekit-client 2.18.8 and later time out publishing on 1.8.4).
	Version = "1.9.11"
	// OldVersion is kept for one smoke test of the connector.
	OldVersion = "1.8.4"
)

// Server is a real livekit-server on free loopback ports.
type Server struct {
	Bin                    string
	Version                string
	Port, TCPPort, UDPPort int
	AutoCreate             bool
	Dir                    string
	// Key and Secret, when set before Start, replace the dev keys: for a
	// test that looks for them in what roomcast writes, which the dev
	// secret "secret" is too common a word for.
	Key, Secret string

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	waited chan struct{}
}

// FindBin finds livekit-server of the given version: $LIVEKIT_SERVER_BIN
// when it reports that version, then $(go env GOPATH)/bin/livekit-vVERSION/server
// (where scripts/install-deps.sh puts it), then livekit-server on PATH and,
// for v1.8.4, $(go env GOPATH)/bin/server (where an older install left it),
// if they report that version.
func FindBin(version string) (string, error) {
	var cands []string
	if p := os.Getenv("LIVEKIT_SERVER_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("LIVEKIT_SERVER_BIN: %w", err)
		}
		cands = append(cands, p)
	}
	var gopaths []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopaths = filepath.SplitList(strings.TrimSpace(string(out)))
	}
	for _, gp := range gopaths {
		cands = append(cands, filepath.Join(gp, "bin", "livekit-v"+version, "server"))
	}
	if p, err := exec.LookPath("livekit-server"); err == nil {
		cands = append(cands, p)
	}
	for _, gp := range gopaths {
		cands = append(cands, filepath.Join(gp, "bin", "server"))
	}
	for _, p := range cands {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if out, err := exec.Command(p, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == "livekit-server version "+version {
			return p, nil
		}
	}
	return "", fmt.Errorf("livekit-server v%s not found: run scripts/install-deps.sh test (it does "+
		"`GOBIN=$(go env GOPATH)/bin/livekit-v%s go install github.com/livekit/livekit-server/cmd/server@v%s`), "+
		"or set LIVEKIT_SERVER_BIN to a v%s binary", version, version, version, version)
}

// New prepares a server of the default Version in dir on free ports; Start
// runs it. Without autoCreate, rooms exist only once CreateRoom made them.
func New(dir string, autoCreate bool) (*Server, error) {
	return NewVersion(dir, autoCreate, Version)
}

// NewVersion is New for a given livekit-server version.
func NewVersion(dir string, autoCreate bool, version string) (*Server, error) {
	bin, err := FindBin(version)
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: bin, Version: version, Dir: dir, AutoCreate: autoCreate}
	if s.Port, err = freeTCP(); err == nil {
		if s.TCPPort, err = freeTCP(); err == nil {
			s.UDPPort, err = freeUDP()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("free ports: %w", err)
	}
	return s, nil
}

func freeTCP() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freeUDP() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// Start runs the server (again, after Kill, on the same ports) and waits
// until it answers HTTP.
func (s *Server) Start() error {
	level := "info"
	if l := os.Getenv("LIVEKIT_LOG_LEVEL"); l != "" {
		level = l // debug, when a test needs the server's view
	}
	cfg := fmt.Sprintf("port: %d\nrtc:\n  tcp_port: %d\n  udp_port: %d\n  use_external_ip: false\nroom:\n  auto_create: %t\nlogging:\n  level: %s\n",
		s.Port, s.TCPPort, s.UDPPort, s.AutoCreate, level)
	if s.Key != "" {
		cfg += fmt.Sprintf("keys:\n  %q: %q\n", s.Key, s.Secret)
	}
	cmd := exec.Command(s.Bin, "--dev", "--bind", "127.0.0.1", "--node-ip", "127.0.0.1", "--config-body", cfg)
	cmd.Dir = s.Dir
	w := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.Bin, err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	s.mu.Lock()
	s.cmd, s.log, s.waited = cmd, w, waited
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-waited:
			return fmt.Errorf("livekit-server exited at start:\n%s", s.Logs())
		default:
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", s.Port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("livekit-server not ready after 10 s:\n%s", s.Logs())
}

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
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

// Logs returns what the server has logged.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

// URL is roomcast's meetingUrl for a room on this server.
func (s *Server) URL(room string) string {
	return fmt.Sprintf("livekit://127.0.0.1:%d/%s", s.Port, room)
}

// WSURL is the signalling address a client SDK connects to.
func (s *Server) WSURL() string {
	return fmt.Sprintf("ws://127.0.0.1:%d", s.Port)
}

// Token mints a participant's token for room with the server's keys: it may
// publish and subscribe, and is valid for an hour.
func (s *Server) Token(room, identity string) (string, error) {
	key, secret := s.keys()
	at := auth.NewAccessToken(key, secret)
	at.SetIdentity(identity).SetName(identity).SetValidFor(time.Hour).
		SetVideoGrant(&auth.VideoGrant{RoomJoin: true, Room: room})
	tok, err := at.ToJWT()
	if err != nil {
		return "", fmt.Errorf("lktest: token for %s in %s: %w", identity, room, err)
	}
	return tok, nil
}

// API is a room service client with the server's keys.
func (s *Server) API() *lksdk.RoomServiceClient {
	key, secret := s.keys()
	return lksdk.NewRoomServiceClient(fmt.Sprintf("http://127.0.0.1:%d", s.Port), key, secret)
}

// keys are the API key and secret the server accepts.
func (s *Server) keys() (key, secret string) {
	if s.Key != "" {
		return s.Key, s.Secret
	}
	return DevKey, DevSecret
}

// CreateRoom creates a room (needed when AutoCreate is off).
func (s *Server) CreateRoom(ctx context.Context, name string) error {
	_, err := s.API().CreateRoom(ctx, &lkproto.CreateRoomRequest{Name: name})
	return err
}

// PID is the running server's process id, 0 when none runs: for the
// bench, which reads its CPU time.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}
