package hls

import (
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
