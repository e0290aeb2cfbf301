package pipeline

import (
	"strings"
	"testing"
)

// bitBytes packs a string of 0s and 1s (spaces ignored) into bytes, zero
// padded, followed by pad more zero bytes.
func bitBytes(bits string, pad int) []byte {
	bits = strings.ReplaceAll(bits, " ", "")
	b := make([]byte, (len(bits)+7)/8+pad)
	for i, c := range bits {
		if c == '1' {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	return b
}

func TestVP9Keyframe(t *testing.T) {
	// The key frames' sync code, then zero bytes for the colour config and
	// frame size that vp9.Header reads.
	const sync = "01001001 10000011 01000010"
	tests := []struct {
		name string
		bits string
		key  bool
	}{
		// frame_marker profile_low profile_high [reserved] show_existing
		// frame_type show_frame error_resilient
		{"profile 0 key frame", "10 0 0 0 0 1 0 " + sync, true},
		{"profile 0 inter frame", "10 0 0 0 1 1 0", false},
		{"show_existing_frame", "10 0 0 1 000", false},
		{"profile 3 (reserved bit) key frame", "10 1 1 0 0 0 0 0 " + sync, true},
		{"profile 3 inter frame", "10 1 1 0 0 1 0 0", false},
		{"bad frame marker", "01 0 0 0 0 1 0 " + sync, false},
		{"bad sync code", "10 0 0 0 0 1 0 01001001 10000011 01000011", false},
	}
	for _, tc := range tests {
		if got := vp9Keyframe(bitBytes(tc.bits, 8)); got != tc.key {
			t.Errorf("%s: vp9Keyframe = %v, want %v", tc.name, got, tc.key)
		}
	}
	if vp9Keyframe(bitBytes("10 0 0 0 0 1 0 "+sync, 0)) {
		t.Error("key frame header cut before its frame size taken for a keyframe")
	}
}
