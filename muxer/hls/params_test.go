package hls

import (
	"bytes"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

func TestRescale(t *testing.T) {
	for _, tc := range []struct {
		ts   int64
		tb   output.Rational
		rate int64
		want int64
	}{
		{30, output.Rational{Num: 1, Den: 30}, 90000, 90000},
		{1, output.Rational{Num: 1, Den: 30}, 90000, 3000},
		{48000, output.Rational{Num: 1, Den: 48000}, 48000, 48000},
		{1, output.Rational{Num: 1001, Den: 30000}, 90000, 3003},
		{7, output.Rational{Num: 1, Den: 24}, 1000, 291},   // 291.67 rounds down
		{-7, output.Rational{Num: 1, Den: 24}, 1000, -292}, // floor, not truncation
		{4 * 3600 * 30, output.Rational{Num: 1, Den: 30}, 90000, 4 * 3600 * 90000},
		{1 << 49, output.Rational{Num: 1, Den: 7}, 90000, 7237927972559725714}, // through big.Int
	} {
		if got := rescale(tc.ts, tc.tb, tc.rate); got != tc.want {
			t.Errorf("rescale(%d, %d/%d, %d) = %d, want %d", tc.ts, tc.tb.Num, tc.tb.Den, tc.rate, got, tc.want)
		}
	}
}

func TestMinSegmentDuration(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{2 * time.Second, 1800 * time.Millisecond},
		{4 * time.Second, 3600 * time.Millisecond},
	} {
		if got := minSegmentDuration(tc.in); got != tc.want {
			t.Errorf("minSegmentDuration(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSplitParameterSets(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       []byte
		sps, pps []byte
		wantErr  bool
	}{
		{"libx264 extradata", []byte{0, 0, 0, 1, 0x67, 0x64, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xeb, 0xe3}, []byte{0x67, 0x64, 0, 0x1f}, []byte{0x68, 0xeb, 0xe3}, false},
		{"first of each, SEI ignored", []byte{0, 0, 1, 0x06, 5, 0, 0, 1, 0x68, 1, 0, 0, 1, 0x67, 2, 0, 0, 1, 0x67, 3}, []byte{0x67, 2}, []byte{0x68, 1}, false},
		{"no PPS", []byte{0, 0, 0, 1, 0x67, 0x64, 0, 0x1f}, nil, nil, true},
		{"not Annex-B", []byte{0x67, 0x64}, nil, nil, true},
		{"empty", nil, nil, nil, true},
	} {
		sps, pps, err := splitParameterSets(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if !bytes.Equal(sps, tc.sps) || !bytes.Equal(pps, tc.pps) {
			t.Errorf("%s: got % x, % x; want % x, % x", tc.name, sps, pps, tc.sps, tc.pps)
		}
	}
}
