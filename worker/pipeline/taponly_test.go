package pipeline

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// recTap keeps copies of what a Tap is given.
type recTap struct {
	frames [][]byte
	keys   []bool
}

func (r *recTap) Frame(data []byte, _ time.Duration, key bool) {
	r.frames = append(r.frames, bytes.Clone(data))
	r.keys = append(r.keys, key)
}

// TestTapOnly runs a video track with no decoder, as an audio-only job
// records its video tracks: the tap gets every frame as sent, byte for
// byte, and nothing is decoded.
func TestTapOnly(t *testing.T) {
	vc := videoCodecs()[0]
	frames := encodeVideo(t, vc, "testsrc2=size=160x120:rate=30", 30)
	clk := newTestClock(testEpoch)
	tr := newTestTrack("cam", "peer", vc.mime, 90000, clk, packetize(frames, vc.payloader(), 90000, 3000, 7, 100, 5000, startAt, frameStep), nil)
	if _, err := New(Config{Track: tr, Clock: clk, TapOnly: true}); err == nil {
		t.Error("New accepted TapOnly without a Tap")
	}
	tap := &recTap{}
	p, err := New(Config{Track: tr, Clock: clk, Tap: tap, TapOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if len(tap.frames) != len(frames) {
		t.Fatalf("tap got %d frames, want %d", len(tap.frames), len(frames))
	}
	for i, f := range frames {
		if !bytes.Equal(tap.frames[i], f) || tap.keys[i] != vc.isKey(f) {
			t.Fatalf("frame %d: %d bytes key %v, want the %d bytes sent (key %v)", i, len(tap.frames[i]), tap.keys[i], len(f), vc.isKey(f))
		}
	}
	if st := p.Stats(); st.FramesDecoded != 0 || st.Packets == 0 || st.Lost != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := p.Run(ctx); err == nil {
		t.Error("Run after Close succeeded")
	}
}
