package layout

import (
	"image"
	"testing"
)

// Twilio's rule: a source never changes cell while it stays.
func TestSourceKeepsItsCell(t *testing.T) {
	d := mustParse(t, `{"video_layout": {"grid": {"video_sources": ["*"]}}}`)
	e := NewEngine(d)
	srcs := peers(5)
	ps := e.Arrange(srcs, 1280, 720)
	for i := range srcs {
		if ps[i].Cell != i {
			t.Fatalf("peer %d in cell %d", i, ps[i].Cell)
		}
	}
	// Peer 2 (cell 1) and peer 4 (cell 3) leave: the others stay where they
	// were, the grid keeps room for cell 4.
	left := without(without(srcs, "p:02"), "p:04")
	ps = e.Arrange(left, 1280, 720)
	for i, s := range left {
		want := map[string]int{"p:01": 0, "p:03": 2, "p:05": 4}[s.Key]
		if ps[i].Cell != want {
			t.Errorf("%s moved to cell %d, want %d", s.Key, ps[i].Cell, want)
		}
	}
	if ps[2].Rect != image.Rect(426, 360, 852, 720) {
		t.Errorf("p:05's cell 4 is %v, want the middle of the 3x2 grid's second row", ps[2].Rect)
	}
	// A newcomer takes the lowest free cell.
	newcomer := Source{Key: "p:06", Name: "peer06", JoinOrder: 6, HasVideo: true}
	left = append(left, newcomer)
	ps = e.Arrange(left, 1280, 720)
	if ps[3].Cell != 1 {
		t.Errorf("newcomer in cell %d, want 1", ps[3].Cell)
	}
	if ps[0].Cell != 0 || ps[1].Cell != 2 || ps[2].Cell != 4 {
		t.Errorf("cells changed when a peer joined: %d %d %d", ps[0].Cell, ps[1].Cell, ps[2].Cell)
	}
}

// compact: the source in the last cell moves into the hole, and only it.
func TestCompactMovesOneTile(t *testing.T) {
	d := mustParse(t, `{"video_layout": {"grid": {"video_sources": ["*"], "compact": true}}}`)
	e := NewEngine(d)
	srcs := peers(5)
	e.Arrange(srcs, 1280, 720)
	left := without(srcs, "p:02")
	ps := e.Arrange(left, 1280, 720)
	want := map[string]int{"p:01": 0, "p:03": 2, "p:04": 3, "p:05": 1}
	for i, s := range left {
		if ps[i].Cell != want[s.Key] {
			t.Errorf("%s in cell %d, want %d", s.Key, ps[i].Cell, want[s.Key])
		}
	}
	// Four left: a 2x2 grid again.
	if ps[0].Rect != image.Rect(0, 0, 640, 360) {
		t.Errorf("p:01 at %v, want the 2x2 grid's first cell", ps[0].Rect)
	}
}

