package mediafile

import (
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
)

func TestOpusPreSkip(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want int
	}{
		{"OpusHead", []byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), 312},
		{"short", []byte("OpusHead\x01"), 0},
		{"not an OpusHead", []byte("OpusTags\x01\x02\x38\x01\x80\xbb\x00\x00"), 0},
	}
	for _, tt := range tests {
		if got := opusPreSkip(tt.head); got != tt.want {
			t.Errorf("%s: pre-skip %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestOpusPacketDuration pins what the file room's audio timestamps rest on:
// mediacommon's reading of the TOC byte (RFC 6716 section 3.1).
func TestOpusPacketDuration(t *testing.T) {
	tests := []struct {
		name string
		p    []byte
		want int64
	}{
		{"CELT 20 ms", []byte{0xfc}, 960},      // config 31, code 0
		{"CELT 2.5 ms", []byte{0x80}, 120},     // config 16
		{"SILK 60 ms", []byte{0x18}, 2880},     // config 3
		{"hybrid 10 ms x2", []byte{0x61}, 960}, // config 12, code 1
		{"CELT 20 ms, code 3 with 3 frames", []byte{0xff, 0x03}, 2880},
		{"code 3 without count", []byte{0xff}, 0},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		if got := opus.PacketDuration2(tt.p); got != tt.want {
			t.Errorf("%s: %d samples, want %d", tt.name, got, tt.want)
		}
	}
}
