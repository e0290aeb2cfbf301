package runner

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/file"
	"github.com/roomcast/roomcast/worker"
)

// The test binary is its own child: with childEnv set it serves one job on
// stdin and stdout, as `roomcast job-child` does.
const childEnv = "ROOMCAST_RUNNER_TEST_CHILD"

// crashEnv makes the child crash a second after it starts, as a fault in
// FFmpeg would: Go's crash report on stderr, exit status 2.
const crashEnv = "ROOMCAST_RUNNER_TEST_CRASH"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		signal.Ignore(syscall.SIGPIPE) // as job-child does: see doc.go
		if os.Getenv(crashEnv) != "" {
			go func() {
				time.Sleep(time.Second)
				panic("a test job's crash")
			}()
		}
		err := Serve(context.Background(), os.Stdin, os.Stdout, newTestJob)
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newTestJob(spec Spec) (Job, error) {
	j, err := worker.New(spec.Config, worker.Options{
		Out: spec.Out,
		Open: func(_ context.Context, meetingURL string, clk mediaclock.Clock, log *slog.Logger) (room.Room, error) {
			_, path, err := config.ParseMeetingURL(meetingURL)
			if err != nil {
				return nil, err
			}
			return file.Open(path, file.Options{Clock: clk, Logger: log})
		},
		OnEvent: spec.OnEvent,
		Logger:  slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

func roomURL(t *testing.T) string {
	t.Helper()
	peers, err := filepath.Abs("../../testdata/peers")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "room.yaml")
	body := "peers:\n  - name: alice\n    media: " + peers + "/alice.webm\n    join: 0s\n  - name: bob\n    media: " + peers + "/bob.webm\n    join: 0s\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file:" + p
}

type eventLog struct {
	mu    sync.Mutex
	names []string
	last  worker.State
}

func (e *eventLog) add(name string, s worker.State) {
	e.mu.Lock()
	e.names = append(e.names, name)
	e.last = s
	e.mu.Unlock()
}

func (e *eventLog) has(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.names {
		if n == name {
			return true
		}
	}
	return false
}

func start(t *testing.T, cfg config.Job, ev *eventLog) (*Process, string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	p, err := Start(context.Background(), cfg, out, Options{
		Command: []string{exe, "-test.run=^$"},
		Env:     append(os.Environ(), childEnv+"=1"),
		OnEvent: ev.add,
		Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if p != nil {
		t.Cleanup(func() {
			p.Kill()
			<-p.Done()
		})
	}
	return p, out, err
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// mp4Seconds is the duration ffprobe reads from a recording.
func mp4Seconds(t *testing.T, path string) float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var r struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	d, err := strconv.ParseFloat(r.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", r.Format.Duration, err)
	}
	return d
}

// elapsed is the output time the running job has written.
func elapsed(p *Process) float64 {
	s, err := p.Poll(context.Background())
	if err != nil {
		return -1
	}
	return s.Stats.Elapsed
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStartStateStop(t *testing.T) {
	ev := &eventLog{}
	p, out, err := start(t, config.Job{ID: "j1", MeetingURL: roomURL(t), Record: true}, ev)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.State(); s.State != worker.Running || s.ID != "j1" {
		t.Fatalf("state after Start = %s (%s), want running j1", s.State, s.ID)
	}
	waitFor(t, "the recording to run", func() bool { return p.State().Recording.Running })
	if !ev.has("recordingStateUpdated") {
		t.Errorf("events %v lack recordingStateUpdated", ev.names)
	}
	waitFor(t, "1.5 s of output", func() bool { return elapsed(p) >= 1.5 })
	if err := p.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	<-p.Done()
	res := p.Result()
	if res.State.State != worker.Stopped || res.Signal != "" {
		t.Fatalf("result %s (signal %q, error %v), want stopped", res.State.State, res.Signal, res.State.Error)
	}
	if res.CPU <= 0 {
		t.Errorf("child CPU time %s, want > 0", res.CPU)
	}
	if d := mp4Seconds(t, filepath.Join(out, "recording.mp4")); d < 1 {
		t.Errorf("recording plays %.2f s, want at least 1 s", d)
	}
	if err := p.Stop(context.Background()); !errors.Is(err, errExited) {
		t.Errorf("Stop after the end = %v, want the job has ended", err)
	}
}

func TestKilledChildFailsTheJob(t *testing.T) {
	ev := &eventLog{}
	p, out, err := start(t, config.Job{ID: "j2", MeetingURL: roomURL(t), Record: true}, ev)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recording to run", func() bool { return p.State().Recording.Running })
	waitFor(t, "2.5 s of output", func() bool { return elapsed(p) >= 2.5 }) // past two 1 s fragments
	if cpu := p.CPU(); cpu <= 0 {
		t.Errorf("CPU of the running child = %s, want > 0", cpu)
	}
	p.Kill()
	<-p.Done()
	res := p.Result()
	if res.Signal != "killed" {
		t.Errorf("signal %q, want killed", res.Signal)
	}
	s := res.State
	if s.State != worker.Failed || s.Error == nil || !strings.Contains(s.Reason, "killed") {
		t.Fatalf("state %s, error %v, reason %q; want failed, killed by a signal", s.State, s.Error, s.Reason)
	}
	if s.Recording.Running || s.StoppedAt == nil {
		t.Errorf("recording still running (%v) or no stoppedAt (%v) after the crash", s.Recording.Running, s.StoppedAt)
	}
	if last := ev.last; last.State != worker.Failed {
		t.Errorf("last event's state %s, want failed", last.State)
	}
	if d := mp4Seconds(t, filepath.Join(out, "recording.mp4")); d < 1 {
		t.Errorf("the killed job's recording plays %.2f s, want at least 1 s (its complete fragments)", d)
	}
}

func TestRefusedStartAndControl(t *testing.T) {
	_, _, err := start(t, config.Job{ID: "j3", MeetingURL: roomURL(t)}, &eventLog{})
	var we *worker.Error
	if !errors.As(err, &we) || we.Code != worker.CodeInvalidConfig {
		t.Fatalf("start of a job that asks for nothing = %v, want %s", err, worker.CodeInvalidConfig)
	}

	p, _, err := start(t, config.Job{ID: "j4", MeetingURL: roomURL(t), Record: true}, &eventLog{})
	if err != nil {
		t.Fatal(err)
	}
	// The contract's rule, from the job in the child: streaming is not
	// started beside a recording that runs alone.
	err = p.AddRTMP(context.Background(), "rtmp://127.0.0.1:1/live/key")
	if !errors.As(err, &we) || we.Code != worker.CodeAlreadyRunning {
		t.Fatalf("AddRTMP on a recording-only job = %v, want the job's %s", err, worker.CodeAlreadyRunning)
	}
	if strings.Contains(err.Error(), "/live/key") {
		t.Errorf("error shows the stream key: %v", err)
	}
}

func TestClosedControlStopsTheJob(t *testing.T) {
	p, out, err := start(t, config.Job{ID: "j5", MeetingURL: roomURL(t), Record: true}, &eventLog{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recording to run", func() bool { return p.State().Recording.Running })
	waitFor(t, "1.5 s of output", func() bool { return elapsed(p) >= 1.5 })
	// What a dying service leaves behind: the child's stdin closes.
	_ = p.in.Close()
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not end after its control closed")
	}
	if s := p.Result().State; s.State != worker.Stopped {
		t.Fatalf("state %s (%v), want stopped: outputs finalized", s.State, s.Error)
	}
	if d := mp4Seconds(t, filepath.Join(out, "recording.mp4")); d < 1 {
		t.Errorf("recording plays %.2f s", d)
	}
}

// A job process that crashes fails the job with the crash's own words, not
// "exit status 2".
func TestCrashedChildSaysWhy(t *testing.T) {
	for _, pipe := range []bool{false, true} {
		t.Run(map[bool]string{false: "stderr forwarded as log lines", true: "stderr passed through"}[pipe], func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{
				Command: []string{exe, "-test.run=^$"},
				Env:     append(os.Environ(), childEnv+"=1", crashEnv+"=1"),
				Logger:  slog.New(slog.NewTextHandler(testWriter{t}, nil)),
			}
			if pipe {
				opts.Stderr = testWriter{t}
			}
			p, err := Start(context.Background(), config.Job{ID: "crash", MeetingURL: roomURL(t), Record: true}, t.TempDir(), opts)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			case <-time.After(30 * time.Second):
				p.Kill()
				t.Fatal("the crashing child did not end")
			}
			s := p.Result().State
			if s.State != worker.Failed || !strings.Contains(s.Reason, "crashed: panic: a test job's crash") {
				t.Fatalf("state %s, reason %q; want failed, with the panic as its reason", s.State, s.Reason)
			}
		})
	}
}
