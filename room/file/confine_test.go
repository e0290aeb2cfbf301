package file

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/room"
)

// TestLoadInConfinesMedia: LoadIn takes media inside its folder, however
// named, and refuses media outside it by "..", an absolute path, a link to
// a file or a link to a folder. Load takes them all, as the CLI's own
// manifests may.
func TestLoadInConfinesMedia(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	clip, err := os.ReadFile(filepath.Join(peersDir, "alice.webm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(root, "in.webm"), filepath.Join(outside, "out.webm")} {
		if err := os.WriteFile(p, clip, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"link-out.webm": filepath.Join(outside, "out.webm"),
		"link-in.webm":  filepath.Join(root, "in.webm"),
		"dir-out":       outside,
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	up, _ := filepath.Rel(root, filepath.Join(outside, "out.webm"))
	for _, tc := range []struct {
		name, media string
		inside      bool
	}{
		{"relative", "in.webm", true},
		{"absolute, inside", filepath.Join(root, "in.webm"), true},
		{"dotdot back inside", "sub/../in.webm", true},
		{"link inside", "link-in.webm", true},
		{"dotdot", up, false},
		{"absolute", filepath.Join(outside, "out.webm"), false},
		{"link to a file", "link-out.webm", false},
		{"link to a folder", "dir-out/out.webm", false},
		{"screen outside", "in.webm\n    screen: " + filepath.Join(outside, "out.webm"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			manifest := filepath.Join(root, "room.yaml")
			if err := os.WriteFile(manifest, []byte("peers:\n  - name: a\n    media: "+tc.media+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadIn(manifest, root)
			if tc.inside && err != nil {
				t.Errorf("LoadIn refused media inside its folder: %v", err)
			}
			if !tc.inside && (err == nil || !strings.Contains(err.Error(), "outside the rooms folder") || !errors.Is(err, room.ErrInvalid)) {
				t.Errorf("LoadIn = %v, want media outside the rooms folder refused as room.ErrInvalid", err)
			}
			if tc.name != "screen outside" {
				if _, err := Load(manifest); err != nil {
					t.Errorf("Load refused what the CLI may give: %v", err)
				}
			}
		})
	}
}
