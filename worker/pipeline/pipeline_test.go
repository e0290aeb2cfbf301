package pipeline

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomcast/roomcast/internal/mediaclock"
)

const (
	frameStep = time.Second / 30
	startAt   = time.Second // arrival of the first packet
)

var testEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// frameIndex turns a sink time back into the frame index, for streams whose
// first frame arrived at startAt and whose times come from RTP timestamps.
func frameIndex(t *testing.T, d time.Duration) int {
	t.Helper()
	i := int(math.Round(float64(d-startAt) / float64(frameStep)))
	if !near(d, startAt+time.Duration(i)*frameStep, time.Millisecond) {
		t.Errorf("time %v is not on a frame of the 30 fps grid from %v", d, startAt)
	}
	return i
}

func indexRange(from, to int) []int {
	var r []int
	for i := from; i < to; i++ {
		r = append(r, i)
	}
	return r
}

func TestVideo(t *testing.T) {
	for _, vc := range videoCodecs() {
		t.Run(vc.name, func(t *testing.T) {
			t.Run("solid colour", func(t *testing.T) { testSolidColour(t, vc) })
			frames := encodeVideo(t, vc, "testsrc2=size=320x240:rate=30", 45)
			keys := make([]bool, len(frames))
			for i, f := range frames {
				keys[i] = vc.isKey(f)
			}
			if !keys[0] {
				t.Fatal("first encoded frame is not a keyframe")
			}
			send := func() []sentPacket {
				return packetize(frames, vc.payloader(), 90000, 3000, 0x1234, 65500, 0xfffe0000, startAt, frameStep)
			}
			t.Run("reorder and duplicates", func(t *testing.T) { testReorderDup(t, vc, send()) })
			t.Run("lost packet", func(t *testing.T) { testLoss(t, vc, send(), keys) })
			t.Run("join mid-stream", func(t *testing.T) { testMidStream(t, vc, send(), keys) })
			if vc.name == "H264" {
				t.Run("parameter sets in packets of their own", func(t *testing.T) { testH264ParamsApart(t, frames) })
			}
		})
	}
}

func testSolidColour(t *testing.T, vc videoCodec) {
	frames := encodeVideo(t, vc, "color=c=red:size=320x240:rate=30", 30)
	clk := newTestClock(testEpoch)
	// Sequence numbers and timestamps wrap in the middle of the clip.
	pkts := packetize(frames, vc.payloader(), 90000, 3000, 0xabcd, 65530, 0xffffffff-3000*10, startAt, frameStep)
	tr := newTestTrack("cam", "peer", vc.mime, 90000, clk, pkts, nil)
	sink := &recSink{}
	st := run(t, tr, nil, sink)

	if len(sink.video) != len(frames) {
		t.Fatalf("decoded %d frames, want %d (stats %+v)", len(sink.video), len(frames), st)
	}
	for i, r := range sink.video {
		if r.w != 320 || r.h != 240 {
			t.Fatalf("frame %d is %dx%d, want 320x240", i, r.w, r.h)
		}
		// ffmpeg's red in BT.601 limited range: Y 81, U 90, V 240.
		if absDiff(r.y, 81) > 6 || absDiff(r.u, 90) > 6 || absDiff(r.v, 240) > 6 {
			t.Fatalf("frame %d centre YUV = %d,%d,%d, want about 81,90,240", i, r.y, r.u, r.v)
		}
		if want := startAt + time.Duration(i)*frameStep; !near(r.t, want, time.Millisecond) {
			t.Errorf("frame %d at %v, want %v", i, r.t, want)
		}
	}
	t.Logf("%d packets, centre YUV of the last frame %d,%d,%d", len(pkts), sink.video[len(sink.video)-1].y, sink.video[len(sink.video)-1].u, sink.video[len(sink.video)-1].v)
	if n := tr.plis.Load(); n != 0 {
		t.Errorf("%d keyframe requests on a clean stream starting with a keyframe", n)
	}
	if st.Packets != uint64(len(pkts)) || st.Lost != 0 || st.FramesDecoded != uint64(len(frames)) || st.LastMediaTime != sink.video[len(sink.video)-1].t {
		t.Errorf("stats %+v", st)
	}
}

