package hls

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// playlistSegments returns the segment URIs and durations of a playlist.
func playlistSegments(t *testing.T, pl string) (uris []string, durs []float64) {
	t.Helper()
	re := regexp.MustCompile(`#EXTINF:([0-9.]+),`)
	for _, ln := range strings.Split(pl, "\n") {
		ln = strings.TrimSpace(ln)
		if m := re.FindStringSubmatch(ln); m != nil {
			d, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				t.Fatalf("EXTINF %q", ln)
			}
			durs = append(durs, d)
		} else if ln != "" && !strings.HasPrefix(ln, "#") {
			uris = append(uris, ln)
		}
	}
	if len(uris) != len(durs) {
		t.Fatalf("%d URIs for %d EXTINFs in\n%s", len(uris), len(durs), pl)
	}
	return uris, durs
}

type probeFormat struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func probe(t *testing.T, path string) probeFormat {
	t.Helper()
	out := ffprobe(t, 30*time.Second, "-show_entries", "stream=codec_type,codec_name:format=duration",
		"-of", "json", path)
	var p probeFormat
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	var kinds []string
	for _, s := range p.Streams {
		kinds = append(kinds, s.CodecType+"/"+s.CodecName)
	}
	if strings.Join(kinds, ",") != "video/h264,audio/aac" {
		t.Errorf("ffprobe %s: streams %v, want video/h264 and audio/aac", path, kinds)
	}
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRecorder(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "out", "hls") // created by Open
	var states []output.SinkState
	rec := NewRecorder(RecordOptions{Dir: dir})
	if got, want := rec.Path(), filepath.Join(dir, "index.m3u8"); got != want {
		t.Errorf("Path() = %q, want %q", got, want)
	}
	ctx := context.Background()
	if err := rec.Open(ctx, testClip.info, output.ReporterFunc(func(s output.SinkState) {
		states = append(states, s)
	})); err != nil {
		t.Fatalf("Open: %v", err)
	}

	// Mid-run the playlist is an EVENT playlist without an end.
	const fed = 11 * time.Second
	if _, err := feed(ctx, rec, testClip, feedOptions{duration: 5 * time.Second}); err != nil {
		t.Fatalf("feed: %v", err)
	}
	pl := readFile(t, rec.Path())
	if !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(pl, "#EXT-X-ENDLIST") {
		t.Errorf("mid-run playlist is not an open EVENT playlist:\n%s", pl)
	}
	if uris, _ := playlistSegments(t, pl); len(uris) < 2 {
		t.Errorf("mid-run playlist has %d segments, want 2:\n%s", len(uris), pl)
	}

	if _, err := feed(ctx, rec, testClip, feedOptions{from: 5 * time.Second, duration: fed}); err != nil {
		t.Fatalf("feed: %v", err)
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Closed, it is a VOD playlist with an end, of 2 s segments, readable
	// by ffprobe with the fed duration.
	pl = readFile(t, rec.Path())
	t.Logf("index.m3u8:\n%s", pl)
	for _, tc := range []struct {
		tag  string
		want bool
	}{
		{"#EXT-X-PLAYLIST-TYPE:VOD", true},
		{"#EXT-X-ENDLIST", true},
		{"#EXT-X-PLAYLIST-TYPE:EVENT", false},
		{"#EXT-X-TARGETDURATION:2", true},
		{"#EXT-X-INDEPENDENT-SEGMENTS", true},
		{"#EXT-X-PROGRAM-DATE-TIME:", true},
	} {
		if strings.Contains(pl, tc.tag) != tc.want {
			t.Errorf("final playlist: has %s = %v, want %v", tc.tag, !tc.want, tc.want)
		}
	}
	if !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") {
		t.Errorf("final playlist does not end with #EXT-X-ENDLIST")
	}
	uris, durs := playlistSegments(t, pl)
	for i, d := range durs {
		if i < len(durs)-1 && (d < 1.9 || d > 2.1) {
			t.Errorf("segment %s lasts %.3f s, want 2", uris[i], d)
		}
	}
	p := probe(t, rec.Path())
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil || d < fed.Seconds()-1 || d > fed.Seconds()+1 {
		t.Errorf("ffprobe duration %q, want %.0f±1 s", p.Format.Duration, fed.Seconds())
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temp files left: %v", leftovers)
	}
	if len(states) < 2 || !states[0].Running || states[len(states)-1].Running || states[len(states)-1].Err != nil {
		t.Errorf("reported %+v, want running, then stopped without error", states)
	}
}

