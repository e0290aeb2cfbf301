package livekit

import (
	"testing"

	lkproto "github.com/livekit/protocol/livekit"
)

func TestVP8KeyframeSize(t *testing.T) {
	// A keyframe's frame header: tag (bit 0 clear), start code, 640x360.
	key := []byte{0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	inter := []byte{0x51, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}
	cat := func(a ...[]byte) []byte {
		var out []byte
		for _, b := range a {
			out = append(out, b...)
		}
		return out
	}
	tests := []struct {
		name string
		p    []byte
		w, h int
		ok   bool
	}{
		{"plain descriptor", cat([]byte{0x10}, key), 640, 360, true},
		{"15-bit picture ID, TL0PICIDX, TID", cat([]byte{0x90, 0xe0, 0x81, 0x23, 0x05, 0x40}, key), 640, 360, true},
		{"7-bit picture ID", cat([]byte{0x90, 0x80, 0x12}, key), 640, 360, true},
		{"not the partition's start", cat([]byte{0x00}, key), 0, 0, false},
		{"second partition", cat([]byte{0x11}, key), 0, 0, false},
		{"interframe", cat([]byte{0x10}, inter), 0, 0, false},
		{"truncated", []byte{0x90, 0x80}, 0, 0, false},
		{"empty", nil, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h, ok := vp8KeyframeSize(tc.p)
			if w != tc.w || h != tc.h || ok != tc.ok {
				t.Errorf("vp8KeyframeSize = %d, %d, %t; want %d, %d, %t", w, h, ok, tc.w, tc.h, tc.ok)
			}
		})
	}
}

func TestLayerOf(t *testing.T) {
	info := &lkproto.TrackInfo{Codecs: []*lkproto.SimulcastCodecInfo{{MimeType: "video/VP8", Layers: []*lkproto.VideoLayer{
		{Quality: lkproto.VideoQuality_LOW, Width: 320, Height: 180},
		{Quality: lkproto.VideoQuality_MEDIUM, Width: 640, Height: 360},
	}}}}
	tests := []struct {
		w, h    int
		quality string
		top     bool
	}{
		{320, 180, "low", false},
		{640, 360, "medium", true},
		{1280, 720, "", false},
	}
	for _, tc := range tests {
		if q, top := layerOf(info, tc.w, tc.h); q != tc.quality || top != tc.top {
			t.Errorf("layerOf(%dx%d) = %q, %t; want %q, %t", tc.w, tc.h, q, top, tc.quality, tc.top)
		}
	}
	if q, _ := layerOf(nil, 320, 180); q != "" {
		t.Errorf("layerOf(nil) = %q", q)
	}
}

func TestRTPPayload(t *testing.T) {
	hdr := []byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2}
	ext := []byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0xbe, 0xde, 0, 1, 1, 2, 3, 4}
	tests := []struct {
		name string
		b    []byte
		want int // payload length; -1 for nil
	}{
		{"plain", append(append([]byte{}, hdr...), 7, 8), 2},
		{"extension", append(append([]byte{}, ext...), 7), 1},
		{"short", hdr[:8], -1},
		{"extension cut", ext[:14], -1},
	}
	for _, tc := range tests {
		got := rtpPayload(tc.b)
		if (tc.want < 0) != (got == nil) || (tc.want >= 0 && len(got) != tc.want) {
			t.Errorf("%s: payload %v, want length %d", tc.name, got, tc.want)
		}
	}
}

// TestLayerWatchAllocs: see runs on Read's per-packet path.
func TestLayerWatchAllocs(t *testing.T) {
	var w layerWatch
	sizes := [][]byte{
		{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01}, // 640x360
		{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00}, // 320x180
		{0x00, 0x51, 0x01, 0x00}, // not a keyframe
	}
	i := 0
	if n := testing.AllocsPerRun(200, func() { w.see(sizes[i%len(sizes)]); i++ }); n != 0 {
		t.Errorf("see allocates %.1f times per packet, want 0", n)
	}
	if v := w.size.Load(); v>>16 == 0 || w.changes.Load() == 0 {
		t.Errorf("size %x, %d changes: the keyframes were not seen", v, w.changes.Load())
	}
}
