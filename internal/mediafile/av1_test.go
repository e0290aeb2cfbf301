package mediafile

import (
	"bytes"
	"testing"
)

var (
	av1Seq   = []byte{0x0a, 0x02, 0xaa, 0xbb}       // OBU_SEQUENCE_HEADER with size 2
	av1Frame = []byte{0x32, 0x03, 0x01, 0x02, 0x03} // OBU_FRAME with size 3
	av1TD    = []byte{0x12, 0x00}                   // temporal delimiter
)

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestAV1TemporalUnit(t *testing.T) {
	config := [][]byte{av1Seq}
	tests := []struct {
		name   string
		in     []byte
		key    bool
		want   []byte
		hasSeq bool
	}{
		{"keyframe with its sequence header", cat(av1TD, av1Seq, av1Frame), true, cat(av1TD, av1Seq, av1Frame), true},
		{"keyframe without", cat(av1TD, av1Frame), true, cat(av1Seq, av1TD, av1Frame), false},
		{"delta frame", av1Frame, false, av1Frame, false},
		{"size past the end", []byte{0x32, 0x7f}, false, []byte{0x32, 0x7f}, false},
		{"extension header", []byte{0x36, 0x00, 0x01, 0xaa}, true, cat(av1Seq, []byte{0x36, 0x00, 0x01, 0xaa}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := av1HasSequenceHeader(tt.in); got != tt.hasSeq {
				t.Errorf("av1HasSequenceHeader = %v, want %v", got, tt.hasSeq)
			}
			if got := AV1TemporalUnit(tt.in, config, tt.key); !bytes.Equal(got, tt.want) {
				t.Errorf("got % x, want % x", got, tt.want)
			}
		})
	}
	if got := av1ConfigOBUs(append([]byte{0x81, 0, 0, 0}, av1Seq...)); len(got) != 1 || !bytes.Equal(got[0], av1Seq) {
		t.Errorf("configOBUs % x", got)
	}
	if got := av1ConfigOBUs([]byte{0x80, 0, 0, 0, 1}); got != nil {
		t.Errorf("configOBUs of a bad record % x", got)
	}
}

// FuzzAV1TemporalUnit: no panic; a delta frame or one with a sequence header
// passes untouched; otherwise a keyframe leaves as the sequence header
// followed by the unit, and then has one.
func FuzzAV1TemporalUnit(f *testing.F) {
	f.Add(cat(av1TD, av1Seq, av1Frame), true)
	f.Add(cat(av1TD, av1Frame), true)
	f.Add([]byte{0x32, 0x7f}, false)
	f.Add([]byte{0x36, 0x00, 0x01, 0xaa}, true)
	f.Fuzz(func(t *testing.T, in []byte, key bool) {
		has := av1HasSequenceHeader(in)
		out := AV1TemporalUnit(in, [][]byte{av1Seq}, key)
		switch {
		case !key || has:
			if !bytes.Equal(out, in) {
				t.Fatalf("% x became % x", in, out)
			}
		case !bytes.Equal(out, cat(av1Seq, in)) || !av1HasSequenceHeader(out):
			t.Fatalf("keyframe % x became % x", in, out)
		}
	})
}
