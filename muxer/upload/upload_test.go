package upload

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/s3test"
)

// grow appends n random bytes to the file, in chunks, as a muxer flushing
// fragments would.
func grow(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const chunk = 300 << 10
	for n > 0 {
		b := make([]byte, min(n, chunk))
		_, _ = rand.Read(b)
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		n -= len(b)
		time.Sleep(20 * time.Millisecond)
	}
}

func newUploader(t *testing.T, srv *s3test.Server, dir, bucket string, mod func(*Options)) *Uploader {
	t.Helper()
	o := Options{Dir: dir, Primary: Target{Bucket: bucket, Prefix: "job/", Endpoint: srv.Endpoint, PathStyle: true}, Poll: 50 * time.Millisecond,
		MaxBackoff: time.Second}
	if mod != nil {
		mod(&o)
	}
	return New(o)
}

// waitState waits until the output's state satisfies ok.
func waitState(t *testing.T, u *Uploader, name string, within time.Duration, ok func(State) bool) State {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s, _ := u.State(name)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: state not reached within %s: %+v", name, within, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func closeWithin(t *testing.T, u *Uploader, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return u.Close(ctx)
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: the object (%d bytes) differs from the local file (%d bytes)", what, len(got), len(want))
	}
}

func TestArchive(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "rec")
	for _, tc := range []struct {
		name      string
		size      int
		keepLocal bool
	}{
		{"small, one part", 700 << 10, false},
		{"two parts and a last", 12 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			u := newUploader(t, srv, dir, "rec", func(o *Options) { o.KeepLocal = tc.keepLocal; o.Primary.Prefix = "job-" + tc.name[:3] + "/" })
			u.Archive("recording", "recording.mp4")
			p := filepath.Join(dir, "recording.mp4")
			grow(t, p, tc.size)
			want, _ := os.ReadFile(p)
			// Everything written is in the bucket (parts and tails) before
			// the end: what a crash would keep.
			waitState(t, u, "recording", 10*time.Second, func(s State) bool { return s.Bytes == int64(tc.size) })
			if err := closeWithin(t, u, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			s, _ := u.State("recording")
			if !s.Verified || s.Running || s.Err != nil || s.Bytes != int64(tc.size) {
				t.Fatalf("state %+v", s)
			}
			key := strings.TrimPrefix(s.Location, "s3://rec/")
			sameBytes(t, key, srv.Get(t, "rec", key), want)
			keys := srv.Keys(t, "rec", "job-"+tc.name[:3]+"/")
			if len(keys) != 1 {
				t.Fatalf("objects left beside the archive: %v", keys)
			}
			_, err := os.Stat(p)
			if tc.keepLocal != (err == nil) {
				t.Fatalf("keepLocal %v, local file: %v", tc.keepLocal, err)
			}
		})
	}
}

// An outage mid-upload: the upload resumes when the server is back, and
// completes and verifies.
func TestArchiveServerRestarts(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "rec")
	dir := t.TempDir()
	u := newUploader(t, srv, dir, "rec", func(o *Options) { o.KeepLocal = true })
	u.Archive("recording", "recording.mp4")
	th := u.Files("thumbnails", "thumbnails", "thumbnails/latest.jpg", "")
	os.MkdirAll(filepath.Join(dir, "thumbnails"), 0o755)
	thumb := func(n int) {
		b := make([]byte, 20<<10)
		_, _ = rand.Read(b)
		name := filepath.Join(dir, "thumbnails", fmt.Sprintf("%06d.jpg", n))
		os.WriteFile(name, b, 0o644)
		os.WriteFile(filepath.Join(dir, "thumbnails", "latest.jpg"), b, 0o644)
		th.Put(name)
		th.Put(filepath.Join(dir, "thumbnails", "latest.jpg"))
	}
	p := filepath.Join(dir, "recording.mp4")
	grow(t, p, 3<<20)
	thumb(1)
	waitState(t, u, "recording", 10*time.Second, func(s State) bool { return s.Bytes == 3<<20 })
	srv.Kill()
	thumb(2)
	grow(t, p, 8<<20)
	thumb(3)
	s := waitState(t, u, "recording", 10*time.Second, func(s State) bool { return s.Err != nil })
	t.Logf("while the server is down: %v", s.Err)
	if !s.Running {
		t.Fatal("the upload gave up while the server was down")
	}
	time.Sleep(time.Second)
	srv.Restart()
	if err := closeWithin(t, u, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	s, _ = u.State("recording")
	if !s.Verified || s.Err != nil {
		t.Fatalf("state %+v", s)
	}
	want, _ := os.ReadFile(p)
	sameBytes(t, "recording.mp4", srv.Get(t, "rec", "job/recording.mp4"), want)
	if s, _ := u.State("thumbnails"); !s.Verified {
		t.Fatalf("thumbnails: %+v", s)
	}
	for _, f := range []string{"000001.jpg", "000002.jpg", "000003.jpg", "latest.jpg"} {
		want, _ := os.ReadFile(filepath.Join(dir, "thumbnails", f))
		sameBytes(t, f, srv.Get(t, "rec", "job/thumbnails/"+f), want)
	}
}

