package layout

import (
	"image"
	"testing"
)

// The examples in this file are Twilio's, from "Specifying Video Layouts" in
// the Compositions API reference:
// https://www.twilio.com/docs/video/api/compositions-resource#specifying-video-layouts
// Cells are numbered from 0 at the region's top left, row by row; a grid is
// kept as near square as it can be, with at most one more column than rows.

// twilioTrack is a source named the way Twilio names tracks; a bare
// pattern matches it.
func twilioTrack(name string, join int) Source {
	return Source{Key: "t:" + name, PeerID: "PA" + name, TrackID: "MT" + name, Name: name, JoinOrder: join, HasVideo: true}
}

// The "interview" example: the interviewed person in the centre on top
// (z_pos 2), the interviewers in a 3x3 grid behind with the centre cell (4)
// left out for them, at 1280x720.
func TestTwilioInterviewExample(t *testing.T) {
	d := mustParse(t, `{
	  "resolution": "1280x720",
	  "format": "mp4",
	  "audio_sources": ["*"],
	  "audio_sources_excluded": ["advisor-audio"],
	  "video_layout": {
	    "interviewed": {"z_pos": 2, "x_pos": 400, "y_pos": 180, "width": 480, "height": 360,
	                    "video_sources": ["interviewed-video"]},
	    "interviewers": {"z_pos": 1, "x_pos": 10, "y_pos": 0, "width": 1260, "height": 720,
	                     "max_rows": 3, "max_columns": 3, "cells_excluded": [4],
	                     "reuse": "show_newest", "video_sources": ["interviewer-*"]}
	  }
	}`)
	if d.Resolution != "1280x720" || d.Format != "mp4" || len(d.AudioSourcesExcluded) != 1 {
		t.Errorf("Twilio's composition fields: %+v", d)
	}
	srcs := []Source{twilioTrack("interviewed-video", 1)}
	for i := range 8 {
		srcs = append(srcs, twilioTrack("interviewer-"+string(rune('a'+i)), i+2))
	}
	ps := NewEngine(d).Arrange(srcs, 1280, 720)
	checkPlacements(t, ps, 1280, 720)
	if p := ps[0]; p.Region != "interviewed" || p.Z != 2 || p.Rect != image.Rect(400, 180, 880, 540) {
		t.Errorf("interviewed: %+v", p)
	}
	// 1260/3 = 420 by 720/3 = 240, from x 10: cells 0..8 but 4.
	wantCells := []int{0, 1, 2, 3, 5, 6, 7, 8}
	for i, p := range ps[1:] {
		c := wantCells[i]
		want := image.Rect(10+420*(c%3), 240*(c/3), 10+420*(c%3+1), 240*(c/3+1))
		if p.Region != "interviewers" || p.Cell != c || p.Z != 1 || p.Rect != want {
			t.Errorf("interviewer %d: cell %d %v z %d, want cell %d %v z 1", i, p.Cell, p.Rect, p.Z, c, want)
		}
	}
}

// The default grid, {"grid": {"video_sources": ["*"]}}: Twilio's rule gives
// n sources ceil(sqrt(n)) columns.
func TestTwilioGrid(t *testing.T) {
	d := mustParse(t, `{"video_layout": {"grid": {"video_sources": ["*"]}}, "screenshare": "off"}`)
	tests := []struct {
		n          int
		cols, rows int
	}{{1, 1, 1}, {2, 2, 1}, {3, 2, 2}, {4, 2, 2}, {5, 3, 2}, {6, 3, 2}, {7, 3, 3}, {10, 4, 3}, {17, 5, 4}}
	for _, tt := range tests {
		srcs := make([]Source, tt.n)
		for i := range srcs {
			srcs[i] = twilioTrack(string(rune('a'+i)), i+1)
		}
		ps := NewEngine(d).Arrange(srcs, 1280, 720)
		checkPlacements(t, ps, 1280, 720)
		cw, ch := evenDown(1280/tt.cols), evenDown(720/tt.rows)
		x0, y0 := evenDown((1280-cw*tt.cols)/2), evenDown((720-ch*tt.rows)/2)
		for i, p := range ps {
			want := image.Rect(x0+cw*(i%tt.cols), y0+ch*(i/tt.cols), x0+cw*(i%tt.cols+1), y0+ch*(i/tt.cols+1))
			if p.Cell != i || p.Rect != want {
				t.Errorf("%d sources: source %d in cell %d %v, want cell %d %v", tt.n, i, p.Cell, p.Rect, i, want)
			}
		}
	}
}

// max_columns and max_rows, one at a time and together.
func TestTwilioGridLimits(t *testing.T) {
	tests := []struct {
		doc        string
		n          int
		cols, rows int
		shown      int
	}{
		{`{"video_layout": {"r": {"video_sources": ["*"], "max_columns": 2}}}`, 5, 2, 3, 5},
		{`{"video_layout": {"r": {"video_sources": ["*"], "max_rows": 1}}}`, 5, 5, 1, 5},
		{`{"video_layout": {"r": {"video_sources": ["*"], "max_rows": 2, "max_columns": 2}}}`, 5, 2, 2, 4},
		// Cells 5 and 8 lie beyond a 2x2 grid and are ignored; cell 1 stays empty.
		{`{"video_layout": {"r": {"video_sources": ["*"], "max_rows": 2, "max_columns": 2, "cells_excluded": [1, 5, 8]}}}`, 3, 2, 2, 3},
	}
	for _, tt := range tests {
		srcs := make([]Source, tt.n)
		for i := range srcs {
			srcs[i] = twilioTrack(string(rune('a'+i)), i+1)
		}
		ps := NewEngine(mustParse(t, tt.doc)).Arrange(srcs, 1200, 600)
		if got := shownCount(ps); got != tt.shown {
			t.Errorf("%s: %d shown, want %d", tt.doc, got, tt.shown)
		}
		cw, ch := evenDown(1200/tt.cols), evenDown(600/tt.rows)
		for i, p := range ps {
			if p.Shown && (p.Rect.Dx() != cw || p.Rect.Dy() != ch) {
				t.Errorf("%s: source %d is %dx%d, want a %dx%d grid's %dx%d", tt.doc, i, p.Rect.Dx(), p.Rect.Dy(), tt.cols, tt.rows, cw, ch)
			}
		}
	}
	// The excluded cell 1: sources go to 0, 2 and 3.
	d := mustParse(t, tests[3].doc)
	ps := NewEngine(d).Arrange([]Source{twilioTrack("a", 1), twilioTrack("b", 2), twilioTrack("c", 3)}, 1200, 600)
	for i, c := range []int{0, 2, 3} {
		if ps[i].Cell != c {
			t.Errorf("source %d in cell %d, want %d", i, ps[i].Cell, c)
		}
	}
}
