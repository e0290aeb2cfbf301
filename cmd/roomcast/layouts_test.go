package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/compositor/layout"
)

func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestLayoutsCommand(t *testing.T) {
	out, err := runRoot(t, "layouts")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	names := layout.PresetNames()
	if len(lines) != len(names) {
		t.Fatalf("%d lines for %d presets:\n%s", len(lines), len(names), out)
	}
	for i, n := range names {
		d, _ := layout.Preset(n)
		if f := strings.Fields(lines[i]); len(f) < 2 || f[0] != n || !strings.Contains(lines[i], d.Description) {
			t.Errorf("line %q, want %s and its description", lines[i], n)
		}
	}

	for _, tt := range []struct {
		args   []string
		format layout.Format
		name   string
	}{
		{[]string{"layouts", "show", "grid"}, layout.FormatJSON, "grid"},
		{[]string{"layouts", "show", "speaker", "-o", "yaml"}, layout.FormatYAML, "speaker"},
		{[]string{"layouts", "show", "screen", "--output", "json"}, layout.FormatJSON, "screenshare"},
	} {
		out, err := runRoot(t, tt.args...)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		d, err := layout.Parse([]byte(out), tt.format)
		if err != nil || d.Name != tt.name {
			t.Errorf("%v: printed document %v, %v:\n%s", tt.args, d, err, out)
		}
	}

	for _, args := range [][]string{{"layouts", "show", "mosaic"}, {"layouts", "show", "grid", "-o", "xml"}, {"layouts", "show"}} {
		_, err := runRoot(t, args...)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitUsage {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
	}
	_, err = runRoot(t, "layouts", "show", "mosaic")
	if err == nil || !strings.Contains(err.Error(), "grid, pip, screenshare, single, speaker") {
		t.Errorf("unknown preset error names no presets: %v", err)
	}
}
