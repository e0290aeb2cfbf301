package muxer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// blockingSink's Write blocks from video packet at on until release is
// closed or its context ends, as a socket that stopped draining does.
func blockingSink(at int64, release <-chan struct{}) (*recSink, <-chan struct{}, <-chan struct{}) {
	blocked, cancelled := make(chan struct{}), make(chan struct{})
	s := &recSink{hook: func(ctx context.Context, p *output.Packet) error {
		if p.Kind != output.Video || p.PTS != at {
			return nil
		}
		close(blocked)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			close(cancelled)
			return ctx.Err()
		}
	}}
	return s, blocked, cancelled
}

// TestFanoutStallReported: a Write that does not return for StallAfter
// makes the output not running, with a StallError, told through OnChange;
// once it returns, the output runs again without an error. The writer and
// another sink are not held up meanwhile.
func TestFanoutStallReported(t *testing.T) {
	f := NewFanout(testInfo, nil)
	ev := watch(f)
	var s synth
	release := make(chan struct{})
	slow, blocked, _ := blockingSink(30, release)
	fast := &recSink{}
	stallAfter := 300 * time.Millisecond
	if err := f.Add(context.Background(), "slow", slow, QueueOptions{StallAfter: stallAfter}); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(context.Background(), "fast", fast, QueueOptions{MaxDelay: time.Hour, MaxPackets: 100_000}); err != nil {
		t.Fatal(err)
	}
	feedWithin(t, &s, f, 2*time.Second)
	<-blocked
	since := time.Now()
	if st := f.States()["slow"]; !st.Running || st.Stalled || st.Err != nil {
		t.Fatalf("slow sink %+v just after its Write blocked, want still running", st)
	}
	waitFor(t, "the stall to show", func() bool { return f.States()["slow"].Stalled })
	took := time.Since(since)
	st := f.States()["slow"]
	var se *StallError
	if st.Running || !errors.As(st.Err, &se) || se.Output != "slow" || se.After != stallAfter || st.Stalls != 1 || st.Errors != 1 {
		t.Fatalf("stalled sink state %+v, want not running with a StallError, 1 stall, 1 error", st)
	}
	if took < stallAfter {
		t.Errorf("stall reported %v after the Write blocked, before StallAfter %v", took, stallAfter)
	}
	t.Logf("stall reported %v after the Write blocked (StallAfter %v): %v", took, stallAfter, st.Err)
	if fs := f.States()["fast"]; !fs.Running || fs.Stalled || fs.Err != nil {
		t.Errorf("the other sink %+v", fs)
	}
	feedWithin(t, &s, f, 4*time.Second)
	waitFor(t, "the fast sink", func() bool { return len(fast.received()) == len(s.all) })

	close(release)
	waitFor(t, "the stall to end", func() bool { st := f.States()["slow"]; return st.Running && st.Err == nil })
	closeFanout(t, f)
	// Running, stalled (not running, the error), running again, done.
	var seen []string
	for _, e := range ev.of("slow") {
		switch {
		case e.Done:
			seen = append(seen, "done")
		case e.Stalled && !e.Running && errors.As(e.Err, &se):
			seen = append(seen, "stalled")
		case e.Running && e.Err == nil:
			seen = append(seen, "running")
		default:
			seen = append(seen, "other")
		}
	}
	if got := strings.Join(seen, " "); got != "running stalled running done" {
		t.Errorf("OnChange saw %q, want %q", got, "running stalled running done")
	}
}

// TestFanoutCloseStopsStalledSink: Close does not wait for an output whose
// Write never returns, whether it stalled before Close or while draining:
// it is stopped StallAfter into its stall at the latest, its context
// cancelled and its sink closed, and it ends reporting the stall; a healthy
// output still writes its whole queue.
func TestFanoutCloseStopsStalledSink(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   int64 // the video packet whose Write blocks
	}{
		{"stalled before close", 30},
		{"stalls while draining", 119},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFanout(testInfo, nil)
			var s synth
			stallAfter := 300 * time.Millisecond
			slowGate := make(chan struct{}) // holds the slow sink before its packet, so its queue is full at Close
			inner, blocked, cancelled := blockingSink(tc.at, nil)
			slow := &recSink{hook: func(ctx context.Context, p *output.Packet) error {
				if tc.at > 30 {
					select {
					case <-slowGate:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return inner.hook(ctx, p)
			}}
			fast := &recSink{}
			if err := f.Add(context.Background(), "slow", slow, QueueOptions{StallAfter: stallAfter, MaxDelay: time.Hour, MaxPackets: 100_000}); err != nil {
				t.Fatal(err)
			}
			if err := f.Add(context.Background(), "fast", fast, QueueOptions{MaxDelay: time.Hour, MaxPackets: 100_000}); err != nil {
				t.Fatal(err)
			}
			feedWithin(t, &s, f, 4100*time.Millisecond)
			if tc.at == 30 {
				<-blocked
				waitFor(t, "the stall", func() bool { return f.States()["slow"].Stalled })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			errc := make(chan error, 1)
			go func() { errc <- f.Close(ctx) }()
			if tc.at > 30 {
				close(slowGate)
			}
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Close: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close waits on the stalled sink")
			}
			took := time.Since(start)
			t.Logf("Close returned after %v", took)
			if took > stallAfter+2*time.Second {
				t.Errorf("Close took %v with a stalled sink, want about StallAfter (%v) at most", took, stallAfter)
			}
			select {
			case <-cancelled:
			default:
				t.Error("the stalled Write's context was not cancelled")
			}
			if slow.closeCount() != 1 {
				t.Errorf("the stalled sink was closed %d times", slow.closeCount())
			}
			samePackets(t, "fast", fast.received(), s.all)
			var se *StallError
			if st := slowFinal(t, f, slow); st.Running || !st.Stalled || !errors.As(st.Err, &se) {
				t.Errorf("the stalled sink ended %+v, want not running and its StallError", st)
			}
		})
	}
}

// slowFinal is the last state the slow output reported.
func slowFinal(t *testing.T, f *Fanout, _ *recSink) OutputState {
	t.Helper()
	f.mu.RLock()
	o := f.outputs["slow"]
	f.mu.RUnlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stateLocked()
}
