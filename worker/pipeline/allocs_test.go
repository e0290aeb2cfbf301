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

// TestSteadyStateAllocs replays a clip through the per-packet path and
// bounds its Go allocations. What remains is go-astiav's and avframe's:
// Packet.FromData heap-allocates its C pointer, every ReceiveFrame's EAGAIN
// is boxed into an error, and avframe.AudioPlanes returns a new [][]byte.
func TestSteadyStateAllocs(t *testing.T) {
	vc := videoCodecs()[0]
	video := encodeVideo(t, vc, "testsrc2=size=160x120:rate=30", 15)
	audio := encodeOpus(t, "sine=f=440:sample_rate=48000", "0.3")
	for _, tc := range []struct {
		name     string
		mime     string
		pkts     []sentPacket
		rate     uint32
		step     uint32
		perFrame float64
	}{
		{"VP8", vc.mime, packetize(video, vc.payloader(), 90000, 3000, 1, 0, 0, 0, frameStep), 90000, 3000, 2},
		{"Opus", "audio/opus", packetize(audio, &codecs.OpusPayloader{}, 48000, 960, 1, 0, 0, 0, 20*time.Millisecond), 48000, 960, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newTestClock(testEpoch)
			tr := newTestTrack("x", "peer", tc.mime, tc.rate, clk, nil, nil)
			sink := &nopSink{}
			p, err := New(Config{Track: tr, Clock: clk, Sink: sink})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			nframes := tc.pkts[len(tc.pkts)-1].frame + 1
			var pass uint32
			pkt := &rtp.Packet{}
			replay := func() {
				// Each pass continues the sequence and timestamps.
				for _, sp := range tc.pkts {
					pkt.Header = sp.pkt.Header
					pkt.SequenceNumber += uint16(pass * uint32(len(tc.pkts)))
					pkt.Timestamp += pass * uint32(nframes) * tc.step
					pkt.Payload = sp.pkt.Payload
					p.handle(pkt, time.Duration(pass)*time.Second+sp.arrival)
				}
				pass++
			}
			// Warm up until every slot of the jitter ring holds a buffer.
			for int(pass)*len(tc.pkts) <= videoJitterSlots {
				replay()
			}
			warm := int(pass)
			allocs := testing.AllocsPerRun(3, replay)
			per := allocs / float64(nframes)
			t.Logf("%.1f allocations per pass of %d frames (%d packets)", allocs, nframes, len(tc.pkts))
			if per > tc.perFrame {
				t.Errorf("%.2f allocations per frame, want at most %v", per, tc.perFrame)
			}
			if n, want := sink.video+sink.audio, (warm+4)*nframes; n != want {
				t.Errorf("sink got %d frames, want %d", n, want)
			}
		})
	}
}

// memTrack is a room.Track that replays packets from memory for ever, each
// pass continuing the sequence numbers and timestamps; it moves clk to each
// packet's arrival, one second per pass.
type memTrack struct {
	info    room.TrackInfo
	clk     *testClock
	pkts    []sentPacket
	nframes uint32
	step    uint32 // RTP ticks per frame
	i       int
	pass    uint32
	hdr     rtp.Header
}

func newMemTrack(mime string, clk *testClock, pkts []sentPacket, step uint32) *memTrack {
	return &memTrack{
		info:    room.TrackInfo{ID: "mem", PeerID: "peer", Codec: room.Codec{MimeType: mime}},
		clk:     clk,
		pkts:    pkts,
		nframes: uint32(pkts[len(pkts)-1].frame + 1),
		step:    step,
	}
}

func (t *memTrack) Info() room.TrackInfo              { return t.info }
func (t *memTrack) ReadRTCP() ([]rtcp.Packet, error) { select {} }
func (t *memTrack) RequestKeyframe() error            { return nil }

func (t *memTrack) Read(b []byte) (int, error) {
	sp := t.pkts[t.i]
	t.hdr = sp.pkt.Header
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

// clip encodes a short clip of vc and packetizes it at 1200 bytes.
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

// BenchmarkDepacketize depacketizes a 15-frame clip (a keyframe, then inter
// frames), one packet per op.
func BenchmarkDepacketize(b *testing.B) {
	for _, tc := range []struct {
		name string
		d    depacketizer
	}{{"VP8", &vp8Depacketizer{}}, {"VP9", &vp9Depacketizer{}}, {"H264", &h264Depacketizer{}}, {"AV1", &av1Depacketizer{}}} {
		b.Run(tc.name, func(b *testing.B) {
			pkts := clip(b, codecByName(tc.name))
			var frame []byte
			i := 0
			loop(b, 2*len(pkts), func() {
				sp := pkts[i]
				if i == 0 || pkts[i-1].frame != sp.frame {
					frame = frame[:0]
					tc.d.reset()
				}
				var err error
				if frame, err = tc.d.append(frame, sp.pkt.Payload); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(pkts) {
					i = 0
				}
			})
		})
	}
}

// BenchmarkJitterPush pushes 1200-byte packets in order, and with every
// other pair swapped.
func BenchmarkJitterPush(b *testing.B) {
	for _, tc := range []struct {
		name    string
		reorder bool
	}{{"in-order", false}, {"reordered", true}} {
		b.Run(tc.name, func(b *testing.B) {
			jb := newJitterBuffer(videoJitterSlots, 100*time.Millisecond)
			out := &nopEmitter{}
			pkt := &rtp.Packet{Payload: make([]byte, 1200)}
			var n uint16
			loop(b, 2*videoJitterSlots, func() {
				seq := n
				if tc.reorder && n&2 != 0 {
					seq ^= 1
				}
				pkt.SequenceNumber = seq
				jb.push(pkt, time.Duration(n)*time.Millisecond, out)
				n++
			})
		})
	}
}

// BenchmarkReadPath runs the whole per-packet path on a VP8 clip, one packet
// per op: Read from a track in memory, unmarshal, jitter buffer,
// depacketizer, keyframe gate and decoder.
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
		n, err := p.track.Read(p.rbuf)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.pkt.Unmarshal(p.rbuf[:n]); err != nil {
			b.Fatal(err)
		}
		p.handle(&p.pkt, p.clk.Now())
	})
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
