package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// --trim composes a room of track files with the silence between them cut,
// as Twilio's trim does: alice's 12 s, then bob, who joined 30 s later,
// right after her.
func TestRecordTrim(t *testing.T) {
	dir := t.TempDir()
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	manifest := "peers:\n" +
		"  - name: alice\n    media: " + filepath.Join(peers, "alice.webm") + "\n" +
		"  - name: bob\n    media: " + filepath.Join(peers, "bob.webm") + "\n    join: 42s\n"
	room := filepath.Join(dir, "room.yaml")
	if err := os.WriteFile(room, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	_, stderr, code := runRoomcast(t, "record", "--room", "file:"+room, "--record", "--resolution", "320x180",
		"--fast", "--trim", "--empty-room-timeout", "1s", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	mp4 := filepath.Join(out, "recording.mp4")
	d, _ := strconv.ParseFloat(ffprobe(t, mp4).Format.Duration, 64)
	// 24 s of media, and at most the empty-room timeout after: not the 54 s
	// of the untrimmed room.
	if d < 23.5 || d > 26.5 {
		t.Errorf("trimmed recording lasts %.1f s, want about 24 s (alice 12 s + bob 12 s)", d)
	}

	// --trim needs --fast.
	_, stderr, code = runRoomcast(t, "record", "--room", "file:"+room, "--record", "--trim")
	if code != 2 || !strings.Contains(stderr, "--trim") || !strings.Contains(stderr, "--fast") {
		t.Errorf("--trim without --fast: exit %d %q, want 2 naming both", code, stderr)
	}
}
