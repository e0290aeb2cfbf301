package muxer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

var testInfo = output.StreamInfo{
	Video: output.VideoInfo{Width: 64, Height: 64, FPS: 30, TimeBase: output.Rational{Num: 1, Den: 30}},
	Audio: output.AudioInfo{SampleRate: 48000, Channels: 2, TimeBase: output.Rational{Num: 1, Den: 48000}},
}

// synth produces the encoder's packet pattern: 30 fps video with a keyframe
// every 60 frames, 1024-sample AAC frames, in time order (video first on a
// tie, as the encoder emits a frame's video before the audio of its tick).
// The fanout looks at nothing else.
type synth struct {
	v, a int64
	all  []*output.Packet
}

func (s *synth) next() *output.Packet {
	var p *output.Packet
	if s.a*1024*30 < s.v*48000 {
		p = &output.Packet{Kind: output.Audio, PTS: s.a * 1024, DTS: s.a * 1024, Duration: 1024, Key: true, Data: make([]byte, 10)}
		s.a++
	} else {
		p = &output.Packet{Kind: output.Video, PTS: s.v, DTS: s.v, Duration: 1, Key: s.v%60 == 0, Data: make([]byte, 100)}
		s.v++
	}
	s.all = append(s.all, p)
	return p
}

// feed writes packets until the next one would be at or after until.
func (s *synth) feed(w PacketWriter, until time.Duration) {
	for {
		vt := time.Duration(s.v) * time.Second / 30
		at := time.Duration(s.a) * 1024 * time.Second / 48000
		if min(vt, at) >= until {
			return
		}
		w.WritePacket(s.next())
	}
}

func (s *synth) find(k output.StreamKind, pts int64) int {
	for i, p := range s.all {
		if p.Kind == k && p.PTS == pts {
			return i
		}
	}
	panic(fmt.Sprintf("no %s packet at %d", k, pts))
}

// recSink is an in-test Sink that records what it receives.
type recSink struct {
	openErr  error
	openGate chan struct{}                                     // Open waits for it when set
	hook     func(ctx context.Context, p *output.Packet) error // runs in Write before recording
	rep      output.Reporter

	mu     sync.Mutex
	got    []*output.Packet
	closes int
}

func (s *recSink) Open(ctx context.Context, _ output.StreamInfo, r output.Reporter) error {
	s.mu.Lock()
	s.rep = r
	s.mu.Unlock()
	if s.openGate != nil {
		select {
		case <-s.openGate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.openErr
}

func (s *recSink) Write(ctx context.Context, p *output.Packet) error {
	if s.hook != nil {
		if err := s.hook(ctx, p); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.got = append(s.got, p)
	s.mu.Unlock()
	return nil
}

func (s *recSink) Close() error {
	s.mu.Lock()
	s.closes++
	s.mu.Unlock()
	return nil
}

func (s *recSink) received() []*output.Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*output.Packet(nil), s.got...)
}

func (s *recSink) closeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closes
}

func (s *recSink) has(p *output.Packet) bool {
	for _, q := range s.received() {
		if q == p {
			return true
		}
	}
	return false
}

// events records OnChange calls.
type events struct {
	mu  sync.Mutex
	all map[string][]OutputState
}

func watch(f *Fanout) *events {
	e := &events{all: map[string][]OutputState{}}
	f.OnChange(func(name string, s OutputState) {
		e.mu.Lock()
		e.all[name] = append(e.all[name], s)
		e.mu.Unlock()
	})
	return e
}

func (e *events) of(name string) []OutputState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]OutputState(nil), e.all[name]...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// feedWithin feeds and fails the test if WritePacket blocks.
func feedWithin(t *testing.T, s *synth, w PacketWriter, until time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		s.feed(w, until)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WritePacket blocked")
	}
}

func samePackets(t *testing.T, name string, got, want []*output.Packet) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s received %d packets, want %d", name, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("%s packet %d is %s %d, want %s %d", name, i, got[i].Kind, got[i].PTS, want[i].Kind, want[i].PTS)
			return
		}
	}
}

