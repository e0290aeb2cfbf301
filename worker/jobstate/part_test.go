package jobstate

import "testing"

func TestPartFile(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		want string
	}{
		{"recording.mp4", 0, "recording.mp4"},
		{"recording.mp4", 1, "recording.mp4"},
		{"recording.mp4", 2, "recording.part2.mp4"},
		{"recording.m4a", 12, "recording.part12.m4a"},
		{"hls", 3, "hls.part3"},
		{"hls/index.m3u8", 2, "hls/index.part2.m3u8"},
	} {
		if got := PartFile(c.name, c.n); got != c.want {
			t.Errorf("PartFile(%q, %d) = %q, want %q", c.name, c.n, got, c.want)
		}
	}
}
