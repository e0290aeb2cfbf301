package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/pion/rtp/codecs"
)

// depackAll runs payloads through d as one frame.
func depackAll(d depacketizer, payloads [][]byte) ([]byte, error) {
	d.reset()
	var frame []byte
	for _, p := range payloads {
		var err error
		if frame, err = d.append(frame, p); err != nil {
			return frame, err
		}
	}
	return frame, nil
}

func TestDepacketizersNoAllocs(t *testing.T) {
	h264 := [][]byte{{24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, {0x7c, 0x85, 1, 2, 3}, {0x7c, 0x45, 4, 5, 6}}
	av1 := (&codecs.AV1Payloader{}).Payload(100, concat([]byte{0x12, 0}, av1OBU(6, false, make([]byte, 500))))
	for _, tc := range []struct {
		name string
		d    depacketizer
		p    [][]byte
	}{{"h264", &h264Depacketizer{}, h264}, {"av1", &av1Depacketizer{}, av1}} {
		var frame []byte
		run := func() {
			frame = frame[:0]
			tc.d.reset()
			for _, p := range tc.p {
				frame, _ = tc.d.append(frame, p)
			}
		}
		run()
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Errorf("%s: %v allocations per frame, want 0", tc.name, n)
		}
	}
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func head(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

// fuzzCodecs are the codecs FuzzDepacketize picks from with its first byte.
var fuzzCodecs = []codecKind{codecVP8, codecVP9, codecH264, codecAV1}

// fuzzMaxFrame is FuzzDepacketize's frame size cap, small enough for the
// fuzzer's inputs to reach.
const fuzzMaxFrame = 2000

// depackPacket is one packet of FuzzDepacketize's input: a flags byte (bit 0
// marker, bit 1 next timestamp, bit 2 packets lost before it), a length
// byte, then the payload.
type depackPacket struct {
	marker, nextTS, lost bool
	payload              []byte
}

func depackInput(codec byte, pkts ...depackPacket) []byte {
	in := []byte{codec}
	for _, p := range pkts {
		var flags byte
		if p.marker {
			flags |= 1
		}
		if p.nextTS {
			flags |= 2
		}
		if p.lost {
			flags |= 4
		}
		in = append(in, flags, byte(len(p.payload)))
		in = append(in, p.payload...)
	}
	return in
}

// checkFrame checks the structure of a frame a depacketizer made.
func checkFrame(c codecKind, f []byte) error {
	switch c {
	case codecH264:
		if !bytes.HasPrefix(f, annexBStartCode[:]) {
			return errors.New("H.264 frame does not start with a start code")
		}
	case codecAV1:
		// A temporal delimiter, then OBUs with size fields that end
		// exactly at the end of the frame.
		if !bytes.HasPrefix(f, []byte{0x12, 0}) {
			return errors.New("AV1 temporal unit does not start with a temporal delimiter")
		}
		for p := f[2:]; len(p) > 0; {
			h := p[0]
			hdr := 1
			if h&0x04 != 0 {
				hdr = 2
			}
			if h&0x80 != 0 || h&0x02 == 0 || len(p) < hdr {
				return fmt.Errorf("AV1 OBU header %#x", h)
			}
			var size av1.LEB128
			n, err := size.Unmarshal(p[hdr:])
			if err != nil || int(size) > len(p)-hdr-n {
				return fmt.Errorf("AV1 OBU of %d bytes in %d", size, len(p)-hdr-n)
			}
			p = p[hdr+n+int(size):]
		}
	}
	return nil
}

// depackSeeds are whole frames of each codec as pion's payloaders send them.
func depackSeeds() [][]byte {
	var seeds [][]byte
	pkts := func(payloads [][]byte) []depackPacket {
		var out []depackPacket
		for i, p := range payloads {
			out = append(out, depackPacket{marker: i == len(payloads)-1, payload: p})
		}
		return out
	}
	vp8Key := append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}, bytes.Repeat([]byte{0x55}, 300)...)
	seeds = append(seeds, depackInput(0, pkts((&codecs.VP8Payloader{EnablePictureID: true}).Payload(120, vp8Key))...))
	vp9Key := append(bitBytes("10 0 0 0 0 1 0 01001001 10000011 01000010", 8), bytes.Repeat([]byte{0x66}, 300)...)
	seeds = append(seeds, depackInput(1, pkts((&codecs.VP9Payloader{FlexibleMode: true}).Payload(120, vp9Key))...))
	sps := []byte{0x67, 0x42, 0xc0, 0x1e}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := append([]byte{0x65}, bytes.Repeat([]byte{0xab}, 300)...)
	au := concat(annexBStartCode[:], sps, annexBStartCode[:], pps, annexBStartCode[:], idr)
	seeds = append(seeds, depackInput(2, pkts((&codecs.H264Payloader{}).Payload(120, au))...))
	tu := concat([]byte{0x12, 0}, av1OBU(byte(av1.OBUTypeSequenceHeader), false, []byte{0, 0, 0, 2, 0xaf}), av1OBU(6, true, bytes.Repeat([]byte{0x77}, 300)))
	seeds = append(seeds, depackInput(3, pkts((&codecs.AV1Payloader{}).Payload(120, tu))...))
	return seeds
}

// FuzzDepacketize runs a sequence of RTP payloads, with marker bits,
// timestamp changes and losses, through the frame assembler of the codec the
// first byte picks. Nothing panics, the assembler never holds more than the
// size cap, and every frame it hands out is under the cap and well formed:
// Annex B for H.264, sized OBUs after a temporal delimiter for AV1, and an
// AV1 temporal unit survives pion's payloader and this depacketizer again.
func FuzzDepacketize(f *testing.F) {
	for _, s := range depackSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		c := fuzzCodecs[int(in[0])%len(fuzzCodecs)]
		d, _ := newDepacketizer(c)
		a := newAssembler(d, fuzzMaxFrame)
		out := &frameLog{}
		var ts uint32
		npkts := 0
		for p := in[1:]; len(p) >= 2; npkts++ {
			flags, n := p[0], int(p[1])
			p = p[2:]
			n = min(n, len(p))
			payload := p[:n]
			p = p[n:]
			if flags&2 != 0 {
				ts += 3000
			}
			if flags&4 != 0 {
				a.lose()
			}
			_ = a.push(payload, ts, flags&1 != 0, out)
			if held := len(a.frame) + d.pending(); held > fuzzMaxFrame {
				t.Fatalf("assembler holds %d bytes, cap %d", held, fuzzMaxFrame)
			}
		}
		if a.active {
			a.end(out)
		}
		if len(out.frames) > 2*npkts {
			t.Fatalf("%d frames from %d packets", len(out.frames), npkts)
		}
		for i, f := range out.frames {
			if f == nil {
				continue
			}
			if len(f) > fuzzMaxFrame {
				t.Fatalf("frame %d: %d bytes, cap %d", i, len(f), fuzzMaxFrame)
			}
			if err := checkFrame(c, f); err != nil {
				t.Fatalf("frame %d: %v\n% x", i, err, f)
			}
			// A unit of padding OBUs only leaves our temporal delimiter,
			// which a payloader has nothing to send of.
			if c == codecAV1 && len(f) > 2 {
				again, err := depackAll(&av1Depacketizer{}, (&codecs.AV1Payloader{}).Payload(1200, f))
				if err != nil || !bytes.Equal(again, f) {
					t.Fatalf("frame %d does not survive payloading (err %v):\n% x\n% x", i, err, f, again)
				}
			}
		}
	})
}
