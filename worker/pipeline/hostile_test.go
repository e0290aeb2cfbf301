package pipeline

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestHostileVideo sends streams a broken or malicious sender could send: a
// keyframe claiming a picture too big to decode, one FFmpeg decodes but no
// compositor should take, a truncated keyframe, another codec's frames and
// random bytes. Keyframes come every 15 frames (0, 15, 30) and only the
// second GOP is bad. Whatever it is, the pipeline must not hand the Sink a
// picture over the limits, must ask for a keyframe, and must show the
// stream again from the good keyframe at 30.
func TestHostileVideo(t *testing.T) {
	vp8 := videoCodecs()[0]
	vp9 := videoCodecs()[1]
	good := encodeVideo(t, vp8, "testsrc2=size=320x240:rate=30", 45)
	other := encodeVideo(t, vp9, "testsrc2=size=320x240:rate=30", 45)
	for _, k := range []int{0, 15, 30} {
		if !vp8.isKey(good[k]) {
			t.Fatalf("frame %d is not a keyframe", k)
		}
	}
	setSize := func(w, h int) func([][]byte) {
		return func(fs [][]byte) {
			binary.LittleEndian.PutUint16(fs[15][6:], uint16(w))
			binary.LittleEndian.PutUint16(fs[15][8:], uint16(h))
		}
	}
	for _, tc := range []struct {
		name string
		bad  func(frames [][]byte)
		// errors: the decoder must have failed on it (else it may
		// conceal); oversize: decoded, then refused for its size.
		errors, oversize bool
	}{
		{"keyframe claiming 16383x16383", setSize(16383, 16383), true, false},
		{"keyframe claiming 8000x8000 (FFmpeg alone would decode it)", setSize(8000, 8000), true, false},
		{"keyframe claiming 16000x2000 (under max_pixels, over a side)", setSize(16000, 2000), false, true},
		{"keyframe cut to a third", func(fs [][]byte) { fs[15] = fs[15][:len(fs[15])/3] }, false, false},
		{"VP9 frames in the VP8 track", func(fs [][]byte) { copy(fs[15:30], other[15:30]) }, true, false},
		{"random bytes", func(fs [][]byte) {
			rng := rand.New(rand.NewPCG(7, 8))
			for i := 15; i < 30; i++ {
				for j := range fs[i] {
					fs[i][j] = byte(rng.Uint32())
				}
			}
		}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := make([][]byte, len(good))
			for i, f := range good {
				frames[i] = bytes.Clone(f)
			}
			tc.bad(frames)
			pkts := packetize(frames, vp8.payloader(), 90000, 3000, 1, 0, 0, startAt, frameStep)
			tr := newTestTrack("cam", "peer", vp8.mime, 90000, newTestClock(testEpoch), pkts, nil)
			sink := &recSink{}
			st := run(t, tr, nil, sink)
			for i, v := range sink.video {
				if v.w > maxFrameSide || v.h > maxFrameSide || v.w*v.h > maxPixels {
					t.Fatalf("frame %d pushed at %dx%d", i, v.w, v.h)
				}
			}
			var before, after int
			for _, v := range sink.video {
				switch idx := frameIndex(t, v.t); {
				case idx < 15 && v.w == 320 && v.h == 240:
					before++
				case idx >= 30 && v.w == 320 && v.h == 240:
					after++
				}
			}
			if before != 15 || after != 15 {
				t.Errorf("decoded %d good frames before the bad GOP and %d after, want 15 and 15 (stats %+v)", before, after, st)
			}
			if tc.errors && (st.DecodeErrors == 0 || st.KeyframeRequests == 0 || tr.plis.Load() == 0) {
				t.Errorf("stats %+v, PLIs %d: want decode errors and a keyframe request", st, tr.plis.Load())
			}
			if tc.oversize && (st.FramesOversize == 0 || st.KeyframeRequests == 0) {
				t.Errorf("stats %+v: want the oversize frame dropped and a keyframe asked for", st)
			}
			t.Logf("decoded %d, stats %+v", len(sink.video), st)
		})
	}
}

// TestCodecSwitch sends a VP8 track whose sender switches to VP9 for the
// second GOP, under VP9's payload type, and back: the VP9 packets are
// dropped and counted before they reach the VP8 depacketizer, the tile
// keeps its last frame, and VP8 shows again from its keyframe.
func TestCodecSwitch(t *testing.T) {
	vp8, vp9 := videoCodecs()[0], videoCodecs()[1]
	a := encodeVideo(t, vp8, "testsrc2=size=320x240:rate=30", 45)
	b := encodeVideo(t, vp9, "testsrc2=size=320x240:rate=30", 45)
	pkts := packetize(a, vp8.payloader(), 90000, 3000, 1, 0, 0, startAt, frameStep)
	other := packetize(b, vp9.payloader(), 90000, 3000, 1, 0, 0, startAt, frameStep)
	var sent []sentPacket
	var seq uint16
	inserted := false
	for _, sp := range pkts {
		if sp.frame == 15 && !inserted {
			inserted = true
			// The second GOP in VP9, packets numbered on.
			for _, o := range other {
				if o.frame >= 15 && o.frame < 30 {
					o.pkt.PayloadType = 98
					o.pkt.SequenceNumber = seq
					seq++
					sent = append(sent, o)
				}
			}
		}
		if sp.frame >= 15 && sp.frame < 30 {
			continue
		}
		sp.pkt.SequenceNumber = seq
		seq++
		sent = append(sent, sp)
	}
	tr := newTestTrack("cam", "peer", vp8.mime, 90000, newTestClock(testEpoch), sent, nil)
	sink := &recSink{}
	st := run(t, tr, nil, sink)
	var vp9Packets uint64
	for _, o := range other {
		if o.frame >= 15 && o.frame < 30 {
			vp9Packets++
		}
	}
	if st.OtherPayloadType != vp9Packets || st.DecodeErrors != 0 || len(sink.video) != 30 {
		t.Errorf("stats %+v, %d frames decoded: want the %d VP9 packets dropped, no decode error, 30 VP8 frames", st, len(sink.video), vp9Packets)
	}
}