// Refusals no retry cures: the state says why at once, the local file is
// kept, and Close does not wait for anything.
func TestRefused(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "rec")
	for _, tc := range []struct {
		name, bucket, secret, want string
	}{
		{"wrong credentials", "rec", "not-the-secret-at-all", "SignatureDoesNotMatch"},
		{"no such bucket", "nobucket", s3test.SecretKey, "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s3test.SetEnv(t, s3test.AccessKey, tc.secret)
			dir := t.TempDir()
			u := newUploader(t, srv, dir, tc.bucket, nil)
			u.Archive("recording", "recording.mp4")
			th := u.Files("thumbnails", "thumbnails", "thumbnails/latest.jpg", "")
			p := filepath.Join(dir, "recording.mp4")
			grow(t, p, 100<<10)
			os.MkdirAll(filepath.Join(dir, "thumbnails"), 0o755)
			os.WriteFile(filepath.Join(dir, "thumbnails", "latest.jpg"), []byte("jpeg"), 0o644)
			th.Put("thumbnails/latest.jpg")
			for _, name := range []string{"recording", "thumbnails"} {
				s := waitState(t, u, name, 10*time.Second, func(s State) bool { return !s.Running })
				if s.Err == nil || !strings.Contains(s.Err.Error(), tc.want) || !strings.Contains(s.Err.Error(), "local file is kept") {
					t.Fatalf("%s: error %v, want %s and the local file kept", name, s.Err, tc.want)
				}
				if strings.Contains(s.Err.Error(), tc.secret) {
					t.Fatalf("the secret is in the error: %v", s.Err)
				}
				t.Logf("%s: %v", name, s.Err)
			}
			start := time.Now()
			if err := closeWithin(t, u, 30*time.Second); err == nil {
				t.Fatal("Close: no error")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("Close took %s", d)
			}
			for _, f := range []string{"recording.mp4", "thumbnails/latest.jpg"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatalf("local file not kept: %v", err)
				}
			}
		})
	}
}

// A crash: the uploader stops without completing. Recover completes the
// upload from its parts and tails, and the object is every byte written.
// A new run at the same key completes it too, and records beside it.
func TestRecover(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "rec")
	dir := t.TempDir()
	u := newUploader(t, srv, dir, "rec", func(o *Options) { o.KeepLocal = true })
	u.Archive("recording", "recording.mp4")
	p := filepath.Join(dir, "recording.mp4")
	grow(t, p, 7<<20) // a part of 5 MiB, and tails
	waitState(t, u, "recording", 10*time.Second, func(s State) bool { return s.Bytes == 7<<20 })
	u.cancel() // the crash: nothing completes
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u.Close(ctx)
	want, _ := os.ReadFile(p)
	if _, err := srv.TryGet("rec", "job/recording.mp4"); err == nil {
		t.Fatal("the object exists before recovery")
	}
	cfg, err := LoadAWS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tgt := Target{Bucket: "rec", Endpoint: srv.Endpoint, PathStyle: true}
	r, err := Recover(ctx, cfg, tgt, "job/recording.mp4")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered %+v", r)
	if r.Parts != 2 || r.Size != 7<<20 {
		t.Fatalf("recovered %+v, want 2 parts, %d bytes", r, 7<<20)
	}
	sameBytes(t, "recovered", srv.Get(t, "rec", "job/recording.mp4"), want)
	if _, err := Recover(ctx, cfg, tgt, "job/recording.mp4"); !errors.Is(err, ErrNoUpload) {
		t.Fatalf("second Recover: %v, want ErrNoUpload", err)
	}

	// Crash again, then start over at the same key.
	now := time.Now()
	os.Chtimes(p, now, now) // this run's file
	u = newUploader(t, srv, dir, "rec", func(o *Options) { o.KeepLocal = true; o.Primary.Prefix = "again/" })
	u.Archive("recording", "recording.mp4")
	waitState(t, u, "recording", 10*time.Second, func(s State) bool { return s.Bytes == 7<<20 })
	u.cancel()
	u.Close(ctx)
	u = newUploader(t, srv, dir, "rec", func(o *Options) { o.KeepLocal = true; o.Primary.Prefix = "again/" })
	u.Archive("recording", "recording.mp4")
	if err := closeWithin(t, u, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s, _ := u.State("recording")
	if s.Location != "s3://rec/again/recording-2.mp4" {
		t.Fatalf("location %s, want beside the recovered one", s.Location)
	}
	sameBytes(t, "recovered at start", srv.Get(t, "rec", "again/recording.mp4"), want)
	sameBytes(t, "the new run's", srv.Get(t, "rec", "again/recording-2.mp4"), want)
}

