package file

import (
	"testing"
	"time"
)

func TestNTPAndTicks(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	if back := ntpToTime(ntpTime(at)); back.Sub(at) > 0 || at.Sub(back) > time.Nanosecond {
		t.Errorf("NTP round trip %v -> %v", at, back)
	}
	tests := []struct {
		ticks, rate int64
		want        time.Duration
	}{
		{-120, 48000, -2500 * time.Microsecond},
		{3000, 90000, 33333333},
		{90000 * 3600 * 30, 90000, 30 * time.Hour}, // no overflow
	}
	for _, tt := range tests {
		if got := ticksToDuration(tt.ticks, tt.rate); got != tt.want {
			t.Errorf("ticksToDuration(%d, %d) = %v, want %v", tt.ticks, tt.rate, got, tt.want)
		}
	}
}
