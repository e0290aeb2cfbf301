package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
)

var errNoSuchRoom = errors.New("no such room")

// TestErrorsKeepTheirCause: what a room opener fails with is still there,
// for errors.Is, through Manager.Start, Job.Err and the state, while the
// contract's JSON stays code and message.
func TestErrorsKeepTheirCause(t *testing.T) {
	for _, tc := range []struct {
		name  string
		open  RoomOpener
		cause error
	}{
		{"sentinel", func(context.Context, string, mediaclock.Clock, *slog.Logger) (room.Room, error) {
			return nil, errNoSuchRoom
		}, errNoSuchRoom},
		{"wrapped", func(context.Context, string, mediaclock.Clock, *slog.Logger) (room.Room, error) {
			return nil, fmt.Errorf("livekit: joining: %w", errNoSuchRoom)
		}, errNoSuchRoom},
		{"deadline", func(ctx context.Context, _ string, _ mediaclock.Clock, _ *slog.Logger) (room.Room, error) {
			return nil, context.DeadlineExceeded
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager(func(config.Job) Options { return Options{Out: t.TempDir(), Open: tc.open} })
			j, err := m.Start(context.Background(), config.Job{MeetingURL: "livekit://127.0.0.1:7880/x", Record: true})
			if !errors.Is(err, tc.cause) || code(err) != CodeRoomJoin {
				t.Fatalf("Start: %v (cause lost: errors.Is %v)", err, errors.Is(err, tc.cause))
			}
			if !errors.Is(j.Err(), tc.cause) {
				t.Errorf("Err: %v", j.Err())
			}
			st := j.State()
			if !errors.Is(st.Error, tc.cause) {
				t.Errorf("state's error: %v", st.Error)
			}
			b, err := json.Marshal(st.Error)
			if err != nil {
				t.Fatal(err)
			}
			var keys map[string]any
			if err := json.Unmarshal(b, &keys); err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys["code"] != CodeRoomJoin || keys["message"] == nil {
				t.Errorf("the error's JSON is %s, want only code and message", b)
			}
		})
	}
	// A bad job setting keeps config's error as its cause.
	_, err := New(config.Job{MeetingURL: "file:x.yaml", Record: true, FPS: 1000}, Options{Out: t.TempDir(), Open: fileOpener})
	var ce *config.Error
	if !errors.As(err, &ce) || code(err) != CodeInvalidConfig {
		t.Errorf("New with a bad fps: %v", err)
	}
}

