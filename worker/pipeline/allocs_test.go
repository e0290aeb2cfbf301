package pipeline

import (
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
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