const envCrashDir = "ROOMCAST_HLS_CRASH_DIR"

// TestRecorderCrashChild is the process TestRecorderCrash kills: it records
// at four times real time until it is killed (or for 60 s at most).
func TestRecorderCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("run by TestRecorderCrash")
	}
	rec := NewRecorder(RecordOptions{Dir: dir})
	ctx := context.Background()
	if err := rec.Open(ctx, testClip.info, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := feed(ctx, rec, testClip, feedOptions{duration: 240 * time.Second, speed: 4}); err != nil {
		t.Fatal(err)
	}
	t.Fatal("not killed")
}

func TestRecorderCrash(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "hls")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRecorderCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// Kill it mid-segment once the playlist lists three segments.
	path := filepath.Join(dir, "index.m3u8")
	for {
		if ctx.Err() != nil {
			t.Fatalf("no 3 segments in time; child said:\n%s", out.String())
		}
		if b, err := os.ReadFile(path); err == nil && strings.Count(string(b), "#EXTINF") >= 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(700 * time.Millisecond) // into the next segment
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	waited = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, not SIGKILL; it said:\n%s", err, out.String())
	}

	// The playlist is a valid, still open EVENT playlist whose every
	// segment is complete.
	pl := readFile(t, path)
	t.Logf("index.m3u8 after SIGKILL:\n%s", pl)
	if !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(pl, "#EXT-X-ENDLIST") {
		t.Errorf("not an open EVENT playlist")
	}
	uris, durs := playlistSegments(t, pl)
	if len(uris) < 3 {
		t.Fatalf("%d segments listed, want at least 3", len(uris))
	}
	for i, u := range uris {
		p := probe(t, filepath.Join(dir, u))
		d, _ := strconv.ParseFloat(p.Format.Duration, 64)
		if d < durs[i]-0.2 || d > durs[i]+0.2 {
			t.Errorf("segment %s: %.3f s, playlist says %.3f", u, d, durs[i])
		}
	}
	probe(t, path) // ffprobe reads the playlist itself
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	t.Logf("left behind (not in the playlist): %v", tmps)

	// FinalizePlaylist turns the leftover into a VOD playlist of the
	// complete segments.
	if err := FinalizePlaylist(path); err != nil {
		t.Fatal(err)
	}
	pl = readFile(t, path)
	if !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:VOD") || !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") {
		t.Errorf("finalized playlist:\n%s", pl)
	}
	p := probe(t, path)
	want := 0.0
	for _, d := range durs {
		want += d
	}
	if d, _ := strconv.ParseFloat(p.Format.Duration, 64); d < want-1 || d > want+1 {
		t.Errorf("finalized playlist lasts %s s, want %.1f", p.Format.Duration, want)
	}
}

