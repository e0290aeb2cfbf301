package pipeline

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/asticode/go-astiav"
	"github.com/pion/rtp"
)

// opusInput is FuzzOpus's input: payloads, each after a length byte.
func opusInput(payloads ...[]byte) []byte {
	var in []byte
	for _, p := range payloads {
		in = append(in, byte(len(p)))
		in = append(in, p...)
	}
	return in
}

// audioCheck is a Sink that checks what the Opus path hands it.
type audioCheck struct {
	err    error
	frames int
}

func (s *audioCheck) PushVideo(string, *astiav.Frame, time.Duration) {
	s.err = fmt.Errorf("video from an audio track")
}

func (s *audioCheck) PushAudio(_ string, samples []float32, _ time.Duration) {
	s.frames++
	// Interleaved stereo, about one packet at most: Opus's longest is
	// 120 ms, and FFmpeg's decoder can add what its SILK resampler held
	// back (the fuzzer found 5784 samples); twice that is runaway output.
	if len(samples)%2 != 0 || len(samples) > 2*2*5760 {
		s.err = fmt.Errorf("%d samples", len(samples))
		return
	}
	for i, v := range samples {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			s.err = fmt.Errorf("sample %d is %v", i, v)
			return
		}
	}
}

// FuzzOpus sends empty, short and garbage Opus payloads, in RTP packets,
// down the audio path to FFmpeg's decoder: nothing crashes, and what reaches
// the Sink is interleaved stereo of about one Opus packet's length at most, with
// no NaN or infinity.
func FuzzOpus(f *testing.F) {
	pkts := encodeOpus(f, "sine=f=440:sample_rate=48000", "0.1")
	f.Add(opusInput(pkts[:3]...))
	f.Add(opusInput(nil, []byte{0xfc}, pkts[0][:1], pkts[1][:len(pkts[1])/2]))
	f.Add(opusInput([]byte{0xff, 0xff, 0xff, 0xff}, []byte{0x03, 0xff}, []byte{0x7b, 0x83}))
	level := astiav.GetLogLevel()
	astiav.SetLogLevel(astiav.LogLevelQuiet) // garbage makes FFmpeg log every packet
	f.Cleanup(func() { astiav.SetLogLevel(level) })

	f.Fuzz(func(t *testing.T, in []byte) {
		clk := newTestClock(testEpoch)
		sink := &audioCheck{}
		p, err := New(Config{Track: newTestTrack("mic", "peer", "audio/opus", 48000, clk, nil, nil), Clock: clk, Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var (
			seq uint16
			ts  uint32
			now time.Duration
		)
		for len(in) > 0 {
			n := min(int(in[0]), len(in)-1)
			payload := in[1 : 1+n]
			in = in[1+n:]
			buf := p.jb.buffer()
			pkt := rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, SSRC: 1},
				Payload: buf[12 : 12+copy(buf[12:], payload)],
			}
			seq, ts, now = seq+1, ts+960, now+20*time.Millisecond
			clk.set(now)
			p.handle(&pkt, buf, now)
			if sink.err != nil {
				t.Fatal(sink.err)
			}
		}
		p.finish() // the track's end flushes the decoder
		if sink.err != nil {
			t.Fatal(sink.err)
		}
		if p.st.FramesDecoded != uint64(sink.frames) {
			t.Fatalf("%d frames decoded, %d reached the sink", p.st.FramesDecoded, sink.frames)
		}
	})
}
