package layout

import (
	"bytes"
	"image"
	"strings"
	"testing"
)

var (
	canvases   = [][2]int{{1920, 1080}, {720, 1280}}
	peerCounts = []int{1, 2, 3, 4, 7, 12, 49}
)

// wantShown is how many of n cameras each preset shows.
func wantShown(preset string, n int) int {
	switch preset {
	case "grid", "screenshare":
		return min(n, 49)
	case "speaker":
		return min(n, 7)
	case "single":
		return 1
	case "pip":
		return min(n, 2)
	}
	return -1
}

func TestPresetsEveryCountAndOrientation(t *testing.T) {
	for _, name := range PresetNames() {
		for _, c := range canvases {
			for _, n := range peerCounts {
				w, h := c[0], c[1]
				e := NewEngine(mustPreset(t, name))
				ps := e.Arrange(peers(n), w, h)
				checkPlacements(t, ps, w, h)
				if got := shownCount(ps); got != wantShown(name, n) {
					t.Errorf("%s %dx%d %d peers: %d shown, want %d", name, w, h, n, got, wantShown(name, n))
				}
				minW, minH := w, h
				for _, p := range ps {
					if p.Shown {
						minW, minH = min(minW, p.Rect.Dx()), min(minH, p.Rect.Dy())
					}
				}
				// 49 tiles in 720 pixels: still about 96x54 each.
				if minW < 90 || minH < 50 {
					t.Errorf("%s %dx%d %d peers: a tile is only %dx%d", name, w, h, n, minW, minH)
				}
				if name != "pip" && name != "single" && n <= 49 {
					// The active speaker (or the first peer) gets the biggest tile.
					big := ps[0].Rect
					for i, p := range ps {
						if p.Shown && p.Rect.Dx()*p.Rect.Dy() > big.Dx()*big.Dy() {
							t.Errorf("%s %dx%d %d peers: tile %d %v is bigger than the speaker's %v", name, w, h, n, i, p.Rect, big)
						}
					}
				}
			}
		}
	}
}

