package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// testClock is a job clock the test sets by hand: a track stands in for the
// network and moves it to each packet's arrival time.
type testClock struct {
	epoch time.Time
	now   atomic.Int64
}

func newTestClock(epoch time.Time) *testClock { return &testClock{epoch: epoch} }

func (c *testClock) set(t time.Duration)                                   { c.now.Store(int64(t)) }
func (c *testClock) Now() time.Duration                                    { return time.Duration(c.now.Load()) }
func (c *testClock) Hold()                                                 {}
func (c *testClock) Release()                                              {}
func (c *testClock) Epoch() time.Time                                      { return c.epoch }
func (c *testClock) Virtual() bool                                         { return false }
func (c *testClock) SleepUntil(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// toNTP gives the 32.32 NTP timestamp of a wall time.
func toNTP(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpUnixOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return sec<<32 | frac
}

func near(a, b, tol time.Duration) bool {
	d := a - b
	return d <= tol && d >= -tol
}

func TestSyncEstimate(t *testing.T) {
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewSync(newTestClock(epoch), false)
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	steps := []struct {
		ntp, arrival time.Duration
		want         time.Duration // offset after the step
	}{
		{ms(1000), ms(1050), ms(50)},                         // first sample taken as is
		{ms(1020), ms(1090), ms(50) + 20*time.Microsecond},   // 40 ms later, more delay: slow rise
		{ms(1040), ms(1070), ms(30)},                         // less delay: taken at once
		{ms(3040), ms(3170), ms(30) + 1040*time.Microsecond}, // 2.08 s of slew, capped
	}
	for i, st := range steps {
		s.observe(st.ntp, st.arrival)
		if got := s.jobTime(0); got != st.want {
			t.Errorf("step %d: offset %v, want %v", i, got, st.want)
		}
	}
	if ntp := s.ntp(toNTP(epoch.Add(1500 * time.Millisecond))); !near(ntp, 1500*time.Millisecond, time.Microsecond) {
		t.Errorf("ntp conversion: %v, want 1.5s", ntp)
	}
}