func testReorderDup(t *testing.T, vc videoCodec, pkts []sentPacket) {
	// The network swaps every sixth pair of packets and repeats every ninth
	// packet; arrival times stay in reading order.
	var sent []sentPacket
	for i := 0; i < len(pkts); i++ {
		if i%6 == 2 && i+1 < len(pkts) {
			a, b := pkts[i], pkts[i+1]
			a.arrival, b.arrival = b.arrival, a.arrival
			sent = append(sent, b, a)
			i++
			continue
		}
		sent = append(sent, pkts[i])
		if i%9 == 4 {
			sent = append(sent, pkts[i])
		}
	}
	tr := newTestTrack("cam", "peer", vc.mime, 90000, newTestClock(testEpoch), sent, nil)
	sink := &recSink{}
	st := run(t, tr, nil, sink)
	var got []int
	for _, r := range sink.video {
		got = append(got, frameIndex(t, r.t))
	}
	if want := indexRange(0, 45); !slices.Equal(got, want) {
		t.Errorf("decoded frames %v, want %v", got, want)
	}
	if st.Reordered == 0 || st.Duplicates == 0 || st.Lost != 0 || st.Late != 0 || st.FramesDropped != 0 {
		t.Errorf("stats %+v: want reordered and duplicates, no loss", st)
	}
	if n := tr.plis.Load(); n != 0 {
		t.Errorf("%d keyframe requests without loss", n)
	}
}

func testLoss(t *testing.T, vc videoCodec, pkts []sentPacket, keys []bool) {
	// Drop the second packet of the first inter frame from 17 on that has
	// more than one, with a keyframe after it.
	count := map[int]int{}
	for _, p := range pkts {
		count[p.frame]++
	}
	lost := -1
	for i := 17; i < len(keys) && lost < 0; i++ {
		if !keys[i] && count[i] > 1 {
			lost = i
		}
	}
	next := -1
	for i := lost + 1; lost >= 0 && i < len(keys); i++ {
		if keys[i] {
			next = i
			break
		}
	}
	if lost < 0 || next < 0 {
		t.Fatalf("clip has no multi-packet inter frame followed by a keyframe (keys %v)", keys)
	}
	var sent []sentPacket
	dropped := false
	for k, p := range pkts {
		if !dropped && p.frame == lost && k > 0 && pkts[k-1].frame == lost {
			dropped = true
			continue
		}
		sent = append(sent, p)
	}
	tr := newTestTrack("cam", "peer", vc.mime, 90000, newTestClock(testEpoch), sent, nil)
	sink := &recSink{}
	st := run(t, tr, nil, sink)
	var got []int
	for _, r := range sink.video {
		got = append(got, frameIndex(t, r.t))
	}
	t.Logf("dropped a packet of frame %d (%d packets), next keyframe %d; stats %+v", lost, count[lost], next, st)
	want := append(indexRange(0, lost), indexRange(next, len(keys))...)
	if !slices.Equal(got, want) {
		t.Errorf("lost a packet of frame %d, next keyframe %d: decoded %v, want %v", lost, next, got, want)
	}
	if n := tr.plis.Load(); n < 1 {
		t.Error("no keyframe request after the loss")
	}
	if st.Lost != 1 || st.FramesDropped != uint64(next-lost) || st.KeyframeRequests != uint64(tr.plis.Load()) {
		t.Errorf("stats %+v: want 1 lost, %d frames dropped", st, next-lost)
	}
}

func testMidStream(t *testing.T, vc videoCodec, pkts []sentPacket, keys []bool) {
	// The recorder joins at frame 3, an inter frame: nothing decodes before
	// the next keyframe, and it asks for one at once.
	if keys[3] {
		t.Fatal("frame 3 is a keyframe")
	}
	first := slices.IndexFunc(pkts, func(p sentPacket) bool { return p.frame == 3 })
	tr := newTestTrack("cam", "peer", vc.mime, 90000, newTestClock(testEpoch), pkts[first:], nil)
	sink := &recSink{}
	st := run(t, tr, nil, sink)
	next := 4 + slices.Index(keys[4:], true)
	if len(sink.video) != len(keys)-next {
		t.Errorf("decoded %d frames, want %d (from keyframe %d)", len(sink.video), len(keys)-next, next)
	}
	if tr.plis.Load() < 1 || st.FramesDropped != uint64(next-3) {
		t.Errorf("keyframe requests %d, stats %+v", tr.plis.Load(), st)
	}
}

