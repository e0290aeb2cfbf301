package livekit

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/roomcast/roomcast/internal/lktest"
)

// The dev keys livekit-server --dev accepts.
const (
	devKey    = lktest.DevKey
	devSecret = lktest.DevSecret
)

// lkServer adapts lktest.Server to these tests.
type lkServer struct{ *lktest.Server }

func (s *lkServer) start() error                  { return s.Start() }
func (s *lkServer) kill()                         { s.Kill() }
func (s *lkServer) logs() string                  { return s.Logs() }
func (s *lkServer) url(room string) string        { return s.URL(room) }
func (s *lkServer) api() *lksdk.RoomServiceClient { return s.API() }
func (s *lkServer) createRoom(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.CreateRoom(ctx, name); err != nil {
		t.Fatalf("creating room %s: %v", name, err)
	}
}

func freeTCPPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free tcp port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newServer starts a livekit-server. Without autoCreate, rooms exist only once
// createRoom made them, which lets tests see "room does not exist".
func newServer(t testing.TB, autoCreate bool) *lkServer {
	ls, err := lktest.New(t.TempDir(), autoCreate)
	if err != nil {
		t.Fatal(err)
	}
	s := &lkServer{ls}
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			logs := s.logs()
			if len(logs) > 6000 {
				logs = logs[len(logs)-6000:]
			}
			t.Logf("livekit-server log tail:\n%s", logs)
		}
	})
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
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
		dir, err := os.MkdirTemp("", "roomcast-livekit-")
		if err != nil {
			shared.err = err
			return
		}
		ls, err := lktest.New(dir, false) // rooms exist only once created
		if err != nil {
			shared.err = err
			return
		}
		s := &lkServer{ls}
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
		_ = os.RemoveAll(shared.srv.Dir)
	}
	if testMedia.dir != "" {
		_ = os.RemoveAll(testMedia.dir)
	}
	os.Exit(code)
}