func TestPresetGeometry(t *testing.T) {
	type tile struct {
		i    int
		rect image.Rectangle
	}
	tests := []struct {
		name   string
		preset string
		w, h   int
		n      int
		want   []tile
	}{
		// 1% of 1080 is 10.8: the gap is 8 (a multiple of 4). Four 16:9
		// tiles in a 2x2 grid, centred: (1904-8)/2 = 948 wide would be
		// 528 tall at most, so 938x528.
		{"grid 2x2 landscape", "grid", 1920, 1080, 4, []tile{
			{0, image.Rect(18, 8, 956, 536)}, {1, image.Rect(964, 8, 1902, 536)},
			{2, image.Rect(18, 544, 956, 1072)}, {3, image.Rect(964, 544, 1902, 1072)}}},
		// Three peers: two on top, the third centred under them.
		{"grid 3 landscape", "grid", 1920, 1080, 3, []tile{
			{0, image.Rect(18, 8, 956, 536)}, {1, image.Rect(964, 8, 1902, 536)},
			{2, image.Rect(490, 544, 1428, 1072)}}},
		// Portrait: two peers are stacked, full width (720-2*4 = 712).
		{"grid 2 portrait", "grid", 720, 1280, 2, []tile{
			{0, image.Rect(4, 238, 716, 638)}, {1, image.Rect(4, 642, 716, 1042)}}},
		// Speaker: the stage is the top 80% less the gaps; the filmstrip's
		// 16:9 tiles are as tall as the strip (1072-868 = 204).
		{"speaker landscape", "speaker", 1920, 1080, 3, []tile{
			{0, image.Rect(8, 8, 1912, 860)},
			{1, image.Rect(594, 868, 956, 1072)}, {2, image.Rect(964, 868, 1326, 1072)}}},
		// Portrait: the filmstrip runs down the right side.
		{"speaker portrait", "speaker", 720, 1280, 2, []tile{
			{0, image.Rect(4, 4, 538, 1276)}, {1, image.Rect(542, 592, 716, 688)}}},
		{"single", "single", 1280, 720, 3, []tile{{0, image.Rect(0, 0, 1280, 720)}}},
		// Pip: the inset is 25% by 25% at (73%, 71%): 1401.6 rounds to 1402.
		{"pip landscape", "pip", 1920, 1080, 2, []tile{
			{0, image.Rect(0, 0, 1920, 1080)}, {1, image.Rect(1402, 766, 1882, 1036)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := NewEngine(mustPreset(t, tt.preset)).Arrange(peers(tt.n), tt.w, tt.h)
			for _, want := range tt.want {
				if got := ps[want.i]; !got.Shown || got.Rect != want.rect {
					t.Errorf("tile %d: %v (shown %v), want %v", want.i, got.Rect, got.Shown, want.rect)
				}
			}
		})
	}
}

func TestPresetsScreenShareTakesTheStage(t *testing.T) {
	for _, name := range PresetNames() {
		for _, c := range canvases {
			w, h := c[0], c[1]
			e := NewEngine(mustPreset(t, name))
			cams := peers(4)
			before := append([]Placement(nil), e.Arrange(cams, w, h)...)
			withShare := append(append([]Source(nil), cams...), screenOf(cams[2]))
			ps := e.Arrange(withShare, w, h)
			checkPlacements(t, ps, w, h)
			scr := ps[len(ps)-1]
			if !scr.Shown || scr.Fit != FitContain {
				t.Fatalf("%s %dx%d: the screen share is not shown contained: %+v", name, w, h, scr)
			}
			for i, p := range ps[:len(ps)-1] {
				if p.Shown && p.Z == scr.Z && p.Rect.Dx()*p.Rect.Dy() >= scr.Rect.Dx()*scr.Rect.Dy() {
					t.Errorf("%s %dx%d: camera %d %v is as big as the screen %v", name, w, h, i, p.Rect, scr.Rect)
				}
			}
			// The share ends: the layout is as it was.
			after := e.Arrange(cams, w, h)
			for i := range after {
				if after[i].Rect != before[i].Rect || after[i].Shown != before[i].Shown {
					t.Errorf("%s %dx%d: after the share, tile %d is %v, was %v", name, w, h, i, after[i].Rect, before[i].Rect)
				}
			}
		}
	}
}

func TestScreenshareOff(t *testing.T) {
	d := mustParse(t, `{"screenshare": "off", "video_layout": {"grid": {"video_sources": ["*"]}}}`)
	cams := peers(2)
	ps := NewEngine(d).Arrange(append(cams, screenOf(cams[0])), 1280, 720)
	// Three equal cells, Twilio's 2x2 grid: the screen is one source like
	// any other, ranked with its peer (joined first), so it comes second.
	want := []image.Rectangle{image.Rect(0, 0, 640, 360), image.Rect(0, 360, 640, 720), image.Rect(640, 0, 1280, 360)}
	for i, p := range ps {
		if p.Rect != want[i] {
			t.Errorf("tile %d: %v, want %v", i, p.Rect, want[i])
		}
	}
}

func TestPresetsRoundTrip(t *testing.T) {
	for _, name := range PresetNames() {
		d := mustPreset(t, name)
		if d.Name != name || d.Description == "" || strings.Contains(d.Description, "\n") {
			t.Errorf("preset %s: name %q, description %q", name, d.Name, d.Description)
		}
		j, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		src, _ := PresetSource(name)
		if !bytes.Equal(bytes.TrimSpace(j), bytes.TrimSpace(normalizeJSON(t, src))) {
			t.Errorf("preset %s: JSON() differs from the shipped file", name)
		}
		y, err := d.YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(y, FormatYAML)
		if err != nil {
			t.Fatalf("preset %s: its YAML does not parse: %v\n%s", name, err, y)
		}
		j2, _ := back.JSON()
		if !bytes.Equal(j, j2) {
			t.Errorf("preset %s: YAML round trip changed it:\n%s\nvs\n%s", name, j, j2)
		}
		// The YAML engine gives the same placements.
		for _, c := range canvases {
			a := NewEngine(d).Arrange(append(peers(5), screenOf(peers(5)[1])), c[0], c[1])
			b := NewEngine(back).Arrange(append(peers(5), screenOf(peers(5)[1])), c[0], c[1])
			for i := range a {
				if a[i] != b[i] {
					t.Errorf("preset %s: tile %d differs after YAML: %+v vs %+v", name, i, a[i], b[i])
				}
			}
		}
	}
	if d, err := Preset("screen"); err != nil || d.Name != "screenshare" {
		t.Errorf("alias screen: %v, %v", d, err)
	}
	if _, err := Preset("mosaic"); err == nil || !IsUnknown(err) || !strings.Contains(err.Error(), "grid, pip, screenshare, single, speaker") {
		t.Errorf("unknown preset: %v", err)
	}
}

func normalizeJSON(t *testing.T, b []byte) []byte {
	tr, err := decodeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	d := &Document{tree: tr}
	out, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestResolve(t *testing.T) {
	tests := []struct {
		in, name string
		bad      bool
	}{
		{"", "grid", false},
		{"speaker", "speaker", false},
		{" Screen ", "screenshare", false},
		{`{"name": "x", "video_layout": {"a": {"video_sources": ["*"]}}}`, "x", false},
		{"name: y\nvideo_layout:\n  a:\n    video_sources: ['*']\n", "y", false},
		{"mosaic", "", true},
	}
	for _, tt := range tests {
		d, err := Resolve(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("Resolve(%q) took it", tt.in)
			}
			continue
		}
		if err != nil || d.Name != tt.name {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tt.in, d, err, tt.name)
		}
	}
	if d, err := ResolveJSON([]byte(`"pip"`)); err != nil || d.Name != "pip" {
		t.Errorf("ResolveJSON name: %v %v", d, err)
	}
	if d, err := ResolveJSON([]byte(`{"video_layout": {"a": {"video_sources": ["*"]}}}`)); err != nil || len(d.VideoLayout) != 1 {
		t.Errorf("ResolveJSON document: %v %v", d, err)
	}
}
