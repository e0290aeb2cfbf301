package rtmp

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/roomcast/roomcast/muxer/output"
)

func TestToMillis(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ticks int64
		tb    output.Rational
		want  int64
	}{
		{0, output.Rational{Num: 1, Den: 30}, 0},
		{1, output.Rational{Num: 1, Den: 30}, 33},
		{30, output.Rational{Num: 1, Den: 30}, 1000},
		{1024, output.Rational{Num: 1, Den: 48000}, 21},
		{48000 * 3600 * 5, output.Rational{Num: 1, Den: 48000}, 3600 * 5 * 1000},
		{-1, output.Rational{Num: 1, Den: 30}, -34},
		{1000, output.Rational{Num: 1001, Den: 30000}, 33366},
	}
	for _, tt := range tests {
		if got := toMillis(tt.ticks, tt.tb); got != tt.want {
			t.Errorf("toMillis(%d, %v) = %d, want %d", tt.ticks, tt.tb, got, tt.want)
		}
	}
}

// TestSplitAnnexB checks what the sink makes of an access unit: its NAL
// units, without start codes, none when it holds none, and the FLV body
// built from them.
func TestSplitAnnexB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []byte
		want [][]byte
	}{
		{[]byte{0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5}, [][]byte{{0x67, 1, 2}, {0x68, 3}, {0x65, 4, 5}}},
		{[]byte{0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x41, 9}, [][]byte{{0x09, 0xf0}, {0x41, 9}}},
		{[]byte{0, 0, 1}, nil},
		{[]byte{1, 2, 3}, nil},
	}
	for _, tt := range tests {
		got, err := splitAnnexB(tt.in, nil)
		if err != nil {
			got = nil // the sink skips the packet
		}
		if len(got) != len(tt.want) {
			t.Errorf("splitAnnexB(% x) = %x, want %x", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], tt.want[i]) {
				t.Errorf("splitAnnexB(% x)[%d] = % x, want % x", tt.in, i, got[i], tt.want[i])
			}
		}
	}
	// AUDs are dropped from the FLV body, in-band SPS/PPS kept.
	body := appendAVCVideo(nil, true, 0, h264.AnnexB{{0x09, 0xf0}, {0x67, 1}, {0x65, 2}})
	if want := []byte{0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x67, 1, 0, 0, 0, 2, 0x65, 2}; !bytes.Equal(body, want) {
		t.Errorf("AVC body % x, want % x", body, want)
	}
}

func TestParamSets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		au       h264.AnnexB
		sps, pps []byte
	}{
		{"in band", h264.AnnexB{{0x09, 0xf0}, {0x67, 0x64, 0, 0x1f}, {0x68, 0xeb}, {0x65, 1}}, []byte{0x67, 0x64, 0, 0x1f}, []byte{0x68, 0xeb}},
		{"first of each", h264.AnnexB{{0x67, 1, 2, 3}, {0x67, 9}, {0x68, 1}, {0x68, 2}}, []byte{0x67, 1, 2, 3}, []byte{0x68, 1}},
		{"none", h264.AnnexB{{0x41, 1}}, nil, nil},
	}
	for _, tt := range tests {
		sps, pps := paramSets(tt.au)
		if !bytes.Equal(sps, tt.sps) || !bytes.Equal(pps, tt.pps) {
			t.Errorf("%s: paramSets = % x, % x; want % x, % x", tt.name, sps, pps, tt.sps, tt.pps)
		}
	}
	hdr, err := avcSequenceHeader([]byte{0x67, 0x64, 0, 0x1f}, []byte{0x68, 0xeb})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xeb}
	if !bytes.Equal(hdr, want) {
		t.Errorf("sequence header % x, want % x", hdr, want)
	}
	if _, err := avcSequenceHeader([]byte{0x67}, nil); err == nil {
		t.Error("sequence header from a short SPS and no PPS")
	}
}
