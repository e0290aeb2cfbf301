package pipeline

import (
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/roomcast/roomcast/room"
)

type nopSink struct{ video, audio int }

func (s *nopSink) PushVideo(string, *astiav.Frame, time.Duration) { s.video++ }
func (s *nopSink) PushAudio(string, []float32, time.Duration)     { s.audio++ }

// countTap counts what a Tap is given.
type countTap struct{ frames, keys int }

func (c *countTap) Frame(data []byte, _ time.Duration, key bool) {
	c.frames++
	if key {
		c.keys++
	}
}

// TestSteadyStateAllocs replays a clip through the per-packet path, from
// the track's Read to the Sink, and bounds its Go allocations. What remains
// is go-astiav's and avframe's: Packet.FromData heap-allocates its C pointer,
// every ReceiveFrame's EAGAIN is boxed into an error, and avframe.AudioPlanes
// returns a new [][]byte.
func TestSteadyStateAllocs(t *testing.T) {
	vc := videoCodecs()[0]
	video := encodeVideo(t, vc, "testsrc2=size=160x120:rate=30", 15)
	audio := encodeOpus(t, "sine=f=440:sample_rate=48000", "0.3")
	for _, tc := range []struct {
		name     string
		mime     string
		pkts     []sentPacket
		step     uint32
		perFrame float64
	}{
		{"VP8", vc.mime, packetize(video, vc.payloader(), 90000, 3000, 1, 0, 0, 0, frameStep), 3000, 2},
		{"Opus", "audio/opus", packetize(audio, &codecs.OpusPayloader{}, 48000, 960, 1, 0, 0, 0, 20*time.Millisecond), 960, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock(testEpoch)
			tr := newMemTrack(tc.mime, clk, tc.pkts, tc.step)
			sink := &nopSink{}
			tap := &countTap{}
			p, err := New(Config{Track: tr, Clock: clk, Sink: sink, Tap: tap})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			nframes := int(tr.nframes)
			pass := 0
			replay := func() {
				// Each pass continues the sequence and timestamps.
				for range tc.pkts {
					if err := p.readPacket(); err != nil {
						t.Fatal(err)
					}
				}
				pass++
			}
			// Warm up past a whole jitter ring.
			for pass*len(tc.pkts) <= videoJitterSlots {
				replay()
			}
			warm := pass
			allocs := testing.AllocsPerRun(3, replay)
			per := allocs / float64(nframes)
			t.Logf("%.1f allocations per pass of %d frames (%d packets)", allocs, nframes, len(tc.pkts))
			if per > tc.perFrame {
				t.Errorf("%.2f allocations per frame, want at most %v", per, tc.perFrame)
			}
			if n, want := sink.video+sink.audio, (warm+4)*nframes; n != want {
				t.Errorf("sink got %d frames, want %d", n, want)
			}
			// The tap sees every frame the decoder does (a frame may
			// decode to more or fewer pictures, not here).
			if want := (warm + 4) * nframes; tap.frames != want || tap.keys == 0 {
				t.Errorf("tap got %d frames (%d keyframes), want %d", tap.frames, tap.keys, want)
			}
			if st := p.st; st.Malformed != 0 || st.Lost != 0 || st.FramesDropped != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// memTrack is a room.Track that replays packets from memory for ever, each
// pass continuing the sequence numbers and timestamps; it moves clk to each
// packet's arrival, one second per pass. Its packets carry the header
// extensions a WebRTC sender adds (abs-send-time, transport-wide sequence
// number) and CSRCs (a mixer's), so that parsing them is part of what is
// measured.
type memTrack struct {
	info    room.TrackInfo
	clk     *testClock
	pkts    []sentPacket
	hdrs    []rtp.Header
	nframes uint32
	step    uint32 // RTP ticks per frame
	i       int
	pass    uint32
	hdr     rtp.Header
}

func newMemTrack(mime string, clk *testClock, pkts []sentPacket, step uint32) *memTrack {
	t := &memTrack{
		info:    room.TrackInfo{ID: "mem", PeerID: "peer", Codec: room.Codec{MimeType: mime}},
		clk:     clk,
		pkts:    pkts,
		nframes: uint32(pkts[len(pkts)-1].frame + 1),
		step:    step,
	}
	for i, sp := range pkts {
		h := sp.pkt.Header.Clone()
		h.CSRC = []uint32{0x1234, 0x5678}
		if err := h.SetExtension(2, []byte{0x12, 0x34, 0x56}); err != nil {
			panic(err)
		}
		if err := h.SetExtension(3, []byte{byte(i >> 8), byte(i)}); err != nil {
			panic(err)
		}
		t.hdrs = append(t.hdrs, h)
	}
	return t
}

func (t *memTrack) Info() room.TrackInfo             { return t.info }
func (t *memTrack) ReadRTCP() ([]rtcp.Packet, error) { select {} }
func (t *memTrack) RequestKeyframe() error           { return nil }

func (t *memTrack) Read(b []byte) (int, error) {
	sp := t.pkts[t.i]
	t.hdr = t.hdrs[t.i]
	t.hdr.SequenceNumber += uint16(t.pass * uint32(len(t.pkts)))
	t.hdr.Timestamp += t.pass * t.nframes * t.step
	t.clk.set(time.Duration(t.pass)*time.Second + sp.arrival)
	n, err := t.hdr.MarshalTo(b)
	if err != nil {
		return 0, err
	}
	if len(b)-n < len(sp.pkt.Payload) {
		return 0, io.ErrShortBuffer
	}
	n += copy(b[n:], sp.pkt.Payload)
	if t.i++; t.i == len(t.pkts) {
		t.i, t.pass = 0, t.pass+1
	}
	return n, nil
}

// clip encodes a short clip of vc (a keyframe, then 14 inter frames) and
// packetizes it at 1200 bytes.
func clip(b testing.TB, vc videoCodec) []sentPacket {
	frames := encodeVideo(b, vc, "testsrc2=size=320x240:rate=30", 15)
	return packetize(frames, vc.payloader(), 90000, 3000, 1, 0, 0, 0, frameStep)
}

func codecByName(name string) videoCodec {
	for _, vc := range videoCodecs() {
		if vc.name == name {
			return vc
		}
	}
	panic(name)
}

// frameCounter counts the frames an assembler finishes.
type frameCounter struct{ frames, dropped int }

func (c *frameCounter) frameDone(f []byte, _ bool) {
	if f == nil {
		c.dropped++
		return
	}
	c.frames++
}

// assembling is the video pipeline up to its keyframe gate: an emitter that
// assembles frames, as Pipeline.emit does.
type assembling struct {
	asm *assembler
	frameCounter
}

func (e *assembling) emit(pk *jitterPacket, lost int) {
	if lost > 0 {
		e.asm.lose()
	}
	_ = e.asm.push(pk.payload, pk.ts, pk.marker, &e.frameCounter)
}

// mallocs counts heap allocations so far. The allocs/op column of a benchmark
// rounds down, which would hide an allocation every few packets; benchmarks
// report the exact mean as mallocs/op.
func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// loop runs op b.N times after warm, reporting mallocs/op.
func loop(b *testing.B, warm int, op func()) {
	for range warm {
		op()
	}
	b.ReportAllocs()
	before := mallocs()
	n := 0
	for b.Loop() {
		op()
		n++
	}
	b.ReportMetric(float64(mallocs()-before)/float64(n), "mallocs/op")
}

// BenchmarkDepacketize assembles the frames of a 15-frame clip, one packet
// per op. The H.264 clip has STAP-A (SPS and PPS) and FU-A (slices over
// the MTU) packets.
func BenchmarkDepacketize(b *testing.B) {
	for _, name := range []string{"VP8", "VP9", "H264", "AV1"} {
		b.Run(name, func(b *testing.B) {
			vc := codecByName(name)
			pkts := clip(b, vc)
			if name == "H264" {
				types := map[byte]int{}
				for _, sp := range pkts {
					types[sp.pkt.Payload[0]&0x1f]++
				}
				if types[24] == 0 || types[28] == 0 {
					b.Fatalf("NAL unit types %v: want STAP-A (24) and FU-A (28)", types)
				}
			}
			c, _ := codecOf(vc.mime)
			d, maxSize := newDepacketizer(c)
			asm := newAssembler(d, maxSize)
			var out frameCounter
			i := 0
			loop(b, 2*len(pkts), func() {
				sp := pkts[i]
				if err := asm.push(sp.pkt.Payload, sp.pkt.Timestamp, sp.pkt.Marker, &out); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(pkts) {
					i = 0
				}
			})
			if out.dropped != 0 || out.frames == 0 {
				b.Fatalf("%d frames, %d dropped", out.frames, out.dropped)
			}
			b.ReportMetric(float64(len(pkts))/15, "packets/frame")
		})
	}
}

// BenchmarkJitterPush pushes 1200-byte packets in order, and with every
// other pair swapped, each read (in place) into a buffer of the jitter
// buffer.
func BenchmarkJitterPush(b *testing.B) {
	for _, tc := range []struct {
		name    string
		reorder bool
	}{{"in-order", false}, {"reordered", true}} {
		b.Run(tc.name, func(b *testing.B) {
			jb := newJitterBuffer(videoJitterSlots, 100*time.Millisecond)
			out := &nopEmitter{}
			var pkt rtp.Packet
			var n uint16
			loop(b, 2*videoJitterSlots, func() {
				seq := n
				if tc.reorder && n&2 != 0 {
					seq ^= 1
				}
				buf := jb.buffer()
				pkt.SequenceNumber = seq
				pkt.Payload = buf[12:1212]
				jb.push(&pkt, buf, time.Duration(n)*time.Millisecond, out)
				n++
			})
			if out.n == 0 {
				b.Fatal("nothing emitted")
			}
		})
	}
}

// BenchmarkReadToEmit runs a VP8 clip from a track in memory to the
// keyframe gate, one packet per op: Read into a jitter buffer's buffer,
// unmarshal in place, jitter buffer, emit, depacketize.
func BenchmarkReadToEmit(b *testing.B) {
	vc := codecByName("VP8")
	clk := newTestClock(testEpoch)
	tr := newMemTrack(vc.mime, clk, clip(b, vc), 3000)
	jb := newJitterBuffer(videoJitterSlots, 100*time.Millisecond)
	d, maxSize := newDepacketizer(codecVP8)
	out := &assembling{asm: newAssembler(d, maxSize)}
	pkt := rtp.Packet{Header: rtp.Header{CSRC: make([]uint32, 0, maxCSRC), Extensions: make([]rtp.Extension, 0, extensionsCap)}}
	loop(b, 2*videoJitterSlots, func() {
		buf, err := readInto(tr, jb, &pkt)
		if err != nil {
			b.Fatal(err)
		}
		jb.push(&pkt, buf, clk.Now(), out)
	})
	if out.dropped != 0 || out.frames == 0 {
		b.Fatalf("%d frames, %d dropped", out.frames, out.dropped)
	}
}

// BenchmarkReadPath runs the whole per-packet path on a VP8 clip, one packet
// per op: BenchmarkReadToEmit's, then the keyframe gate, the decoder and the
// Sink. What it allocates is go-astiav's (see TestSteadyStateAllocs).
func BenchmarkReadPath(b *testing.B) {
	vc := codecByName("VP8")
	clk := newTestClock(testEpoch)
	tr := newMemTrack(vc.mime, clk, clip(b, vc), 3000)
	p, err := New(Config{Track: tr, Clock: clk, Sink: &nopSink{}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	loop(b, 2*videoJitterSlots, func() {
		if err := p.readPacket(); err != nil {
			b.Fatal(err)
		}
	})
	if p.st.FramesDropped != 0 || p.st.Malformed != 0 {
		b.Fatalf("stats %+v", p.st)
	}
}
