package hls

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// clocked feeds a Recorder and drives its once-a-second checks by the
// media's time, so that tests can feed faster than real time.
type clocked struct {
	*Recorder
	info *output.StreamInfo
	base time.Time
	at   time.Duration // the time of the packet being written
}

func clock(r *Recorder, info *output.StreamInfo) *clocked {
	c := &clocked{Recorder: r, info: info, base: time.Now()}
	r.now = func() time.Time { return c.base.Add(c.at) }
	return c
}

func (c *clocked) Write(ctx context.Context, p *output.Packet) error {
	c.at = p.Time(c.info)
	return c.Recorder.Write(ctx, p)
}

// mountTmpfs mounts a tmpfs of size bytes on dir until the test ends. The
// tests run as root; a failure to mount fails the test.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a tmpfs on %s (the test needs root): %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

func mustRun(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

type stateLog struct {
	mu sync.Mutex
	c  *clocked
	l  []output.SinkState
	at []time.Duration
}

func (s *stateLog) Report(st output.SinkState) {
	s.mu.Lock()
	s.l = append(s.l, st)
	s.at = append(s.at, s.c.at)
	s.mu.Unlock()
}

// TestRecorderResumes breaks the recording's folder mid-run, then mends
// it: the recording reports the error, drops what comes meanwhile, and
// resumes at a keyframe within about a second of the mend; the playlist
// it leaves is a finished VOD playlist that ffmpeg plays without an error.
func TestRecorderResumes(t *testing.T) {
	t.Parallel()
	const breakAt, mendAt, end = 4 * time.Second, 10 * time.Second, 20 * time.Second
	for _, tc := range []struct {
		name        string
		setup       func(t *testing.T, dir string)
		brk, mend   func(t *testing.T, dir string)
		wantErr     string
		discontinue bool // the old playlist continues after a discontinuity
		heals       bool // the recorder mends it itself (makes the folder again)
	}{
		{
			name: "disk full",
			setup: func(t *testing.T, dir string) {
				mountTmpfs(t, dir, 4<<20)
			},
			brk: func(t *testing.T, dir string) {
				// Leave 300 KB, about a segment's worth.
				var fs syscall.Statfs_t
				if err := syscall.Statfs(dir, &fs); err != nil {
					t.Fatal(err)
				}
				n := int64(fs.Bavail)*int64(fs.Bsize) - 300_000
				if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, n), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			mend: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
					t.Fatal(err)
				}
			},
			wantErr:     "no space left on device",
			discontinue: true,
		},
		{
			name: "folder removed",
			brk: func(t *testing.T, dir string) {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			},
			mend:    func(*testing.T, string) {},
			wantErr: "removed",
			heals:   true,
		},
		{
			name: "folder read-only",
			brk: func(t *testing.T, dir string) {
				// As root, permissions do not stop writes: a read-only
				// bind mount of the folder over itself does.
				mustRun(t, "mount", "--bind", dir, dir)
				mustRun(t, "mount", "-o", "remount,bind,ro", dir)
			},
			mend: func(t *testing.T, dir string) {
				mustRun(t, "umount", dir)
			},
			wantErr:     "read-only file system",
			discontinue: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hls")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			rec := NewRecorder(RecordOptions{Dir: dir})
			c := clock(rec, &testClip.info)
			rep := &stateLog{c: c}
			ctx := context.Background()
			if err := rec.Open(ctx, testClip.info, rep); err != nil {
				t.Fatal(err)
			}
			if _, err := feed(ctx, c, testClip, feedOptions{duration: breakAt}); err != nil {
				t.Fatal(err)
			}
			tc.brk(t, dir)
			if _, err := feed(ctx, c, testClip, feedOptions{from: breakAt, duration: mendAt}); err != nil {
				t.Fatalf("Write failed (it must suspend instead): %v", err)
			}
			tc.mend(t, dir)
			if _, err := feed(ctx, c, testClip, feedOptions{from: mendAt, duration: end}); err != nil {
				t.Fatal(err)
			}
			if err := rec.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			t.Logf("reports %+v at %v", rep.l, rep.at)

			// An error naming the cause, then running again soon after the mend.
			var errAt, resumedAt time.Duration
			for i, st := range rep.l {
				if st.Err != nil && errAt == 0 {
					errAt = rep.at[i]
					if !strings.Contains(strings.ToLower(st.Err.Error()), tc.wantErr) {
						t.Errorf("error %q, want it to say %q", st.Err, tc.wantErr)
					}
				}
				if st.Running && errAt != 0 && resumedAt == 0 {
					resumedAt = rep.at[i]
				}
			}
			t.Logf("error at %v (broken at %v), resumed at %v (mended at %v)", errAt, breakAt, resumedAt, mendAt)
			if errAt < breakAt || errAt > mendAt {
				t.Errorf("error reported at %v, the folder broke at %v", errAt, breakAt)
			}
			mended := mendAt
			if tc.heals {
				mended = breakAt
			}
			if resumedAt < mended || resumedAt > mended+3*time.Second {
				t.Errorf("resumed at %v, mended at %v: want within a check (1 s) and a GOP (2 s)", resumedAt, mended)
			}
			if last := rep.l[len(rep.l)-1]; last.Err != nil {
				t.Errorf("last report %+v, want no error", last)
			}

			pl := readFile(t, rec.Path())
			t.Logf("playlist:\n%s", pl)
			if !strings.Contains(pl, "#EXT-X-ENDLIST") || !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:VOD") {
				t.Error("playlist is not a finished VOD playlist")
			}
			if got := strings.Contains(pl, "#EXT-X-DISCONTINUITY"); got != tc.discontinue {
				t.Errorf("discontinuity in the playlist = %v, want %v", got, tc.discontinue)
			}
			uris, durs := playlistSegments(t, pl)
			var listed float64
			seen := map[string]bool{}
			for i, u := range uris {
				if seen[u] {
					t.Errorf("segment %s listed twice", u)
				}
				seen[u] = true
				listed += durs[i]
				probe(t, filepath.Join(dir, u))
			}
			// The recording holds the time before the break (unless its
			// folder went) and after the mend.
			want := (end - mended - 3*time.Second).Seconds()
			if tc.discontinue {
				want += (breakAt - 2*time.Second).Seconds()
			}
			t.Logf("%d segments, %.1f s listed", len(uris), listed)
			if listed < want {
				t.Errorf("%.1f s listed, want at least %.1f", listed, want)
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) > 0 {
				t.Errorf("temporary files left: %v", tmps)
			}
			out, err := exec.Command("ffmpeg", "-v", "error", "-i", rec.Path(), "-f", "null", "-").CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("playing the playlist: %v: %s", err, out)
			}
		})
	}
}
