package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc string
		path      string // the FieldError's path
		says      string // part of the message
	}{
		{"unknown region field", `{"video_layout": {"main": {"video_sources": ["*"], "x_poss": 3}}}`,
			"video_layout.main.x_poss", `did you mean "x_pos"`},
		{"unknown top field", `{"video_layouts": {}}`, "video_layouts", `did you mean "video_layout"`},
		{"far-off field", `{"zzz": 1, "video_layout": {"a": {"video_sources": ["*"]}}}`, "zzz", "known fields here"},
		{"no video_layout", `{"name": "x"}`, "video_layout", "missing"},
		{"no regions", `{"video_layout": {}}`, "video_layout", "has no regions"},
		{"no video_sources", `{"video_layout": {"main": {}}}`, "video_layout.main.video_sources", `e.g. ["*"]`},
		{"video_sources not a list", `{"video_layout": {"main": {"video_sources": "*"}}}`, "video_layout.main.video_sources", "list of strings"},
		{"pattern not a string", `{"video_layout": {"main": {"video_sources": ["*", 3]}}}`, "video_layout.main.video_sources[1]", "must be a string"},
		{"bad pattern", `{"video_layout": {"main": {"video_sources": ["source:mic"]}}}`, "video_layout.main.video_sources[0]", "camera or screen"},
		{"bad excluded pattern", `{"video_layout": {"main": {"video_sources": ["*"], "video_sources_excluded": ["join:0"]}}}`, "video_layout.main.video_sources_excluded[0]", "join takes"},
		{"reuse", `{"video_layout": {"main": {"video_sources": ["*"], "reuse": "show_all"}}}`, "video_layout.main.reuse", "none, show_oldest, show_newest"},
		{"z_pos range", `{"video_layout": {"main": {"video_sources": ["*"], "z_pos": 100}}}`, "video_layout.main.z_pos", "-99 to 99"},
		{"z_pos fraction", `{"video_layout": {"main": {"video_sources": ["*"], "z_pos": 1.5}}}`, "video_layout.main.z_pos", "whole number"},
		{"max_columns zero", `{"video_layout": {"main": {"video_sources": ["*"], "max_columns": 0}}}`, "video_layout.main.max_columns", "1 to 1000"},
		{"cells_excluded negative", `{"video_layout": {"main": {"video_sources": ["*"], "cells_excluded": [2, -1]}}}`, "video_layout.main.cells_excluded[1]", "count from 0"},
		{"cells_excluded not a list", `{"video_layout": {"main": {"video_sources": ["*"], "cells_excluded": 4}}}`, "video_layout.main.cells_excluded", "list of cell numbers"},
		{"negative x", `{"video_layout": {"main": {"video_sources": ["*"], "x_pos": -4}}}`, "video_layout.main.x_pos", "negative"},
		{"fraction over 1", `{"video_layout": {"main": {"video_sources": ["*"], "width": 1.5}}}`, "video_layout.main.width", "fraction from 0.0 to 1.0"},
		{"percent over 100", `{"video_layout": {"main": {"video_sources": ["*"], "width": "150%"}}}`, "video_layout.main.width", "0% to 100%"},
		{"length word", `{"video_layout": {"main": {"video_sources": ["*"], "height": "tall"}}}`, "video_layout.main.height", "not a length"},
		{"zero width", `{"video_layout": {"main": {"video_sources": ["*"], "width": 0}}}`, "video_layout.main.width", "at least 2 pixels"},
		{"order", `{"video_layout": {"main": {"video_sources": ["*"], "order": "loudest"}}}`, "video_layout.main.order", "join, speaker"},
		{"tile_aspect", `{"video_layout": {"main": {"video_sources": ["*"], "tile_aspect": "wide"}}}`, "video_layout.main.tile_aspect", "W:H"},
		{"compact not bool", `{"video_layout": {"main": {"video_sources": ["*"], "compact": "yes"}}}`, "video_layout.main.compact", "true or false"},
		{"fit", `{"fit": "stretch", "video_layout": {"a": {"video_sources": ["*"]}}}`, "fit", "cover, contain"},
		{"screenshare", `{"screenshare": "hide", "video_layout": {"a": {"video_sources": ["*"]}}}`, "screenshare", "stage, off"},
		{"background", `{"background": "blue", "video_layout": {"a": {"video_sources": ["*"]}}}`, "background", "#rrggbb"},
		{"overlay field", `{"overlays": {"name_label": {"font": "x"}}, "video_layout": {"a": {"video_sources": ["*"]}}}`, "overlays.name_label.font", "show, position, size"},
		{"overlay position", `{"overlays": {"muted_mic": {"position": "middle"}}, "video_layout": {"a": {"video_sources": ["*"]}}}`, "overlays.muted_mic.position", "top_left"},
		{"border colour", `{"overlays": {"speaker_border": {"color": "#12"}}, "video_layout": {"a": {"video_sources": ["*"]}}}`, "overlays.speaker_border.color", "not a colour"},
		{"region not an object", `{"video_layout": {"a": ["*"]}}`, "video_layout.a", "must be an object"},
		{"portrait region field", `{"video_layout": {"a": {"video_sources": ["*"]}}, "portrait_video_layout": {"b": {"video_sources": ["*"], "xpos": 1}}}`, "portrait_video_layout.b.xpos", `did you mean "x_pos"`},
		{"yaml unknown field", "video_layout:\n  main:\n    video_sources: ['*']\n    max_colums: 2\n", "video_layout.main.max_colums", `did you mean "max_columns"`},
		{"yaml duplicate key", "video_layout:\n  a:\n    video_sources: ['*']\n  a:\n    video_sources: ['*']\n", "", "appears twice"},
		{"json duplicate key", `{"video_layout": {"a": {"video_sources": ["*"]}, "a": {"video_sources": ["*"]}}}`, "", "appears twice"},
		{"yaml alias", "base: &b {video_sources: ['*']}\nvideo_layout:\n  a: *b\n", "", "aliases are not allowed"},
		{"not an object", `["grid"]`, "", "must be an object"},
		{"bad json", `{"video_layout": `, "", "not valid JSON"},
		{"bad yaml", "video_layout: [\n", "", "not valid YAML"},
		{"empty", ``, "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), FormatAuto)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FieldError", err)
			}
			if fe.Path != tt.path || !strings.Contains(fe.Msg, tt.says) {
				t.Errorf("got %q (path %q), want path %q saying %q", err, fe.Path, tt.path, tt.says)
			}
			if tt.path != "" && !strings.HasPrefix(err.Error(), "layout: "+tt.path+": ") {
				t.Errorf("message %q does not start with the path", err)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	d := mustParse(t, `{
	  "background": "#abc", "gap": "2%", "radius": 0.1, "fit": "contain",
	  "video_layout": {"a": {"video_sources": ["*"], "x_pos": "10px", "y_pos": 0.25, "width": 1.0, "height": "50%",
	                         "cells_excluded": [3, 1, 3], "tile_aspect": "4:3"}}}`)
	r := d.VideoLayout[0]
	if r.X != (Length{Px: 10, set: true}) || !r.Y.IsFrac || r.Y.Frac != 0.25 || !r.Width.IsFrac || r.Width.Frac != 1 || r.Height.Frac != 0.5 {
		t.Errorf("lengths: %+v %+v %+v %+v", r.X, r.Y, r.Width, r.Height)
	}
	if len(r.CellsExcluded) != 2 || r.CellsExcluded[0] != 1 || r.TileAspect != 4.0/3 {
		t.Errorf("cells %v aspect %v", r.CellsExcluded, r.TileAspect)
	}
	if d.Background.R != 0xaa || d.Background.B != 0xcc || d.Gap.Of(1000) != 20 || d.Radius.Of(100) != 10 || d.Fit != FitContain {
		t.Errorf("document values: %+v", d)
	}
	// YAML's 1.0 is a fraction, its 1 a pixel, as in JSON.
	y := mustParse(t, "video_layout:\n  a:\n    video_sources: ['*']\n    width: 1.0\n    height: 2\n")
	if !y.VideoLayout[0].Width.IsFrac || y.VideoLayout[0].Height.IsFrac || y.VideoLayout[0].Height.Px != 2 {
		t.Errorf("YAML lengths: %+v %+v", y.VideoLayout[0].Width, y.VideoLayout[0].Height)
	}
	// Regions keep the document's order.
	o := mustParse(t, "video_layout:\n  z:\n    video_sources: ['*']\n  a:\n    video_sources: ['*']\n")
	if o.VideoLayout[0].Name != "z" || o.VideoLayout[1].Name != "a" {
		t.Errorf("order: %s %s", o.VideoLayout[0].Name, o.VideoLayout[1].Name)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yamlDoc := "name: studio\nvideo_layout:\n  main:\n    video_sources: ['*']\n"
	jsonDoc := `{"name": "studio", "video_layout": {"main": {"video_sources": ["*"]}}}`
	for _, p := range []string{write("a.yaml", yamlDoc), write("a.yml", yamlDoc), write("a.json", jsonDoc),
		write("a.layout", jsonDoc), write("b.layout", yamlDoc)} {
		d, err := LoadFile(p)
		if err != nil || d.Name != "studio" {
			t.Errorf("%s: %v %v", p, d, err)
		}
	}
	// The extension decides: YAML in a .json file is refused as JSON.
	if _, err := LoadFile(write("c.json", yamlDoc)); err == nil || !strings.Contains(err.Error(), "not valid JSON") || !strings.Contains(err.Error(), "c.json") {
		t.Errorf("YAML in .json: %v", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