// blockingOpener joins a room that never answers, until its context ends.
func blockingOpener(ctx context.Context, _ string, _ mediaclock.Clock, _ *slog.Logger) (room.Room, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// within fails the test if f does not return within d: no request may hang.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

// TestRequestsWhileStarting: while the room is being joined, every request
// is answered at once; Stop abandons the join, and Start says so.
func TestRequestsWhileStarting(t *testing.T) {
	j, err := New(config.Job{MeetingURL: "livekit://127.0.0.1:7880/x", RTMPURLs: []string{"rtmp://127.0.0.1:1/live/KEY"}},
		Options{Out: t.TempDir(), Open: blockingOpener, Sinks: testOptions(t, nil, false)(config.Job{}).Sinks})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	started := make(chan error, 1)
	go func() { started <- j.Start(ctx) }()
	waitFor(t, 5*time.Second, "the start", func() bool { return j.State().StartedAt != nil })

	within(t, 2*time.Second, "requests while starting", func() {
		if st := j.State(); st.State != Starting {
			t.Errorf("state while joining: %s", st.State)
		}
		if err := j.AddRTMP(ctx, "rtmp://127.0.0.1:1/live/K2"); code(err) != CodeInvalidConfig || !strings.Contains(err.Error(), "starting") {
			t.Errorf("AddRTMP while starting: %v", err)
		}
		if err := j.RemoveRTMP(ctx, "rtmp://127.0.0.1:1/live/KEY"); code(err) != CodeInvalidConfig {
			t.Errorf("RemoveRTMP while starting: %v", err)
		}
		if err := j.SetLayout(ctx, "speaker"); code(err) != CodeInvalidConfig {
			t.Errorf("SetLayout while starting: %v", err)
		}
		if err := j.Start(ctx); code(err) != CodeAlreadyRunning {
			t.Errorf("a second Start: %v", err)
		}
		j.SaveStatus()
		if c := j.Config(); len(c.RTMPURLs) != 1 {
			t.Errorf("config while starting: %+v", c)
		}
	})
	within(t, 10*time.Second, "Stop while starting", func() {
		if err := j.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	if err := <-started; !errors.Is(err, ErrStopped) {
		t.Errorf("Start after a Stop: %v", err)
	}
	if st := j.State(); st.State != Stopped || st.Reason != "stopped on request" || st.Error != nil {
		t.Errorf("after a stop while starting: %s %q %+v", st.State, st.Reason, st.Error)
	}
	requestsAfterEnd(t, j)
}

// requestsAfterEnd: an ended job answers every request at once.
func requestsAfterEnd(t *testing.T, j *Job) {
	t.Helper()
	ctx := context.Background()
	within(t, 2*time.Second, "requests after the end", func() {
		if err := j.Stop(ctx); err != nil {
			t.Errorf("Stop again: %v", err)
		}
		if err := j.Start(ctx); !errors.Is(err, ErrEnded) {
			t.Errorf("Start after the end: %v", err)
		}
		if err := j.AddRTMP(ctx, "rtmp://127.0.0.1:1/live/K9"); !errors.Is(err, ErrEnded) || code(err) != CodeInvalidConfig {
			t.Errorf("AddRTMP after the end: %v", err)
		}
		if err := j.RemoveRTMP(ctx, "rtmp://127.0.0.1:1/live/K9"); !errors.Is(err, ErrEnded) {
			t.Errorf("RemoveRTMP after the end: %v", err)
		}
		if err := j.SetLayout(ctx, "grid"); !errors.Is(err, ErrEnded) {
			t.Errorf("SetLayout after the end: %v", err)
		}
		j.SaveStatus()
		_ = j.Config()
		if s := j.State(); s.StoppedAt == nil {
			t.Errorf("state after the end: %+v", s)
		}
	})
}

// TestStopBeforeStart: a job stopped before it started ends at once.
func TestStopBeforeStart(t *testing.T) {
	j, err := New(config.Job{MeetingURL: manifest(t, onePeer), Record: true}, Options{Out: t.TempDir(), Open: fileOpener})
	if err != nil {
		t.Fatal(err)
	}
	within(t, 2*time.Second, "Stop before Start", func() {
		if err := j.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if st := j.State(); st.State != Stopped {
		t.Errorf("state: %s", st.State)
	}
	requestsAfterEnd(t, j)
}

// TestControlFromManyGoroutines: State, SetLayout, AddRTMP, RemoveRTMP,
// Config and SaveStatus from many goroutines at once while the job runs and
// while it stops, as an API's handlers would call them. The race detector
// checks the rest.
func TestControlFromManyGoroutines(t *testing.T) {
	m := NewManager(testOptions(t, nil, false))
	ctx := context.Background()
	j, err := m.Start(ctx, config.Job{MeetingURL: manifest(t, onePeer), Record: true,
		RTMPURLs: []string{"rtmp://127.0.0.1:1/live/KEY"}, RTMPRetryWindow: config.Duration(time.Minute),
		Resolution: config.Resolution{Width: 320, Height: 180}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			layouts := []string{"grid", "speaker", "screen"}
			url := fmt.Sprintf("rtmp://127.0.0.1:1/live/G%d", i)
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				_ = j.State()
				if err := j.SetLayout(ctx, layouts[n%3]); err != nil && code(err) != CodeInvalidConfig {
					t.Errorf("SetLayout: %v", err)
				}
				if err := j.AddRTMP(ctx, url); err == nil {
					if err := j.RemoveRTMP(ctx, url); err != nil && code(err) != CodeInvalidConfig && code(err) != CodeNotFound {
						t.Errorf("RemoveRTMP: %v", err)
					}
				}
				_ = j.Config()
				j.SaveStatus()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	time.Sleep(time.Second)
	if err := j.SetLayout(ctx, "mosaic"); code(err) != CodeInvalidConfig || !strings.Contains(err.Error(), "layout") {
		t.Errorf("a bad layout: %v", err)
	}
	within(t, 30*time.Second, "Stop under load", func() {
		if err := m.Stop(ctx, j.ID()); err != nil {
			t.Error(err)
		}
	})
	close(stop)
	wg.Wait()
	if st := j.State(); st.State != Stopped || st.Recording.Bytes == 0 {
		t.Errorf("after stop: %s, %d bytes", st.State, st.Recording.Bytes)
	}
	requestsAfterEnd(t, j)
}
