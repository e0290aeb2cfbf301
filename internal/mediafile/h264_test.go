package mediafile

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x1e, 0xda}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
	sc      = []byte{0, 0, 0, 1}
)

func annexB(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, sc...), n...)
	}
	return b
}

func TestH264AccessUnit(t *testing.T) {
	sets := [][]byte{testSPS, testPPS}
	idr, slice := []byte{0x65, 0xaa}, []byte{0x41}
	tests := []struct {
		name      string
		in        []byte
		nalLength int
		key       bool
		want      []byte
		wantErr   bool
	}{
		{"4-byte lengths", []byte{0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x41}, 4, false, annexB(idr, slice), false},
		{"2-byte lengths", []byte{0, 2, 0x65, 0xaa, 0, 1, 0x41}, 2, false, annexB(idr, slice), false},
		{"1-byte lengths", []byte{1, 0x09}, 1, false, annexB([]byte{0x09}), false},
		{"keyframe gets the sets", []byte{0, 0, 0, 2, 0x65, 0xaa}, 4, true, annexB(testSPS, testPPS, idr), false},
		{"keyframe with its own SPS", append([]byte{0, 0, 0, 5}, append(testSPS, 0, 0, 0, 2, 0x65, 0xaa)...), 4, true, annexB(testSPS, idr), false},
		{"Annex B passes through", annexB(slice), 0, false, annexB(slice), false},
		{"Annex B keyframe gets the sets", annexB(idr), 0, true, annexB(testSPS, testPPS, idr), false},
		{"Annex B keyframe keeps its 3-byte start codes", []byte{0, 0, 1, 0x65, 0xaa}, 0, true, append(annexB(testSPS, testPPS), 0, 0, 1, 0x65, 0xaa), false},
		{"Annex B keyframe without a start code", []byte{0x30, 0x30, 0x01, 0x30}, 0, true, nil, true}, // found by FuzzH264AccessUnit
		{"length past the end", []byte{0, 0, 0, 9, 0x65}, 4, false, nil, true},
		{"truncated length", []byte{0, 0, 0, 1, 0x65, 0, 0}, 4, false, nil, true},
		{"truncated 2-byte length", []byte{0, 1, 0x65, 0}, 2, false, nil, true},
		{"only empty NAL units", []byte{0, 0}, 2, false, nil, true},
		{"length size 3", []byte{0, 0, 1, 0x65}, 3, false, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := H264AccessUnit(append([]byte(nil), tt.in...), tt.nalLength, sets, tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x, want % x", got, tt.want)
			}
		})
	}
}

func TestH264ParamSets(t *testing.T) {
	avcc := append([]byte{1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, byte(len(testSPS))}, testSPS...)
	avcc = append(append(avcc, 1, 0, byte(len(testPPS))), testPPS...)
	annexBExtra := append(append(append([]byte{0, 0, 0, 1}, testSPS...), 0, 0, 1), testPPS...)
	tests := []struct {
		name    string
		extra   []byte
		nalLen  int
		sets    int
		wantErr bool
	}{
		{"avcC", avcc, 4, 2, false},
		{"Annex B", annexBExtra, 0, 2, false},
		{"none", nil, 0, 0, false},
		{"truncated avcC", avcc[:10], 0, 0, true},
		{"avcC shorter than 7 bytes", avcc[:6], 0, 0, true},
		{"avcC with length size 3", append([]byte{1, 0x42, 0xc0, 0x1e, 0xfe}, avcc[5:]...), 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, sets, err := h264ParamSets(tt.extra)
			if (err != nil) != tt.wantErr || n != tt.nalLen || len(sets) != tt.sets {
				t.Fatalf("= %d, %d sets, %v", n, len(sets), err)
			}
			if tt.sets == 2 && (!bytes.Equal(sets[0], testSPS) || !bytes.Equal(sets[1], testPPS)) {
				t.Fatalf("sets % x", sets)
			}
		})
	}
	if got := h264Fmtp([][]byte{testSPS, testPPS}); got != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42c01e" {
		t.Errorf("fmtp %q", got)
	}
	if got := h264Fmtp(nil); got != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" {
		t.Errorf("fmtp without an SPS %q", got)
	}
	frame := annexB(testSPS, testPPS, []byte{0x65, 1})
	var au h264.AnnexB
	if err := au.Unmarshal(frame); err != nil || !h264HasSPS(au) || h264HasSPS([][]byte{{0x65, 1}}) {
		t.Errorf("h264HasSPS: %v", err)
	}
}

// BenchmarkH264AccessUnit is the per-frame cost of MP4's H.264: a delta
// frame converted where it lies, a keyframe with the parameter sets put in
// front.
func BenchmarkH264AccessUnit(b *testing.B) {
	sets := [][]byte{testSPS, testPPS}
	for _, bc := range []struct {
		name string
		nalu byte
		key  bool
	}{{"delta", 0x41, false}, {"keyframe", 0x65, true}} {
		b.Run(bc.name, func(b *testing.B) {
			in := append([]byte{0, 0, 0x10, 0, bc.nalu}, make([]byte, 0x1000-1)...)
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				in[2], in[3] = 0x10, 0 // the length again, over the last start code
				if _, err := H264AccessUnit(in, 4, sets, bc.key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzH264AccessUnit feeds arbitrary access units in each NAL framing. No
// panic; a converted unit is Annex B whose size is exactly its NAL units'
// (and the sets', when a keyframe lacked an SPS) plus a 4-byte start code
// each; a keyframe always leaves with an SPS.
func FuzzH264AccessUnit(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x41}, uint8(4), true)
	f.Add([]byte{0, 2, 0x65, 0xaa, 0, 1, 0x41}, uint8(2), false)
	f.Add([]byte{1, 0x09, 0, 3, 0x41, 0, 0}, uint8(1), true)
	f.Add(annexB([]byte{0x65, 0xaa}, []byte{0x41}), uint8(0), true)
	f.Add(append([]byte{0, 0, 0, 5}, testSPS...), uint8(4), true)
	sets := [][]byte{testSPS, testPPS}
	f.Fuzz(func(t *testing.T, in []byte, framing uint8, key bool) {
		nalLength := []int{0, 1, 2, 4}[framing%4]
		out, err := H264AccessUnit(append([]byte(nil), in...), nalLength, sets, key)
		if err != nil {
			if out != nil {
				t.Fatalf("an error with output % x", out)
			}
			return
		}
		if nalLength == 0 {
			if !key && !bytes.Equal(out, in) {
				t.Fatal("a delta frame in Annex B was changed")
			}
			if key && !bytes.Equal(out, in) && !bytes.Equal(out, append(annexB(testSPS, testPPS), in...)) {
				t.Fatalf("Annex B keyframe % x became % x", in, out)
			}
			return
		}
		// The NAL units, read back with the plainest possible loop.
		var nalus [][]byte
		for p := in; len(p) > 0; {
			l := 0
			for _, c := range p[:nalLength] {
				l = l<<8 | int(c)
			}
			if l > 0 {
				nalus = append(nalus, p[nalLength:nalLength+l])
			}
			p = p[nalLength+l:]
		}
		if key && !h264HasSPS(nalus) {
			nalus = append(sets[:2:2], nalus...)
		}
		if want := annexB(nalus...); !bytes.Equal(out, want) {
			t.Fatalf("% x (length size %d) became % x, want % x", in, nalLength, out, want)
		}
	})
}