func closeFanout(t *testing.T, f *Fanout) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFanoutSlowSinkLosesWholeGOPs stalls one sink in the middle of its
// second GOP and checks that the writer and a fast sink carry on, that the
// stalled sink loses exactly the GOPs that did not fit in its queue (audio
// included), and that it resumes at a keyframe.
func TestFanoutSlowSinkLosesWholeGOPs(t *testing.T) {
	f := NewFanout(testInfo, nil)
	var s synth
	fast := &recSink{}
	blocked, release := make(chan struct{}), make(chan struct{})
	slow := &recSink{hook: func(ctx context.Context, p *output.Packet) error {
		if p.Kind == output.Video && p.PTS == 70 {
			close(blocked)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	}}
	if err := f.Add(context.Background(), "fast", fast, QueueOptions{MaxDelay: time.Hour, MaxPackets: 100_000}); err != nil {
		t.Fatal(err)
	}
	if err := f.Add(context.Background(), "slow", slow, QueueOptions{MaxDelay: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}

	feedWithin(t, &s, f, 2500*time.Millisecond)
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("slow sink never reached video 70")
	}
	// The slow sink is stuck at 2.33 s with 2.35 s onwards queued. Another
	// 7.5 s must neither block the writer nor hold up the fast sink.
	feedWithin(t, &s, f, 10*time.Second)
	waitFor(t, "the fast sink to catch up", func() bool { return len(fast.received()) == len(s.all) })
	if st := f.States()["slow"]; !st.Running || st.Dropped == 0 || st.Queued == 0 {
		t.Errorf("slow sink state %+v while stalled, want running with drops and a queue", st)
	}
	if st := f.States()["fast"]; st.Queued != 0 {
		t.Errorf("fast sink has %d packets queued once caught up", st.Queued)
	}

	// The queue overflowed at 5.35 s, 3 s past its head. Its last GOP
	// (from 4 s) was taken back, and everything up to 10 s was dropped:
	// the keyframes at 6 s and 8 s found the queue still full. The last
	// packet kept is the audio frame just before video 120.
	lastKept := s.find(output.Audio, 187*1024)
	if s.find(output.Video, 120) != lastKept+1 {
		t.Fatal("test stream layout changed")
	}
	close(release)
	waitFor(t, "the slow sink to drain", func() bool { return slow.has(s.all[lastKept]) })
	resume := len(s.all)
	// Less than the queue's 3 s in one burst, so nothing depends on how
	// fast the sink's goroutine gets going.
	feedWithin(t, &s, f, 12500*time.Millisecond)
	if p := s.all[resume]; p.Kind != output.Video || !p.Key || p.PTS != 300 {
		t.Fatalf("phase 2 starts with %s %d", p.Kind, p.PTS)
	}
	closeFanout(t, f)

	samePackets(t, "fast", fast.received(), s.all)
	want := append(append([]*output.Packet(nil), s.all[:lastKept+1]...), s.all[resume:]...)
	samePackets(t, "slow", slow.received(), want)
	// Spelled out: video 120..299 (three whole GOPs) and the audio of
	// 4.0..10.0 s are gone, and the sink resumed at the 10 s keyframe.
	var gap []int64
	got := slow.received()
	for i := 1; i < len(got); i++ {
		if got[i].Kind == output.Video {
			for j := i - 1; j >= 0; j-- {
				if got[j].Kind == output.Video {
					if got[i].PTS != got[j].PTS+1 {
						gap = append(gap, got[j].PTS+1, got[i].PTS-1)
						if !got[i].Key {
							t.Errorf("slow sink resumed at non-keyframe %d", got[i].PTS)
						}
					}
					break
				}
			}
		}
	}
	if fmt.Sprint(gap) != "[120 299]" {
		t.Errorf("slow sink lost video %v, want [120 299]", gap)
	}
	st := f.States()
	if st["fast"].Dropped != 0 || !st["fast"].Done || st["fast"].Err != nil {
		t.Errorf("fast state %+v", st["fast"])
	}
	if d := int64(resume - lastKept - 1); st["slow"].Dropped != d {
		t.Errorf("slow dropped %d, want %d", st["slow"].Dropped, d)
	}
	var bytes int64
	for _, p := range slow.received() {
		bytes += int64(len(p.Data))
	}
	if st["slow"].Bytes != bytes {
		t.Errorf("slow bytes %d, want %d", st["slow"].Bytes, bytes)
	}
}

var errBroken = errors.New("ingest went away")

func TestFanoutFailingSinkEndsAlone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sink      func() *recSink
		wantBytes int64
		wantErr   string
	}{
		{"open fails", func() *recSink { return &recSink{openErr: errBroken} }, 0, "opening"},
		{"write fails", func() *recSink {
			n := 0
			return &recSink{hook: func(context.Context, *output.Packet) error {
				if n++; n == 50 {
					return errBroken
				}
				return nil
			}}
		}, -1, "writing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFanout(testInfo, nil)
			ev := watch(f)
			good, bad := &recSink{}, tc.sink()
			big := QueueOptions{MaxDelay: time.Hour, MaxPackets: 100_000}
			if err := f.Add(context.Background(), "good", good, big); err != nil {
				t.Fatal(err)
			}
			if err := f.Add(context.Background(), "bad", bad, big); err != nil {
				t.Fatal(err)
			}
			var s synth
			feedWithin(t, &s, f, 3*time.Second)
			waitFor(t, "the bad sink to end", func() bool { return f.States()["bad"].Done })
			feedWithin(t, &s, f, 6*time.Second)
			closeFanout(t, f)

			st := f.States()["bad"]
			if st.Running || !st.Done || !errors.Is(st.Err, errBroken) || !strings.Contains(st.Err.Error(), tc.wantErr) || st.Errors != 1 {
				t.Errorf("bad state %+v, want done with one error", st)
			}
			if got := bad.closeCount(); got != 1 {
				t.Errorf("bad sink closed %d times", got)
			}
			var bytes int64
			for _, p := range bad.received() {
				bytes += int64(len(p.Data))
			}
			if st.Bytes != bytes || (tc.wantBytes >= 0 && bytes != tc.wantBytes) {
				t.Errorf("bad sink bytes %d, received %d", st.Bytes, bytes)
			}
			if evs := ev.of("bad"); len(evs) == 0 || !evs[len(evs)-1].Done || evs[len(evs)-1].Err == nil {
				t.Errorf("OnChange for bad: %+v", evs)
			}
			samePackets(t, "good", good.received(), s.all)
			if gs := f.States()["good"]; gs.Err != nil || gs.Dropped != 0 || gs.Errors != 0 || gs.Queued != 0 {
				t.Errorf("good state %+v", gs)
			}
		})
	}
}

