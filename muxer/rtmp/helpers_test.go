package rtmp

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/muxer/output"
)

// testKey is the stream key every test uses; no log line, error or report
// may ever contain it.
const testKey = "sk-SECRET-7f3a9c"

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testLogger logs at debug level into a buffer and, when the test ends,
// fails it if the stream key appears in any line.
func testLogger(t *testing.T) (*slog.Logger, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	t.Cleanup(func() {
		if strings.Contains(buf.String(), testKey) {
			t.Errorf("stream key in log output:\n%s", buf.String())
		}
		if t.Failed() {
			t.Logf("sink log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// stateLog records what a sink reports, with the time of each report, and
// fails the test if a reported error carries the key.
type stateLog struct {
	t  *testing.T
	mu sync.Mutex
	st []timedState
}

type timedState struct {
	at time.Time
	output.SinkState
}

func newStateLog(t *testing.T) *stateLog { return &stateLog{t: t} }

func (l *stateLog) Report(s output.SinkState) {
	if s.Err != nil && strings.Contains(s.Err.Error(), testKey) {
		l.t.Errorf("stream key in reported error: %v", s.Err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st = append(l.st, timedState{time.Now(), s})
}

func (l *stateLog) all() []timedState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]timedState(nil), l.st...)
}

func (l *stateLog) last() (timedState, bool) {
	all := l.all()
	if len(all) == 0 {
		return timedState{}, false
	}
	return all[len(all)-1], true
}

// firstErr returns the first reported error and when it came.
func (l *stateLog) firstErr() (timedState, bool) {
	for _, s := range l.all() {
		if s.Err != nil {
			return s, true
		}
	}
	return timedState{}, false
}

// runningSince returns the first Running report at or after t0.
func (l *stateLog) runningSince(t0 time.Time) (timedState, bool) {
	for _, s := range l.all() {
		if s.Running && !s.at.Before(t0) {
			return s, true
		}
	}
	return timedState{}, false
}

// newSink makes a sink for url with the test logger.
func newSink(t *testing.T, url string, mod func(*Options)) (*Sink, *syncBuffer) {
	t.Helper()
	log, buf := testLogger(t)
	opts := Options{URL: url, Logger: log}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, buf
}

// feed writes packets in [from, to) of the source's timeline, in real time
// when paced, and fails the test on a Write error unless allowErr.
func feed(t *testing.T, s *Sink, src *rtmptest.Source, from, to time.Duration, paced bool) error {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	for _, p := range src.Packets {
		at := p.Time(&src.Info)
		if at < from || at >= to {
			continue
		}
		if paced {
			if d := time.Until(start.Add(at - from)); d > 0 {
				time.Sleep(d)
			}
		}
		if err := s.Write(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// checkNoKey fails the test if err's text holds the key.
func checkNoKey(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testKey) {
		t.Errorf("stream key in error: %v", err)
	}
}
