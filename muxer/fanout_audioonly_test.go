package muxer

import (
	"context"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// audioOnlyInfo is an audio-only job's stream info: no video stream.
var audioOnlyInfo = output.StreamInfo{Audio: testInfo.Audio}

// audioSynth produces an audio-only encoder's packets: 1024-sample AAC
// frames, every one a keyframe, 21.33 ms apart.
type audioSynth struct{ all []*output.Packet }

func (s *audioSynth) feed(t *testing.T, w PacketWriter, until time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			k := int64(len(s.all))
			if time.Duration(k)*1024*time.Second/48000 >= until {
				return
			}
			p := &output.Packet{Kind: output.Audio, PTS: k * 1024, DTS: k * 1024, Duration: 1024, Key: true, Data: make([]byte, 10)}
			s.all = append(s.all, p)
			w.WritePacket(p)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WritePacket blocked")
	}
}

func TestStreamInfoHasVideo(t *testing.T) {
	if !testInfo.HasVideo() {
		t.Error("a stream info with a 64x64 video says it has no video")
	}
	if audioOnlyInfo.HasVideo() {
		t.Error("an audio-only stream info says it has video")
	}
}

// TestFanoutAudioOnlyLateSinkStartsAtOnce: with no video there is no
// keyframe to wait for; a sink added mid-stream gets the very next packet.
func TestFanoutAudioOnlyLateSinkStartsAtOnce(t *testing.T) {
	f := NewFanout(audioOnlyInfo, nil)
	var s audioSynth
	s.feed(t, f, time.Second) // nobody listening yet
	from := len(s.all)
	late := &recSink{}
	if err := f.Add(context.Background(), "late", late, QueueOptions{MaxDelay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s.feed(t, f, 3*time.Second)
	closeFanout(t, f)
	samePackets(t, "late", late.received(), s.all[from:])
	if st := f.States()["late"]; st.Dropped != 0 || !st.Done {
		t.Errorf("late state %+v", st)
	}
}

// TestFanoutAudioOnlySlowSinkLosesSpans stalls a sink and checks that a full
// queue drops audioDropSpan (2 s) of audio at a time, not a frame here and
// there, that a fast sink misses nothing, and that the slow sink resumes
// with the first packet after the span once it has caught up.
func TestFanoutAudioOnlySlowSinkLosesSpans(t *testing.T) {
	f := NewFanout(audioOnlyInfo, nil)
	var s audioSynth
	fast := &recSink{}
	blocked, release := make(chan struct{}), make(chan struct{})
	slow := &recSink{hook: func(ctx context.Context, p *output.Packet) error {
		if p.PTS == 50*1024 {
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
	s.feed(t, f, 1100*time.Millisecond)
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("slow sink never reached frame 50")
	}
	// Stuck at frame 50 (1.067 s) with 51 (1.088 s) at the queue's head:
	// frame 192 (4.096 s) is the first more than 3 s past it. It and the
	// 2 s after it go (to frame 285), then frame 286 finds the queue still
	// full and starts another 2 s span (to 379).
	s.feed(t, f, 8*time.Second)
	if st := f.States()["slow"]; !st.Running || st.Dropped != int64(len(s.all)-192) {
		t.Errorf("slow sink state %+v while stalled, want %d dropped", st, len(s.all)-192)
	}
	close(release)
	waitFor(t, "the slow sink to drain", func() bool { return slow.has(s.all[191]) })
	s.feed(t, f, 10*time.Second)
	closeFanout(t, f)

	samePackets(t, "fast", fast.received(), s.all)
	want := append(append([]*output.Packet(nil), s.all[:192]...), s.all[380:]...)
	samePackets(t, "slow", slow.received(), want)
	if st := f.States()["slow"]; st.Dropped != 380-192 {
		t.Errorf("slow dropped %d packets, want %d", st.Dropped, 380-192)
	}
}