// The HLS recording: each segment the playlist names, then the playlist.
func TestFilesPlaylist(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "rec")
	dir := t.TempDir()
	hls := filepath.Join(dir, "hls")
	os.MkdirAll(hls, 0o755)
	u := newUploader(t, srv, dir, "rec", nil)
	u.Files("hlsRecording", "hls", "hls/index.m3u8", "hls/index.m3u8")
	pl := "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
	files := map[string][]byte{}
	for i := range 3 {
		seg := make([]byte, 188*100)
		_, _ = rand.Read(seg)
		name := "seg0000" + string(rune('0'+i)) + ".ts"
		os.WriteFile(filepath.Join(hls, name), seg, 0o644)
		files["hls/"+name] = seg
		pl += "#EXTINF:2.000,\n" + name + "\n"
		os.WriteFile(filepath.Join(hls, "index.m3u8"), []byte(pl), 0o644)
		// The playlist is uploaded after each segment it names, and never
		// names one the bucket lacks.
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := srv.TryGet("rec", "job/hls/index.m3u8")
			if err == nil && string(got) == pl {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("playlist %d not uploaded: %v", i, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		for k := range files {
			if _, err := srv.TryGet("rec", "job/"+k); err != nil {
				t.Fatalf("%s not in the bucket once the playlist names it: %v", k, err)
			}
		}
	}
	pl += "#EXT-X-ENDLIST\n"
	os.WriteFile(filepath.Join(hls, "index.m3u8"), []byte(pl), 0o644)
	files["hls/index.m3u8"] = []byte(pl)
	if err := closeWithin(t, u, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s, _ := u.State("hlsRecording")
	if !s.Verified || s.Location != "s3://rec/job/hls/index.m3u8" {
		t.Fatalf("state %+v", s)
	}
	for k, want := range files {
		sameBytes(t, k, srv.Get(t, "rec", "job/"+k), want)
	}
	if _, err := os.Stat(hls); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the uploaded folder is still there: %v", err)
	}
}

// The backup takes over: at once when the primary refuses for good (no
// such bucket), after FailoverAfter failures when it is down.
func TestBackup(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "rec")
	srv.CreateBucket(t, "spare")
	down := s3test.Start(t)
	down.Kill()
	for _, tc := range []struct {
		name    string
		primary Target
	}{
		{"no such bucket", Target{Bucket: "nobucket", Prefix: "a/", Endpoint: srv.Endpoint, PathStyle: true}},
		{"server down", Target{Bucket: "rec", Prefix: "b/", Endpoint: down.Endpoint, PathStyle: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			backup := Target{Bucket: "spare", Prefix: tc.primary.Prefix, Endpoint: srv.Endpoint, PathStyle: true}
			u := New(Options{Dir: dir, Primary: tc.primary, Backup: &backup, KeepLocal: true, FailoverAfter: 2, Poll: 50 * time.Millisecond})
			u.Archive("recording", "recording.mp4")
			p := filepath.Join(dir, "recording.mp4")
			grow(t, p, 1<<20)
			s := waitState(t, u, "recording", 20*time.Second, func(s State) bool { return s.Backup && s.Bytes == 1<<20 })
			if err := closeWithin(t, u, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			s, _ = u.State("recording")
			if !s.Verified || s.Location != "s3://spare/"+tc.primary.Prefix+"recording.mp4" {
				t.Fatalf("state %+v", s)
			}
			want, _ := os.ReadFile(p)
			sameBytes(t, "backup", srv.Get(t, "spare", tc.primary.Prefix+"recording.mp4"), want)
		})
	}
}

// A file replaced under its upload (a past run's, truncated by the new
// run's sink) starts over: the object is the new file.
func TestArchiveReplaced(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "rec")
	dir := t.TempDir()
	p := filepath.Join(dir, "recording.mp4")
	grow(t, p, 200<<10)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	u := newUploader(t, srv, dir, "rec", func(o *Options) { o.KeepLocal = true })
	u.Archive("recording", "recording.mp4")
	time.Sleep(300 * time.Millisecond)
	if s, _ := u.State("recording"); s.Bytes != 0 {
		t.Fatalf("a past run's file was uploaded: %+v", s)
	}
	os.Truncate(p, 0)
	grow(t, p, 1<<20)
	waitState(t, u, "recording", 10*time.Second, func(s State) bool { return s.Bytes == 1<<20 })
	os.Truncate(p, 0) // replaced once more, after part of it went up
	grow(t, p, 300<<10)
	if err := closeWithin(t, u, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(p)
	s, _ := u.State("recording")
	key := strings.TrimPrefix(s.Location, "s3://rec/")
	sameBytes(t, key, srv.Get(t, "rec", key), want)
	t.Logf("replaced file: %s", s.Location)
}
