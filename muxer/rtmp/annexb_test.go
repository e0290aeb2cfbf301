package rtmp

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

func TestSplitAnnexBCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		want    h264.AnnexB
		wantErr bool
	}{
		{"four-byte start codes", []byte{0, 0, 0, 1, 0x67, 1, 0, 0, 0, 1, 0x68, 2}, h264.AnnexB{{0x67, 1}, {0x68, 2}}, false},
		{"three-byte start codes", []byte{0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 9}, h264.AnnexB{{0x09, 0xf0}, {0x41, 9}}, false},
		{"empty units skipped", []byte{0, 0, 1, 0, 0, 0, 1, 0x65, 7, 0, 0, 1}, h264.AnnexB{{0x65, 7}}, false},
		{"zero before a four-byte start code stays in the unit", []byte{0, 0, 1, 0x65, 0, 0, 0, 0, 1, 0x41}, h264.AnnexB{{0x65, 0}, {0x41}}, false},
		{"start codes only", []byte{0, 0, 0, 1, 0, 0, 1}, nil, true},
		{"no start code first", []byte{5, 5, 1, 7, 0, 0, 1, 0x41}, nil, true},
		{"too short", []byte{0, 0, 1}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := splitAnnexB(tt.in, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !equalUnits(got, tt.want) {
				t.Errorf("got %x, want %x", got, tt.want)
			}
		})
	}
	// Sliced encoders emit many units per frame; there is no limit.
	many := bytes.Repeat([]byte{0, 0, 1, 0x41, 0x9a}, 100)
	if got, err := splitAnnexB(many, nil); err != nil || len(got) != 100 {
		t.Errorf("100 slices: %d units, %v", len(got), err)
	}
}

func equalUnits(a, b h264.AnnexB) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// FuzzSplitAnnexB holds splitAnnexB to mediacommon's h264.AnnexB.Unmarshal:
// for every input that starts with a start code, the same units or both an
// error; for any other input, an error.
func FuzzSplitAnnexB(f *testing.F) {
	f.Add(benchAccessUnit()[:64])
	f.Add([]byte{0, 0, 1, 0x65, 0, 0, 0, 0, 1, 0x41, 0, 0, 1, 0, 0, 1})
	f.Add([]byte{0, 0, 0, 1, 0x67, 0, 0, 0, 1})
	f.Add([]byte{5, 5, 1, 7})
	var out h264.AnnexB
	f.Fuzz(func(t *testing.T, data []byte) {
		var err error
		out, err = splitAnnexB(data, out) // reused, as the sink does
		hasStart := len(data) >= 4 && bytes.HasPrefix(data, []byte{0, 0, 1}) || bytes.HasPrefix(data, []byte{0, 0, 0, 1})
		if !hasStart {
			if err == nil {
				t.Fatalf("no start code first, yet %d units", len(out))
			}
			return
		}
		var ref h264.AnnexB
		refErr := ref.Unmarshal(data)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("error %v, mediacommon's %v", err, refErr)
		}
		if err == nil && !equalUnits(out, ref) {
			t.Fatalf("units %x, mediacommon's %x", out, ref)
		}
		for _, u := range out {
			if len(u) == 0 {
				t.Fatal("empty unit")
			}
		}
	})
}

// benchAccessUnit is an IDR access unit as the encoder emits it: AUD, SPS,
// PPS, then 30 KB of slice data (a 720p keyframe at a few Mbit/s): random
// bytes, zeros included, with emulation prevention as in a real slice.
func benchAccessUnit() []byte {
	au := []byte{0, 0, 0, 1, 0x09, 0xf0,
		0, 0, 0, 1, 0x67, 0x64, 0, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10,
		0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
		0, 0, 0, 1, 0x65}
	rng := rand.New(rand.NewPCG(1, 2))
	zeros := 0
	for range 30000 {
		b := byte(rng.Uint32())
		if zeros >= 2 && b <= 3 {
			au = append(au, 3)
			zeros = 0
		}
		au = append(au, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return au
}

// BenchmarkSplitAnnexB compares the sink's splitter, reusing its array, with
// mediacommon's Unmarshal on the same access unit.
func BenchmarkSplitAnnexB(b *testing.B) {
	data := benchAccessUnit()
	b.Run("splitAnnexB", func(b *testing.B) {
		var au h264.AnnexB
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			au, _ = splitAnnexB(data, au)
		}
	})
	b.Run("mediacommon", func(b *testing.B) {
		var au h264.AnnexB
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			_ = au.Unmarshal(data)
		}
	})
}

// BenchmarkAppendAVCVideo is the sink's per-packet video path: Annex-B in,
// FLV video tag body out, both buffers reused across packets.
func BenchmarkAppendAVCVideo(b *testing.B) {
	data := benchAccessUnit()
	var au h264.AnnexB
	var buf []byte
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if au, err = splitAnnexB(data, au); err != nil {
			b.Fatal(err)
		}
		buf = appendAVCVideo(buf[:0], true, 0, au)
	}
}
