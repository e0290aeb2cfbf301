package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A layout document in Twilio's format, given with --layout-file, puts the
// named peer in its named region: dave fills the left half, the others
// share the right. The picture is checked where the document says.
func TestRecordLayoutFile(t *testing.T) {
	dir := t.TempDir()
	doc := `{
  "fit": "cover",
  "video_layout": {
    "main": {"x_pos": 0, "y_pos": 0, "width": 320, "height": 360, "max_columns": 1, "max_rows": 1, "video_sources": ["dave"]},
    "rest": {"x_pos": 320, "y_pos": 0, "width": 320, "height": 360, "video_sources": ["*"], "video_sources_excluded": ["dave"]}
  }
}`
	file := filepath.Join(dir, "twilio.json")
	if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, stderr, code := runRoomcast(t, "record", "--room", "file:testdata/rooms/demo.yaml", "--record", "--resolution", "640x360",
		"--duration", "6s", "--fast", "--layout-file", file, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	colour := map[string][3]int{}
	for _, f := range demoFacts(t) {
		colour[f.name] = f.rgb
	}
	img := frameRGB(t, filepath.Join(out, "recording.mp4"), 5, 640, 360)
	half := func(left bool) []byte {
		var b []byte
		for y := range 360 {
			x0 := 320
			if left {
				x0 = 0
			}
			b = append(b, img[(y*640+x0)*3:(y*640+x0+320)*3]...)
		}
		return b
	}
	if s := colourShare(half(true), colour["dave"], 60); s < 0.6 {
		t.Errorf("dave covers %.0f%% of the left half, want most of it", s*100)
	}
	if s := colourShare(half(false), colour["dave"], 60); s > 0.05 {
		t.Errorf("dave shows on %.0f%% of the right half, where the document excludes him", s*100)
	}
	for _, p := range []string{"alice", "bob"} {
		if s := colourShare(half(false), colour[p], 60); s < 0.05 {
			t.Errorf("%s covers %.0f%% of the right half, want a tile there", p, s*100)
		}
	}

	// A document with a mistake is refused, naming where it is.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"video_layout": {"main": {"x_poss": 0}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runRoomcast(t, "record", "--room", "demo:", "--record", "--layout-file", bad)
	if code != 2 || !strings.Contains(stderr, "x_poss") || !strings.Contains(stderr, "--layout-file") {
		t.Errorf("a bad layout file: exit %d %q, want 2 naming the flag and the field", code, stderr)
	}
}