func TestFinalizePlaylist(t *testing.T) {
	in := "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n" +
		"#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n" +
		"#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000+0000\nseg00000.ts\n" +
		"#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000+0000\nseg00001.ts\n"
	for _, tc := range []struct {
		name    string
		in      string
		missing string
		want    string
		err     bool
	}{
		{
			name: "event to vod",
			in:   in,
			want: strings.Replace(in, "EVENT", "VOD", 1) + "#EXT-X-ENDLIST\n",
		},
		{
			name: "already ended",
			in:   in + "#EXT-X-ENDLIST\n",
			want: strings.Replace(in, "EVENT", "VOD", 1) + "#EXT-X-ENDLIST\n",
		},
		{
			name:    "missing segment dropped with its tags",
			in:      in,
			missing: "seg00001.ts",
			want: strings.Replace(strings.TrimSuffix(in,
				"#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.000+0000\nseg00001.ts\n"),
				"EVENT", "VOD", 1) + "#EXT-X-ENDLIST\n",
		},
		{
			name: "untyped gets a type",
			in:   "#EXTM3U\n#EXTINF:2,\na.ts\n",
			want: "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n",
		},
		{name: "not a playlist", in: "<html>", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := finalizePlaylist(tc.in, func(u string) bool { return u != tc.missing })
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestRecorderWriteErrors checks that a broken output directory suspends
// the recording with a reported error, soon, without a panic and without
// Write failing (the fan-out keeps the output, which would resume if the
// folder came back: TestRecorderResumes); that Close still returns; and
// that what was recorded before stays a valid playlist.
func TestRecorderWriteErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// setup prepares the directory; brk breaks it at 3 s of media.
		setup func(t *testing.T, dir string)
		brk   func(t *testing.T, dir string)
		// openFails: Open must fail. playlist: where the recording made
		// before the failure is left, relative to dir.
		openFails bool
		playlist  string
		wantVOD   bool
		// prompt: the error is reported within this media time of the break.
		prompt time.Duration
	}{
		{
			name: "dir is a file",
			setup: func(t *testing.T, dir string) {
				if err := os.WriteFile(dir, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			openFails: true,
		},
		{
			name: "dir replaced by a file mid-run",
			brk: func(t *testing.T, dir string) {
				if err := os.Rename(dir, dir+".old"); err != nil {
					t.Error(err)
				}
				if err := os.WriteFile(dir, []byte("x"), 0o644); err != nil {
					t.Error(err)
				}
			},
			// Checked once a second.
			prompt:   1100 * time.Millisecond,
			playlist: "../hls.old/index.m3u8",
		},
		{
			name: "disk full",
			setup: func(t *testing.T, dir string) {
				// A 1 MiB tmpfs: about 15 s of the clip fill it.
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				mountTmpfs(t, dir, 1<<20)
			},
			brk:      func(*testing.T, string) {}, // it fills up by itself
			prompt:   time.Minute,
			playlist: "index.m3u8",
			wantVOD:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hls")
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			var states []output.SinkState
			var errAt time.Duration
			rec := NewRecorder(RecordOptions{Dir: dir})
			c := clock(rec, &testClip.info)
			rep := output.ReporterFunc(func(s output.SinkState) {
				states = append(states, s)
				if s.Err != nil && errAt == 0 {
					errAt = c.at
				}
			})
			ctx := context.Background()
			err := rec.Open(ctx, testClip.info, rep)
			if tc.openFails {
				if err == nil {
					t.Fatal("Open succeeded")
				}
				p := testClip.video[0]
				if err := rec.Write(ctx, &p); err == nil {
					t.Error("Write after a failed Open succeeded")
				}
				if err := rec.Close(); err == nil {
					t.Error("Close after a failed Open reported no error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			const breakAt = 3 * time.Second
			if _, err := feed(ctx, c, testClip, feedOptions{
				duration: 60 * time.Second, at: breakAt, after: func() { tc.brk(t, dir) },
			}); err != nil {
				t.Fatalf("Write failed (it must suspend instead): %v", err)
			}
			t.Logf("error reported at %v of media: %+v", errAt, states)
			if errAt == 0 || errAt-breakAt > tc.prompt {
				t.Errorf("error reported at %v, the break was at %v", errAt, breakAt)
			}
			if err := rec.Close(); err != nil {
				t.Errorf("Close: %v (a suspended recording closes what it has)", err)
			}
			if len(states) == 0 || states[len(states)-1].Err == nil || states[len(states)-1].Running {
				t.Errorf("reported %+v, want a final error", states)
			}

			// What was recorded before the failure is intact.
			path := filepath.Join(dir, tc.playlist)
			pl := readFile(t, path)
			t.Logf("%s:\n%s", tc.playlist, pl)
			if got := strings.Contains(pl, "#EXT-X-ENDLIST"); got != tc.wantVOD {
				t.Errorf("playlist ended = %v, want %v", got, tc.wantVOD)
			}
			uris, durs := playlistSegments(t, pl)
			if len(uris) == 0 {
				t.Fatal("no segment survived")
			}
			for i, u := range uris {
				p := probe(t, filepath.Join(filepath.Dir(path), u))
				if d, _ := strconv.ParseFloat(p.Format.Duration, 64); d < durs[i]-0.2 || d > durs[i]+0.2 {
					t.Errorf("segment %s: %.3f s, playlist says %.3f", u, d, durs[i])
				}
			}
			probe(t, path)
		})
	}
}

// TestRecorderEmpty: a job stopped before the first keyframe leaves an
// empty, finished playlist and no segment.
func TestRecorderEmpty(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "hls")
	rec := NewRecorder(RecordOptions{Dir: dir})
	ctx := context.Background()
	if err := rec.Open(ctx, testClip.info, nil); err != nil {
		t.Fatal(err)
	}
	// Audio and a P frame before any keyframe are dropped.
	a, v := testClip.audio[0], testClip.video[1]
	for _, p := range []*output.Packet{&a, &v} {
		if err := rec.Write(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := readFile(t, rec.Path()); got != emptyPlaylist {
		t.Errorf("playlist:\n%s", got)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "seg*")); len(segs) > 0 {
		t.Errorf("segments left: %v", segs)
	}
	p := testClip.video[0]
	if err := rec.Write(ctx, &p); err == nil {
		t.Error("Write after Close succeeded")
	}
}
