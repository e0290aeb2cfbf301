package jobstate

import (
	"fmt"
	"testing"
)

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

func TestResumeFile(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		want string
	}{
		{"recording.mp4", 0, "recording.mp4"},
		{"recording.mp4", 1, "recording.mp4"},
		{"recording.mp4", 2, "recording.2.mp4"},
		{"recording.m4a", 10, "recording.10.m4a"},
		{"recording.part2.mp4", 1, "recording.part2.mp4"},
		{"recording.part2.mp4", 2, "recording.part2.2.mp4"},
		{"out/recording.part3.m4a", 4, "out/recording.part3.4.m4a"},
	} {
		if got := ResumeFile(c.name, c.n); got != c.want {
			t.Errorf("ResumeFile(%q, %d) = %q, want %q", c.name, c.n, got, c.want)
		}
	}
	// Every file of every part has a name of its own.
	seen := map[string]string{}
	for _, base := range []string{"recording.mp4", "recording.m4a"} {
		for part := 1; part <= 12; part++ {
			for n := 1; n <= 12; n++ {
				f := ResumeFile(PartFile(base, part), n)
				key := fmt.Sprintf("part %d file %d", part, n)
				if prev, ok := seen[f]; ok {
					t.Fatalf("%s of %s and %s are both %s", prev, base, key, f)
				}
				seen[f] = key
			}
		}
	}
}