// testH264ParamsApart sends SPS and PPS as single NAL unit packets ending
// with the marker bit, ahead of the IDR slice with the same timestamp, as some
// senders do: they are a frame of their own, and the decoder must get them
// although it is waiting for a keyframe.
func testH264ParamsApart(t *testing.T, frames [][]byte) {
	pz := rtp.NewPacketizerWithOptions(1200, &codecs.H264Payloader{DisableStapA: true}, rtp.NewFixedSequencer(100), 90000,
		rtp.WithSSRC(5), rtp.WithPayloadType(96), rtp.WithTimestamp(1000))
	var pkts []sentPacket
	split := 0
	for i, f := range frames {
		var params, rest []byte
		for _, nal := range bytes.Split(f, []byte{0, 0, 0, 1})[1:] {
			if typ := nal[0] & 0x1f; typ == 7 || typ == 8 {
				params = append(append(params, 0, 0, 0, 1), nal...)
			} else {
				rest = append(append(rest, 0, 0, 0, 1), nal...)
			}
		}
		at := startAt + time.Duration(i)*frameStep
		if len(params) > 0 {
			split++
			for _, p := range pz.Packetize(params, 0) {
				pkts = append(pkts, sentPacket{pkt: p, arrival: at, frame: i})
			}
		}
		for _, p := range pz.Packetize(rest, 3000) {
			pkts = append(pkts, sentPacket{pkt: p, arrival: at, frame: i})
		}
	}
	if split == 0 {
		t.Fatal("no parameter sets in the stream")
	}
	tr := newTestTrack("cam", "peer", "video/H264", 90000, newTestClock(testEpoch), pkts, nil)
	sink := &recSink{}
	st := run(t, tr, nil, sink)
	if len(sink.video) != len(frames) || tr.plis.Load() != 0 || st.DecodeErrors != 0 {
		t.Errorf("decoded %d of %d frames, %d keyframe requests, stats %+v", len(sink.video), len(frames), tr.plis.Load(), st)
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestOpus(t *testing.T) {
	packets := encodeOpus(t, "sine=f=440:sample_rate=48000", "1")
	pkts := packetize(packets, &codecs.OpusPayloader{}, 48000, 960, 0x77, 65000, 0xfffff000, startAt, 20*time.Millisecond)
	tr := newTestTrack("mic", "peer", "audio/opus", 48000, newTestClock(testEpoch), pkts, nil)
	sink := &recSink{}
	st := run(t, tr, nil, sink)

	if len(sink.audioT) != len(packets) {
		t.Fatalf("%d audio frames for %d packets (stats %+v)", len(sink.audioT), len(packets), st)
	}
	for i, at := range sink.audioT {
		if want := startAt + time.Duration(i)*20*time.Millisecond; !near(at, want, time.Millisecond) {
			t.Errorf("frame %d at %v, want %v", i, at, want)
		}
		if sink.audioN[i] != 960 {
			t.Errorf("frame %d has %d samples, want 960", i, sink.audioN[i])
		}
	}
	s := sink.audio
	if len(s)%2 != 0 {
		t.Fatal("odd number of interleaved samples")
	}
	// The source is mono: both channels carry it.
	var sum float64
	for i := 0; i < len(s); i += 2 {
		if s[i] != s[i+1] {
			t.Fatalf("sample %d: left %v != right %v", i/2, s[i], s[i+1])
		}
		sum += float64(s[i]) * float64(s[i])
	}
	n := len(s) / 2
	if rms := math.Sqrt(sum / float64(n)); rms < 0.05 {
		t.Errorf("RMS %.4f: silent (sine at 1/8 full scale has 0.088)", rms)
	}
	// Measure the period between the first and the last rising zero
	// crossing of the left channel, leaving out 40 ms at each end: the
	// encoder's start-up and the padding of the last packet.
	first, last, ups := -1, -1, 0
	for i := 1920; i < n-1920; i++ {
		if s[2*(i-1)] < 0 && s[2*i] >= 0 {
			if first < 0 {
				first = i
			}
			last = i
			ups++
		}
	}
	if ups < 2 {
		t.Fatalf("%d rising zero crossings", ups)
	}
	freq := float64(ups-1) / (float64(last-first) / 48000)
	t.Logf("%d frames, %.1f Hz, RMS %.4f", len(sink.audioT), freq, math.Sqrt(sum/float64(n)))
	if math.Abs(freq-440) > 2 {
		t.Errorf("frequency %.1f Hz, want 440", freq)
	}
}

// TestPeerSync sends a peer's audio and video with unrelated RTP timestamp
// bases and sender reports, and checks the times the sink gets against the
// media times the sender captured at.
func TestPeerSync(t *testing.T) {
	vc := videoCodecs()[0] // VP8
	video := encodeVideo(t, vc, "color=c=blue:size=160x120:rate=30", 30)
	audio := encodeOpus(t, "sine=f=440:sample_rate=48000", "1")
	const mediaStart = 2 * time.Second // job time the sender captured the first frame at

	for _, tc := range []struct {
		name  string
		exact bool
	}{{"exact", true}, {"estimated", false}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			vBase, aBase := rng.Uint32(), rng.Uint32()
			// Each track's delay: a fixed part and up to 8 ms of jitter, kept
			// in order.
			schedule := func(pkts []sentPacket, step, delay time.Duration) {
				var last time.Duration
				for i := range pkts {
					a := mediaStart + time.Duration(pkts[i].frame)*step + delay + time.Duration(rng.Int64N(int64(8*time.Millisecond)))
					last = max(last, a)
					pkts[i].arrival = last
				}
			}
			vp := packetize(video, vc.payloader(), 90000, 3000, 0x1111, uint16(rng.Uint32()), vBase, 0, frameStep)
			schedule(vp, frameStep, 60*time.Millisecond)
			ap := packetize(audio, &codecs.OpusPayloader{}, 48000, 960, 0x2222, uint16(rng.Uint32()), aBase, 0, 20*time.Millisecond)
			schedule(ap, 20*time.Millisecond, 30*time.Millisecond)

			sr := func(ssrc, base, rate uint32, at time.Duration) [][]rtcp.Packet {
				return [][]rtcp.Packet{{&rtcp.SenderReport{
					SSRC:    ssrc,
					RTPTime: base + uint32(int64(at)*int64(rate)/int64(time.Second)),
					NTPTime: toNTP(testEpoch.Add(mediaStart + at)),
				}}}
			}
			vClk, aClk := newTestClock(testEpoch), newTestClock(testEpoch)
			vt := newTestTrack("cam", "peer", vc.mime, 90000, vClk, vp, sr(0x1111, vBase, 90000, 500*time.Millisecond))
			at := newTestTrack("mic", "peer", "audio/opus", 48000, aClk, ap, sr(0x2222, aBase, 48000, 300*time.Millisecond))
			net := newTestNet()
			net.add(vt)
			net.add(at)
			var clk mediaclock.Clock = vClk
			s := NewSync(clk, tc.exact)

			vs, as := &recSink{}, &recSink{}
			aErr := make(chan error, 1)
			go func() {
				_, err := runTrack(at, s, as)
				aErr <- err
			}()
			_, vErr := runTrack(vt, s, vs)
			if err := errors.Join(vErr, <-aErr); err != nil {
				t.Fatal(err)
			}

			if len(vs.video) != len(video) || len(as.audioT) != len(audio) {
				t.Fatalf("got %d video and %d audio frames, want %d and %d", len(vs.video), len(as.audioT), len(video), len(audio))
			}
			var dv, da []time.Duration // sink time − media time
			for i, r := range vs.video {
				dv = append(dv, r.t-(mediaStart+time.Duration(i)*frameStep))
			}
			for i, at := range as.audioT {
				da = append(da, at-(mediaStart+time.Duration(i)*20*time.Millisecond))
			}
			if tc.exact {
				for i, d := range dv {
					if !near(d, 0, time.Millisecond) {
						t.Errorf("video frame %d off its media time by %v", i, d)
					}
				}
				for i, d := range da {
					if !near(d, 0, time.Millisecond) {
						t.Errorf("audio frame %d off its media time by %v", i, d)
					}
				}
				return
			}
			// Estimated: one offset for the peer, about the least delay seen
			// (audio's 30 ms), the same for both tracks up to the jitter.
			all := append(slices.Clone(dv), da...)
			lo, hi := slices.Min(all), slices.Max(all)
			t.Logf("video offsets %v..%v, audio %v..%v", slices.Min(dv), slices.Max(dv), slices.Min(da), slices.Max(da))
			if hi-lo > 10*time.Millisecond {
				t.Errorf("audio and video offsets spread over %v..%v (video %v..%v, audio %v..%v)",
					lo, hi, slices.Min(dv), slices.Max(dv), slices.Min(da), slices.Max(da))
			}
			if lo < 29*time.Millisecond || hi > 45*time.Millisecond {
				t.Errorf("offsets %v..%v, want about the 30 ms least delay", lo, hi)
			}
		})
	}
}

