package layout

import (
	"testing"
)

// FuzzParse: any input is parsed or refused without a panic; a document that
// parses prints back to one that parses the same, and its placements obey
// the engine's promises.
func FuzzParse(f *testing.F) {
	for _, name := range PresetNames() {
		src, _ := PresetSource(name)
		f.Add(src)
	}
	f.Add([]byte(`{"video_layout": {"grid": {"video_sources": ["*"]}}}`))
	f.Add([]byte(`{"video_layout": {"interviewed": {"z_pos": 2, "x_pos": 400, "y_pos": 180, "width": 480, "height": 360, "video_sources": ["interviewed-video"]}, "interviewers": {"z_pos": 1, "x_pos": 10, "y_pos": 0, "width": 1260, "height": 720, "max_rows": 3, "max_columns": 3, "cells_excluded": [4], "reuse": "show_newest", "video_sources": ["interviewer-*"]}}}`))
	f.Add([]byte("video_layout:\n  main:\n    video_sources: ['join:2-', 'role:h*']\n    max_rows: 1\n    reuse: none\n    width: 50%\n"))
	f.Add([]byte("gap: 3%\nvideo_layout: {a: {video_sources: ['*'], compact: true, tile_aspect: '9:16', cells_excluded: [0, 2]}}\n"))
	f.Add([]byte(`{"video_layout": {"a": {"video_sources": ["*"], "x_pos": 0.99, "width": "1px"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data, FormatAuto)
		if err != nil {
			return
		}
		j, err := d.JSON()
		if err != nil {
			t.Fatalf("JSON of a parsed document: %v", err)
		}
		d2, err := Parse(j, FormatJSON)
		if err != nil {
			t.Fatalf("printed document does not parse: %v\n%s", err, j)
		}
		y, err := d.YAML()
		if err != nil {
			t.Fatalf("YAML of a parsed document: %v", err)
		}
		if _, err := Parse(y, FormatYAML); err != nil {
			t.Fatalf("printed YAML does not parse: %v\n%s", err, y)
		}
		srcs := append(peers(6), screenOf(peers(6)[3]))
		srcs[2].Role, srcs[4].Metadata = "host", "vip"
		for _, c := range [][2]int{{640, 360}, {360, 640}} {
			e, e2 := NewEngine(d), NewEngine(d2)
			for step := range 3 {
				s := srcs[:len(srcs)-step]
				ps := e.Arrange(s, c[0], c[1])
				ps2 := e2.Arrange(s, c[0], c[1])
				checkTiles(t, ps, c[0], c[1], false)
				for i := range ps {
					if ps[i] != ps2[i] {
						t.Fatalf("printed document places tile %d differently: %+v vs %+v", i, ps[i], ps2[i])
					}
				}
			}
		}
	})
}
