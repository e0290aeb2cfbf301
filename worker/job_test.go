package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/muxer/output"
	"github.com/roomcast/roomcast/muxer/rtmp"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/file"
)

// These tests run real jobs on file rooms made of the committed test peers.

func peersDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs("../testdata/peers")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// manifest writes a file room and returns its meetingUrl.
func manifest(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "room.yaml")
	body = strings.ReplaceAll(body, "PEERS/", peersDir(t)+"/")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file:" + p
}

func fileOpener(ctx context.Context, meetingURL string, clk mediaclock.Clock, log *slog.Logger) (room.Room, error) {
	_, path, err := config.ParseMeetingURL(meetingURL)
	if err != nil {
		return nil, err
	}
	return file.Open(path, file.Options{Clock: clk, Logger: log})
}

type events struct {
	mu    sync.Mutex
	names []string
}

func (e *events) add(name string, _ State) {
	e.mu.Lock()
	e.names = append(e.names, name)
	e.mu.Unlock()
}

func (e *events) has(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.names {
		if n == name {
			return true
		}
	}
	return false
}

func testOptions(t *testing.T, ev *events, fast bool) func(config.Job) Options {
	return func(cfg config.Job) Options {
		o := Options{
			Out:    t.TempDir(),
			Fast:   fast,
			Open:   fileOpener,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Sinks: SinkFactory{RTMP: func(url string, connect, retry time.Duration) (output.Sink, error) {
				return rtmp.New(rtmp.Options{URL: url, ConnectTimeout: connect, RetryWindow: retry})
			}},
		}
		if ev != nil {
			o.OnEvent = ev.add
		}
		return o
	}
}

const onePeer = `peers:
  - name: alice
    media: PEERS/alice.webm
`

func code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestContractStartRules(t *testing.T) {
	room := manifest(t, onePeer)
	ev := &events{}
	m := NewManager(testOptions(t, ev, false))
	ctx := context.Background()

	if _, err := m.Start(ctx, config.Job{MeetingURL: room}); code(err) != CodeInvalidConfig || !strings.Contains(err.Error(), "nothing to do") {
		t.Fatalf("a job asking for nothing: %v", err)
	}
	rec, err := m.Start(ctx, config.Job{MeetingURL: room, Record: true, ID: "rec"})
	if err != nil {
		t.Fatal(err)
	}
	// Streaming the same room while recording runs is refused, with a
	// message that says how to have both.
	_, err = m.Start(ctx, config.Job{MeetingURL: room, RTMPURLs: []string{"rtmp://127.0.0.1:1/live/KEYX"}})
	if code(err) != CodeAlreadyRunning || !strings.Contains(err.Error(), "start them together") || strings.Contains(err.Error(), "KEYX") {
		t.Fatalf("second job for the room: %v", err)
	}
	// So is adding a URL to the recording job.
	if err := rec.AddRTMP(ctx, "rtmp://127.0.0.1:1/live/KEYX"); code(err) != CodeAlreadyRunning {
		t.Fatalf("AddRTMP on a recording job: %v", err)
	}
	if err := m.Stop(ctx, "rec"); err != nil {
		t.Fatal(err)
	}
	st := rec.State()
	if st.State != Stopped || st.Recording.Running || st.StoppedAt == nil {
		t.Fatalf("after stop: %+v", st)
	}
	if !ev.has(EventRecording) || !ev.has(EventJob) {
		t.Errorf("events seen: %v", ev.names)
	}
	// Once everything stopped, the other can start.
	j, err := m.Start(ctx, config.Job{MeetingURL: room, Record: true, ID: "rec2"})
	if err != nil {
		t.Fatalf("after stop: %v", err)
	}
	if err := m.Stop(ctx, j.ID()); err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx, "nope"); code(err) != CodeNotFound {
		t.Fatalf("stop unknown: %v", err)
	}
}

func TestAddAndRemoveRTMP(t *testing.T) {
	ng := rtmptest.StartNginx(t, rtmptest.NginxConfig{})
	url := func(k string) string { return fmt.Sprintf("rtmp://127.0.0.1:%d/live/%s", ng.Port, k) }
	m := NewManager(testOptions(t, nil, false))
	ctx := context.Background()
	j, err := m.Start(ctx, config.Job{MeetingURL: manifest(t, onePeer), Record: true, RTMPURLs: []string{url("K1")},
		Resolution: config.Resolution{Width: 320, Height: 180}})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Stop(ctx)
	for _, k := range []string{"K2", "K3"} {
		if err := j.AddRTMP(ctx, url(k)); err != nil {
			t.Fatalf("add %s: %v", k, err)
		}
	}
	if err := j.AddRTMP(ctx, url("K4")); code(err) != CodeInvalidConfig || !strings.Contains(err.Error(), "limit is 3") {
		t.Fatalf("a fourth URL: %v", err)
	}
	if err := j.AddRTMP(ctx, url("K2")); err == nil {
		t.Fatal("the same URL twice was accepted")
	}
	waitFor(t, 10*time.Second, "three running RTMP outputs", func() bool {
		s := j.State()
		if len(s.RTMPStreaming.Outputs) != 3 {
			return false
		}
		for _, o := range s.RTMPStreaming.Outputs {
			if !o.Running {
				return false
			}
		}
		return true
	})
	if err := j.RemoveRTMP(ctx, url("K2")); err != nil {
		t.Fatal(err)
	}
	s := j.State()
	if len(s.RTMPStreaming.Outputs) != 2 || !s.RTMPStreaming.Running {
		t.Fatalf("after removing one: %+v", s.RTMPStreaming)
	}
	for _, o := range s.RTMPStreaming.Outputs {
		if strings.Contains(o.URL, "K1") || strings.Contains(o.URL, "K3") {
			t.Errorf("a key shows in the state: %s", o.URL)
		}
	}
	if err := j.RemoveRTMP(ctx, url("K2")); code(err) != CodeNotFound {
		t.Fatalf("removing it again: %v", err)
	}
}