// TestFrameTooLarge caps frames below the size of the clip's keyframe: the
// keyframe is dropped and counted, the inter frames after it wait for a
// keyframe, and one is asked for.
func TestFrameTooLarge(t *testing.T) {
	vc := videoCodecs()[0] // VP8
	frames := encodeVideo(t, vc, "testsrc2=size=320x240:rate=30", 5)
	pkts := packetize(frames, vc.payloader(), 90000, 3000, 1, 0, 0, startAt, frameStep)
	tr := newTestTrack("cam", "peer", vc.mime, 90000, newTestClock(testEpoch), pkts, nil)
	sink := &recSink{}
	p, err := New(Config{Track: tr, Clock: tr.clk, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.asm.maxSize = len(frames[0]) - 1
	for _, f := range frames[1:] {
		if len(f) > p.asm.maxSize {
			t.Fatalf("inter frame of %d bytes over the cap of %d", len(f), p.asm.maxSize)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if len(sink.video) != 0 || st.FramesTooLarge != 1 || st.FramesDropped != uint64(len(frames)) || st.KeyframeRequests < 1 || tr.plis.Load() < 1 {
		t.Errorf("decoded %d frames, %d keyframe requests, stats %+v: want the keyframe too large, every frame dropped", len(sink.video), tr.plis.Load(), st)
	}
}

// junkTrack puts bytes that are not RTP before some of its track's packets,
// and gives the real ones CSRCs and header extensions.
type junkTrack struct {
	*testTrack
	junk [][]byte
	n    int
}

func (t *junkTrack) Read(b []byte) (int, error) {
	t.n++
	if t.n%3 == 0 && len(t.junk) > 0 {
		j := t.junk[0]
		t.junk = t.junk[1:]
		return copy(b, j), nil
	}
	p, err := t.readRTP()
	if err != nil {
		return 0, err
	}
	h := p.Header.Clone()
	h.CSRC = []uint32{1, 2, 3}
	if err := h.SetExtension(1, []byte{byte(t.n)}); err != nil {
		return 0, err
	}
	return (&rtp.Packet{Header: h, Payload: p.Payload}).MarshalTo(b)
}

func TestMalformedSkipped(t *testing.T) {
	vc := videoCodecs()[0]
	frames := encodeVideo(t, vc, "color=c=red:size=320x240:rate=30", 10)
	pkts := packetize(frames, vc.payloader(), 90000, 3000, 7, 100, 0, startAt, frameStep)
	junk := [][]byte{
		{0x80}, // shorter than a header
		{0x8f, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 1, 2, 3},          // 15 CSRCs announced, not there
		{0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0xbe, 0xde, 0, 9}, // extension longer than the packet
		{0xa0, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0xff},             // padding longer than the payload
	}
	tr := &junkTrack{testTrack: newTestTrack("cam", "peer", vc.mime, 90000, newTestClock(testEpoch), pkts, nil), junk: junk}
	sink := &recSink{}
	p, err := New(Config{Track: tr, Clock: tr.clk, Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if len(sink.video) != len(frames) || st.Malformed != uint64(len(junk)) || st.Packets != uint64(len(pkts)) || st.Lost != 0 {
		t.Errorf("decoded %d of %d frames, stats %+v: want %d malformed, %d packets, none lost", len(sink.video), len(frames), st, len(junk), len(pkts))
	}
}
