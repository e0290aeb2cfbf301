package pipeline

import (
	"testing"

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