func TestEmptyRoomTimeout(t *testing.T) {
	// alice leaves at 1 s; bob would join at 20 s, so the room stays open
	// but empty, and the job must end 2 s after alice left.
	room := manifest(t, `peers:
  - name: alice
    media: PEERS/alice.webm
    leave: 1s
  - name: bob
    media: PEERS/bob.webm
    join: 20s
`)
	m := NewManager(testOptions(t, nil, true))
	j, err := m.Start(context.Background(), config.Job{MeetingURL: room, Record: true,
		EmptyRoomTimeout: config.Duration(2 * time.Second), Resolution: config.Resolution{Width: 320, Height: 180}})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not end")
	}
	s := j.State()
	if s.State != Stopped || !strings.Contains(s.Reason, "empty") {
		t.Fatalf("state %s, reason %q", s.State, s.Reason)
	}
	if s.Stats.Elapsed < 2.9 || s.Stats.Elapsed > 4.5 {
		t.Errorf("ended at %.2fs of job time, want about 3 s (1 s + 2 s)", s.Stats.Elapsed)
	}
}

// TestRoomJoinFailure: a room that cannot be joined fails the job with
// ROOM_JOIN_FAILED; one whose meetingUrl names something invalid (a file
// room's manifest) with INVALID_CONFIG, which callers take as theirs to fix.
func TestRoomJoinFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		code string
	}{
		{"unreachable", errors.New("no such room"), CodeRoomJoin},
		{"invalid", fmt.Errorf("manifest: media outside: %w", room.ErrInvalid), CodeInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager(func(config.Job) Options {
				return Options{Out: t.TempDir(), Open: func(context.Context, string, mediaclock.Clock, *slog.Logger) (room.Room, error) {
					return nil, tc.err
				}}
			})
			j, err := m.Start(context.Background(), config.Job{MeetingURL: "livekit://127.0.0.1:7880/x", Record: true})
			if code(err) != tc.code || !strings.Contains(err.Error(), tc.err.Error()) {
				t.Fatalf("join failure: %v, want %s", err, tc.code)
			}
			st := j.State()
			if st.State != Failed || st.Error == nil || st.Error.Code != tc.code {
				t.Fatalf("state after a failed start: %+v", st)
			}
		})
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestFailsOnlyWhenEveryOutputFailed: a dead RTMP URL alone fails the job
// once its retry window runs out; beside a recording, it fails only itself.
func TestFailsOnlyWhenEveryOutputFailed(t *testing.T) {
	dead := fmt.Sprintf("rtmp://127.0.0.1:%d/live/DEADKEY", rtmptest.FreePort(t))
	base := config.Job{MeetingURL: manifest(t, onePeer), RTMPURLs: []string{dead},
		RTMPConnectTimeout: config.Duration(500 * time.Millisecond), RTMPRetryWindow: config.Duration(time.Second),
		Resolution: config.Resolution{Width: 320, Height: 180}}
	ctx := context.Background()

	alone, err := NewManager(testOptions(t, nil, false)).Start(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-alone.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("a job whose only output failed kept running")
	}
	st := alone.State()
	if st.State != Failed || st.Error == nil || st.Error.Code != CodeOutput {
		t.Fatalf("job with its only output dead: %s %+v", st.State, st.Error)
	}
	o := st.RTMPStreaming.Outputs[0]
	if o.Error == nil || o.Running || strings.Contains(o.Error.Message, "DEADKEY") || !strings.Contains(o.URL, "****") {
		t.Errorf("the dead URL's state: %+v", o)
	}

	withRec := base
	withRec.Record = true
	withRec.MaxDuration = config.Duration(3 * time.Second)
	j, err := NewManager(testOptions(t, nil, false)).Start(ctx, withRec)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-j.Done():
	case <-time.After(15 * time.Second):
		t.Fatal("job did not end at its duration")
	}
	st = j.State()
	if st.State != Stopped || st.Error != nil || st.Recording.Error != nil || st.Recording.Bytes == 0 {
		t.Errorf("recording beside a dead URL: state %s error %+v recording %+v", st.State, st.Error, st.Recording)
	}
	if st.RTMPStreaming.Outputs[0].Error == nil {
		t.Errorf("the dead URL shows no error: %+v", st.RTMPStreaming)
	}
}