func TestFanoutLateSinkStartsAtKeyframe(t *testing.T) {
	f := NewFanout(testInfo, nil)
	var s synth
	feedWithin(t, &s, f, time.Second) // nobody listening yet
	late := &recSink{}
	if err := f.Add(context.Background(), "late", late, QueueOptions{MaxDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	feedWithin(t, &s, f, 5*time.Second)
	closeFanout(t, f)
	samePackets(t, "late", late.received(), s.all[s.find(output.Video, 60):])
	if st := f.States()["late"]; st.Dropped != 0 || !st.Done {
		t.Errorf("late state %+v", st)
	}
}

func TestFanoutRemove(t *testing.T) {
	f := NewFanout(testInfo, nil)
	big := QueueOptions{MaxDelay: time.Hour, MaxPackets: 100_000}
	// "a" stalls in Write until its context ends: Remove must cut it off.
	a := &recSink{hook: func(ctx context.Context, p *output.Packet) error {
		if p.Kind == output.Video && p.PTS == 10 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	b := &recSink{}
	ev := watch(f)
	for name, s := range map[string]*recSink{"a": a, "b": b} {
		if err := f.Add(context.Background(), name, s, big); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Add(context.Background(), "b", &recSink{}, big); err == nil {
		t.Error("Add accepted a duplicate name")
	}
	var s synth
	feedWithin(t, &s, f, time.Second)
	if err := f.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if a.closeCount() != 1 {
		t.Errorf("removed sink closed %d times", a.closeCount())
	}
	if _, ok := f.States()["a"]; ok {
		t.Error("removed output still listed")
	}
	if evs := ev.of("a"); len(evs) == 0 || !evs[len(evs)-1].Done || evs[len(evs)-1].Err != nil {
		t.Errorf("removed output's last events %+v, want Done without error", evs)
	}
	if err := f.Remove("a"); err == nil {
		t.Error("second Remove succeeded")
	}
	// The name is free again; the new sink starts at the next keyframe.
	a2 := &recSink{}
	if err := f.Add(context.Background(), "a", a2, big); err != nil {
		t.Fatal(err)
	}
	feedWithin(t, &s, f, 3*time.Second)
	closeFanout(t, f)
	samePackets(t, "b", b.received(), s.all)
	samePackets(t, "re-added a", a2.received(), s.all[s.find(output.Video, 60):])
	if err := f.Add(context.Background(), "c", &recSink{}, big); err == nil {
		t.Error("Add after Close succeeded")
	}
}

// TestFanoutOpenAndReports checks that a slow Open holds up nothing and that
// Running, Retries and Err follow the sink's reports.
func TestFanoutOpenAndReports(t *testing.T) {
	f := NewFanout(testInfo, nil)
	ev := watch(f)
	gate := make(chan struct{})
	s := &recSink{openGate: gate}
	if err := f.Add(context.Background(), "rtmp", s, QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	var sy synth
	feedWithin(t, &sy, f, time.Second)
	if st := f.States()["rtmp"]; st.Running || st.Done {
		t.Errorf("state while opening %+v", st)
	}
	close(gate)
	waitFor(t, "running", func() bool { return f.States()["rtmp"].Running })
	waitFor(t, "the queued second", func() bool { return len(s.received()) == len(sy.all) })

	s.mu.Lock()
	rep := s.rep
	s.mu.Unlock()
	lost := errors.New("connection reset")
	rep.Report(output.SinkState{Running: false, Retries: 1, Err: lost})
	if st := f.States()["rtmp"]; st.Running || st.Retries != 1 || !errors.Is(st.Err, lost) || st.Done {
		t.Errorf("state after a failure report %+v", st)
	}
	rep.Report(output.SinkState{Running: false, Retries: 2, Err: lost}) // the same outage: not a second error
	rep.Report(output.SinkState{Running: true, Retries: 1})
	rep.Report(output.SinkState{Running: true, Retries: 1}) // no change, no event
	rep.Report(output.SinkState{Running: false, Retries: 2, Err: lost})
	rep.Report(output.SinkState{Running: true, Retries: 2})
	if st := f.States()["rtmp"]; st.Errors != 2 {
		t.Errorf("errors counted %d after two outages, want 2", st.Errors)
	}
	feedWithin(t, &sy, f, 2*time.Second) // bytes change, no event
	closeFanout(t, f)

	type ev4 struct {
		Running bool
		Retries int
		Err     string
		Done    bool
	}
	var got []ev4
	for _, e := range ev.of("rtmp") {
		got = append(got, ev4{e.Running, e.Retries, errText(e.Err), e.Done})
	}
	want := []ev4{
		{true, 0, "", false},
		{false, 1, "connection reset", false},
		{false, 2, "connection reset", false},
		{true, 1, "", false},
		{false, 2, "connection reset", false},
		{true, 2, "", false},
		{false, 2, "", true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OnChange events\n got %v\nwant %v", got, want)
	}
}

func TestFanoutCloseDrainsWithinContext(t *testing.T) {
	for _, tc := range []struct {
		name    string
		delay   time.Duration // per Write
		timeout time.Duration
		wantErr bool
	}{
		{"drains everything", time.Millisecond, 5 * time.Second, false},
		{"cut short", time.Hour, 200 * time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFanout(testInfo, nil)
			s := &recSink{hook: func(ctx context.Context, _ *output.Packet) error {
				select {
				case <-time.After(tc.delay):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}
			if err := f.Add(context.Background(), "x", s, QueueOptions{}); err != nil {
				t.Fatal(err)
			}
			var sy synth
			feedWithin(t, &sy, f, 2*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			err := f.Close(ctx)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Close = %v", err)
			}
			if took := time.Since(start); took > tc.timeout+time.Second {
				t.Errorf("Close took %v", took)
			}
			st := f.States()["x"]
			if !st.Done || st.Err != nil || s.closeCount() != 1 {
				t.Errorf("state %+v, closes %d", st, s.closeCount())
			}
			if !tc.wantErr {
				samePackets(t, "x", s.received(), sy.all)
			}
			f.WritePacket(sy.next()) // ignored after Close, must not panic
		})
	}
}