// The reuse modes, on a 1x2 region with three sources: C joins, then A,
// then B. Live, the engine cannot know when a source will end, so a full
// region shows the oldest (show_oldest), the newest (show_newest), or keeps
// whoever got a cell first and never shows a source that found none (none).
func TestReuse(t *testing.T) {
	c, a, b := twilioTrack("C", 1), twilioTrack("A", 2), twilioTrack("B", 3)
	steps := []struct {
		what string
		srcs []Source
	}{
		{"C joins", []Source{c}},
		{"A joins", []Source{c, a}},
		{"B joins", []Source{c, a, b}},
		{"A leaves", []Source{c, b}},
		{"A is back", []Source{c, b, a}},
	}
	tests := []struct {
		reuse string
		// The cell of C, A and B after each step; -1 is not shown.
		cells [][3]int
	}{
		{"none", [][3]int{{0, -1, -1}, {0, 1, -1}, {0, 1, -1}, {0, -1, -1}, {0, 1, -1}}},
		{"show_oldest", [][3]int{{0, -1, -1}, {0, 1, -1}, {0, 1, -1}, {0, -1, 1}, {0, 1, -1}}},
		{"show_newest", [][3]int{{0, -1, -1}, {0, 1, -1}, {-1, 1, 0}, {1, -1, 0}, {-1, 1, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.reuse, func(t *testing.T) {
			d := mustParse(t, `{"screenshare": "off", "video_layout": {"main": {"video_sources": ["*"], "max_rows": 1, "max_columns": 2, "reuse": "`+tt.reuse+`"}}}`)
			e := NewEngine(d)
			for si, st := range steps {
				ps := e.Arrange(st.srcs, 1280, 720)
				checkPlacements(t, ps, 1280, 720)
				for k, key := range []string{"t:C", "t:A", "t:B"} {
					_, got := cellOf(ps, st.srcs, key)
					want := tt.cells[si][k]
					if got == -2 {
						got = -1 // not in the room
					}
					if got != want {
						t.Errorf("after %q: %s in cell %d, want %d", st.what, key, got, want)
					}
				}
			}
		})
	}
}

// A custom document: the named peers in the named regions.
func TestCustomDocumentNamedRegions(t *testing.T) {
	d := mustParse(t, `
name: studio
gap: 0
screenshare: "off"
video_layout:
  host:
    x_pos: 0
    y_pos: 0
    width: 50%
    height: 100%
    video_sources: ["role:host"]
    video_sources_excluded: ["source:screen"]
  slides:
    x_pos: 0.5
    y_pos: 0
    width: 0.5
    height: 0.5
    video_sources: ["source:screen"]
  guests:
    x_pos: 50%
    y_pos: 50%
    video_sources: ["name:guest-*", "join:2-3"]
    video_sources_excluded: ["meta:*hidden*"]
`)
	srcs := []Source{
		{Key: "p:host", Name: "Ann", Role: "host", JoinOrder: 4, HasVideo: true},
		{Key: "p:g1", Name: "guest-bob", JoinOrder: 1, HasVideo: true},
		{Key: "p:g2", Name: "carol", JoinOrder: 2, HasVideo: true},
		{Key: "p:g3", Name: "dave", JoinOrder: 3, Metadata: `{"hidden":true}`, HasVideo: true},
		{Key: "p:x", Name: "eve", JoinOrder: 5, HasVideo: true},
		{Key: "t:scr", Name: "Ann", Role: "host", Screen: true, JoinOrder: 4, HasVideo: true},
	}
	ps := NewEngine(d).Arrange(srcs, 1280, 720)
	checkPlacements(t, ps, 1280, 720)
	want := []struct {
		region string
		rect   image.Rectangle
	}{
		{"host", image.Rect(0, 0, 640, 720)},
		{"guests", image.Rect(640, 360, 960, 720)},
		{"guests", image.Rect(960, 360, 1280, 720)},
		{"", image.Rectangle{}},
		{"", image.Rectangle{}},
		{"slides", image.Rect(640, 0, 1280, 360)},
	}
	for i, w := range want {
		if ps[i].Region != w.region || ps[i].Rect != w.rect {
			t.Errorf("%s: region %q %v, want %q %v", srcs[i].Key, ps[i].Region, ps[i].Rect, w.region, w.rect)
		}
	}
	// The host region leaves the host's screen share out, so the slides
	// region, next in document order, gets it.
	if ps[5].Fit != FitContain || ps[0].Fit != FitCover {
		t.Errorf("fits: screen %s, camera %s", ps[5].Fit, ps[0].Fit)
	}
}

// Speaker order: the stage follows the active speaker, and the old speaker
// takes the new one's filmstrip cell (one swap, no other tile moves).
func TestSpeakerSwap(t *testing.T) {
	e := NewEngine(mustPreset(t, "speaker"))
	srcs := peers(4)
	ps := e.Arrange(srcs, 1920, 1080)
	if ps[0].Region != "stage" {
		t.Fatalf("speaker not on stage: %+v", ps[0])
	}
	strip := map[string]image.Rectangle{}
	for i, p := range ps {
		strip[srcs[i].Key] = p.Rect
	}
	srcs[0].ActiveSpeaker, srcs[2].ActiveSpeaker = false, true
	srcs[2].LastSpoke = 100
	ps = e.Arrange(srcs, 1920, 1080)
	if ps[2].Region != "stage" || ps[2].Rect != strip["p:01"] {
		t.Errorf("new speaker: %+v", ps[2])
	}
	if ps[0].Rect != strip["p:03"] || ps[1].Rect != strip["p:02"] || ps[3].Rect != strip["p:04"] {
		t.Errorf("filmstrip changed beyond the swap: %v %v %v", ps[0].Rect, ps[1].Rect, ps[3].Rect)
	}
	if !ps[2].Overlay.Highlight || ps[0].Overlay.Highlight {
		t.Errorf("highlight: new %v old %v", ps[2].Overlay.Highlight, ps[0].Overlay.Highlight)
	}
}

func TestOverlaySettings(t *testing.T) {
	d := mustParse(t, `{"video_layout": {"g": {"video_sources": ["*"]}},
	  "overlays": {"name_label": {"position": "top", "size": 20}, "muted_mic": {"show": false},
	               "speaker_border": {"color": "#ff0000", "width": "1%"}, "initials": {"size": "50%"}}}`)
	srcs := peers(2)
	srcs[1].HasVideo, srcs[1].MicMuted = false, true
	ps := NewEngine(d).Arrange(srcs, 1280, 720)
	o0, o1 := ps[0].Overlay, ps[1].Overlay
	if !o0.NameLabel.Show || o0.NameLabel.Position != Top || o0.NameLabel.Size != 20 {
		t.Errorf("label: %+v", o0.NameLabel)
	}
	if o1.MutedMic.Show {
		t.Error("muted marker shown though turned off")
	}
	if !o0.Highlight || o0.BorderColor.R != 255 || o0.BorderWidth != 6 || o1.Highlight {
		t.Errorf("border: %+v / %+v", o0, o1)
	}
	if o0.Initials || !o1.Initials || o1.InitialsSize != 360 {
		t.Errorf("initials: %+v / %+v", o0, o1)
	}
	// The default: the muted marker shows for a muted peer only.
	ps = NewEngine(mustPreset(t, "grid")).Arrange(srcs, 1280, 720)
	if ps[0].Overlay.MutedMic.Show || !ps[1].Overlay.MutedMic.Show {
		t.Errorf("default muted marker: %+v / %+v", ps[0].Overlay.MutedMic, ps[1].Overlay.MutedMic)
	}
}

// A document swapped live is in force on the next call.
func TestSetDocument(t *testing.T) {
	e := NewEngine(nil)
	srcs := peers(3)
	if ps := e.Arrange(srcs, 1280, 720); ps[0].Region != "grid" {
		t.Fatalf("default is not the grid: %+v", ps[0])
	}
	e.SetDocument(mustPreset(t, "single"))
	ps := e.Arrange(srcs, 1280, 720)
	if ps[0].Region != "main" || ps[0].Rect != image.Rect(0, 0, 1280, 720) || ps[1].Shown || ps[2].Shown {
		t.Errorf("after SetDocument(single): %+v", ps)
	}
	if e.Document().Name != "single" {
		t.Errorf("Document() = %s", e.Document().Name)
	}
}

func TestArrangeEdgeCases(t *testing.T) {
	e := NewEngine(mustPreset(t, "grid"))
	if ps := e.Arrange(nil, 1280, 720); len(ps) != 0 {
		t.Errorf("no sources: %v", ps)
	}
	for _, c := range [][2]int{{0, 0}, {2, 2}, {17, 9}, {160, 90}} {
		ps := e.Arrange(peers(49), c[0], c[1])
		checkPlacements(t, ps, evenDown(c[0]), evenDown(c[1]))
	}
}

// Arrange runs on every re-layout: a steady scene costs no allocation.
func TestArrangeAllocations(t *testing.T) {
	for _, name := range PresetNames() {
		e := NewEngine(mustPreset(t, name))
		srcs := peers(12)
		e.Arrange(srcs, 1920, 1080)
		allocs := testing.AllocsPerRun(50, func() { e.Arrange(srcs, 1920, 1080) })
		t.Logf("%s: %.0f allocations per Arrange of 12 peers", name, allocs)
		if allocs > 8 {
			t.Errorf("%s: %.0f allocations per Arrange", name, allocs)
		}
	}
}
