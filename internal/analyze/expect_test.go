package analyze

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseExpectErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown field", "streams:\n  video:\n    widht: 1280\n", "streams.video.widht (line 3): unknown field (known here: codec, width, height, fps, fpsTolerance)"},
		{"unknown top-level field", "stream: {}\n", "stream (line 1): unknown field"},
		{"integer wanted", "streams: {video: {width: wide}}\n", `streams.video.width (line 1): want an integer, got "wide"`},
		{"float for an integer", "streams:\n  audio: {sampleRate: 48000.5}\n", "streams.audio.sampleRate (line 2): want an integer"},
		{"number wanted", "sync: {maxOffsetMs: soon}\n", `sync.maxOffsetMs (line 1): want a number, got "soon"`},
		{"bool wanted", "audio: {notSilent: 1}\n", "audio.notSilent (line 1): want true or false"},
		{"mapping wanted", "duration: 6\n", "duration (line 1): want a mapping of fields"},
		{"list wanted", "layout: {at: 1}\n", "layout (line 1): want a list"},
		{"required field", "duration: {tolerance: 1}\n", "duration.seconds (line 1): missing"},
		{"required in a list item", "layout:\n  - at: 1\n    rgb: '#ffffff'\n", "layout[0].region (line 2): missing"},
		{"required region size", "layout:\n  - {at: 1, region: {x: 0, y: 0, w: 10}, rgb: '#ffffff'}\n", "layout[0].region.h (line 2): missing"},
		{"bad seconds", "layout:\n  - {at: later, region: {w: 1, h: 1}, rgb: '#ffffff'}\n", `layout[0].at (line 2): want seconds, as a number or a duration such as "1.5s", got "later"`},
		{"unquoted hex colour", "layout:\n  - at: 1\n    region: {w: 10, h: 10}\n    rgb: #ffffff\n", `layout[0].rgb (line 4): want "#rrggbb" (quoted, since # starts a YAML comment) or [r, g, b], got nothing`},
		{"colour component", "layout:\n  - {at: 1, region: {w: 10, h: 10}, rgb: [1, 2, 300]}\n", "layout[0].rgb[2] (line 2): want an integer 0..255"},
		{"yuv length", "layout:\n  - {at: 1, region: {w: 10, h: 10}, yuv: [1, 2]}\n", "layout[0].yuv (line 2): want a list of 3 values, got 2"},
		{"given twice", "sync: {maxOffsetMs: 1, maxOffsetMs: 2}\n", "sync.maxOffsetMs (line 1): is given twice"},
		{"no value", "streams:\n  video:\n    codec:\n", "streams.video.codec (line 3): has no value"},
		{"two kinds of check", "layout:\n  - {at: 1, region: {w: 10, h: 10}, rgb: '#ffffff', yuv: [1, 2, 3]}\n", "layout[0]: give exactly one of rgb, yuv and reference"},
		{"no kind of check", "layout:\n  - {at: 1, region: {w: 10, h: 10}}\n", "layout[0]: give exactly one of rgb, yuv and reference"},
		{"relative region out of frame", "layout:\n  - {at: 1, region: {x: 0.6, y: 0, w: 0.5, h: 1, relative: true}, rgb: '#ffffff'}\n", "layout[0].region: a relative region must lie within 0..1"},
		{"fractional pixels", "layout:\n  - {at: 1, region: {x: 0.5, y: 0, w: 0.5, h: 1}, rgb: '#ffffff'}\n", "layout[0].region: pixel values must be whole numbers"},
		{"reference image and clip", "layout:\n  - {at: 1, region: {w: 1, h: 1}, reference: {image: a.png, clip: a.mp4, minPsnr: 30}}\n", "layout[0].reference: give exactly one of image and clip"},
		{"reference needs minPsnr", "layout:\n  - {at: 1, region: {w: 1, h: 1}, reference: {image: a.png}}\n", "layout[0].reference.minPsnr (line 2): missing"},
		{"negative duration", "duration: {seconds: -1}\n", "duration.seconds: -1 is not a positive duration"},
		{"range upside down", "audio: {meanDbfs: {min: -10, max: -30}}\n", "audio.meanDbfs: min -10 is above max -30"},
		{"silence window", "audio:\n  silence: [{from: 2, to: 1}]\n", "audio.silence[0]: from 2 to 1 is not a window"},
		{"sync grid", "sync: {maxOffsetMs: 40, grid: 2by1}\n", `sync.grid: "2by1" is not a grid`},
		{"sync needs maxOffsetMs", "sync: {minPeers: 2}\n", "sync.maxOffsetMs (line 1): missing"},
		{"version", "version: 2\n", "version: 2 is not supported"},
		{"empty", "# nothing\n", "the expectation file is empty"},
		{"not yaml", "streams: [\n", "not valid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExpect([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("parsed, want error %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParseExpectValues(t *testing.T) {
	e, err := ParseExpect([]byte(goodExpect))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Layout[1].At; got != 0.8 {
		t.Errorf("at: 800ms = %v, want 0.8", got)
	}
	if got := *e.Layout[1].RGB; got != (Color{192, 96, 48}) {
		t.Errorf("rgb list = %v", got)
	}
	if got := *e.Layout[0].RGB; got != (Color{0x30, 0x60, 0xc0}) {
		t.Errorf("rgb hex = %v", got)
	}
	if got := e.Layout[1].Region.pixelRect(1280, 720); got != (Rect{X: 704, Y: 36, W: 512, H: 648}) {
		t.Errorf("relative region = %v", got)
	}
	// What Marshal writes parses back to the same expectations.
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseExpect(b)
	if err != nil {
		t.Fatalf("%v in\n%s", err, b)
	}
	if !reflect.DeepEqual(e, back) {
		t.Errorf("round trip changed the expectations:\n%s", b)
	}
}

// The files in testdata/expect are the format's examples; they must parse.
func TestExampleFilesParse(t *testing.T) {
	files, err := filepath.Glob("../../testdata/expect/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example expectation files in testdata/expect")
	}
	for _, f := range files {
		if _, err := LoadExpect(f); err != nil {
			t.Error(err)
		}
	}
	readme, err := os.ReadFile("../../testdata/expect/README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The README's full example is a YAML block too.
	_, after, ok := strings.Cut(string(readme), "```yaml\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no yaml example")
	}
	if _, err := ParseExpect([]byte(block)); err != nil {
		t.Errorf("README example: %v", err)
	}
}
