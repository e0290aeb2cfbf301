package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/internal/s3test"
	"github.com/roomcast/roomcast/worker"
)

// uploadEnv is the environment of a roomcast that reaches srv with the
// given secret.
func uploadEnv(secret string) []string {
	env := cleanEnv()
	for _, kv := range s3test.Env() {
		if strings.HasPrefix(kv, "AWS_SECRET_ACCESS_KEY=") {
			kv = "AWS_SECRET_ACCESS_KEY=" + secret
		}
		env = append(env, kv)
	}
	return env
}

// localFiles lists the files of a job's folder that an upload sends, by
// path relative to it.
func localFiles(t *testing.T, out string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, pat := range []string{"recording.mp4", "hls/*", "thumbnails/*"} {
		m, _ := filepath.Glob(filepath.Join(out, pat))
		for _, p := range m {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(out, p)
			files[filepath.ToSlash(rel)] = b
		}
	}
	return files
}

// download writes the objects under prefix into a folder, by their keys
// less the prefix.
func download(t *testing.T, srv *s3test.Server, bucket, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	for k := range srv.Keys(t, bucket, prefix) {
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(k, prefix)))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, srv.Get(t, bucket, k), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// decodes fails the test unless FFmpeg decodes the media whole, without an
// error.
func decodes(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("%s does not decode cleanly: %v\n%s", path, err, out)
	}
}

// checkSchema validates the job's status.json as the API's job state
// (docs/openapi.json), upload objects included.
func checkSchema(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "status.json"))
	if err != nil {
		t.Fatal(err)
	}
	st := readStatus(t, out)
	req := httptest.NewRequest(http.MethodGet, "/v1/jobs/"+st.ID, nil)
	if err := apitest.New(t).Check(req, http.StatusOK, http.Header{"Content-Type": {"application/json"}}, b); err != nil {
		t.Fatal(err)
	}
}

func checkUpload(t *testing.T, what string, u *worker.Upload, location string) {
	t.Helper()
	if u == nil || !u.Verified || u.Running || u.Error != nil || u.Location == nil || *u.Location != location || u.Bytes == 0 {
		t.Fatalf("%s upload state %+v, want verified at %s", what, u, location)
	}
}

// --upload sends the recording, the HLS recording and the thumbnails to
// the bucket; every object is the local file, byte for byte, and plays.
func TestRecordUpload(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "recordings")
	out := t.TempDir()
	p := startRoomcast(t, uploadEnv(s3test.SecretKey), "record", "--room", "demo:", "--record", "--hls-record", "--thumbnails", "2s",
		"--resolution", "640x360", "--duration", "5s", "--fast", "--out", out,
		"--upload", "s3://recordings/standup/", "--upload-endpoint", srv.Endpoint, "--upload-path-style", "--keep-local")
	p.wait(t, 2*time.Minute)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr.String())
	}
	st := readStatus(t, out)
	checkUpload(t, "recording", st.Recording.Upload, "s3://recordings/standup/recording.mp4")
	checkUpload(t, "hlsRecording", st.HLSRecording.Upload, "s3://recordings/standup/hls/index.m3u8")
	if st.Thumbnails == nil {
		t.Fatal("no thumbnails state")
	}
	checkUpload(t, "thumbnails", st.Thumbnails.Upload, "s3://recordings/standup/thumbnails/latest.jpg")
	checkSchema(t, out)

	local := localFiles(t, out)
	keys := srv.Keys(t, "recordings", "standup/")
	var lk, rk []string
	for k := range local {
		lk = append(lk, k)
	}
	for k := range keys {
		rk = append(rk, strings.TrimPrefix(k, "standup/"))
	}
	slices.Sort(lk)
	slices.Sort(rk)
	if !slices.Equal(lk, rk) {
		t.Fatalf("objects %v, want the local files %v", rk, lk)
	}
	for k, want := range local {
		if got := srv.Get(t, "recordings", "standup/"+k); !bytes.Equal(got, want) {
			t.Fatalf("%s: the object (%d bytes) is not the local file (%d bytes)", k, len(got), len(want))
		}
	}
	if st.Recording.Upload.Bytes != int64(len(local["recording.mp4"])) {
		t.Fatalf("recording upload bytes %d, the file has %d", st.Recording.Upload.Bytes, len(local["recording.mp4"]))
	}
	dl := download(t, srv, "recordings", "standup/")
	if d, _ := strconv.ParseFloat(ffprobe(t, filepath.Join(dl, "recording.mp4")).Format.Duration, 64); d < 4.9 {
		t.Fatalf("the uploaded recording plays %.2f s, want 5", d)
	}
	decodes(t, filepath.Join(dl, "recording.mp4"))
	decodes(t, filepath.Join(dl, "hls", "index.m3u8"))
	rgbFrame(t, filepath.Join(dl, "thumbnails", "latest.jpg"), 640, 360)

	// Without --keep-local, the verified files are deleted.
	out2 := t.TempDir()
	p = startRoomcast(t, uploadEnv(s3test.SecretKey), "record", "--room", "demo:", "--record", "--resolution", "320x180",
		"--duration", "2s", "--fast", "--out", out2, "--upload", "s3://recordings/second/", "--upload-endpoint", srv.Endpoint, "--upload-path-style")
	p.wait(t, 2*time.Minute)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr.String())
	}
	checkUpload(t, "recording", readStatus(t, out2).Recording.Upload, "s3://recordings/second/recording.mp4")
	if _, err := os.Stat(filepath.Join(out2, "recording.mp4")); !os.IsNotExist(err) {
		t.Fatalf("the verified recording is still on disk: %v", err)
	}
}

// Refused uploads: the job records all the same and ends as usual, the
// state says why the upload failed, and the local file is kept.
func TestRecordUploadRefused(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "recordings")
	for _, tc := range []struct {
		name, url, secret, want string
	}{
		{"wrong credentials", "s3://recordings/x/", "wrong-secret-0123456789", "SignatureDoesNotMatch"},
		{"no such bucket", "s3://nobucket/x/", s3test.SecretKey, "NoSuchBucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			start := time.Now()
			p := startRoomcast(t, uploadEnv(tc.secret), "record", "--room", "demo:", "--record", "--resolution", "320x180",
				"--duration", "2s", "--fast", "--out", out, "--upload", tc.url, "--upload-endpoint", srv.Endpoint, "--upload-path-style")
			p.wait(t, 2*time.Minute)
			if code := p.exitCode(t); code != 0 {
				t.Fatalf("exit %d: %s", code, p.stderr.String())
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("the job took %s: the refused upload held it up", d)
			}
			st := readStatus(t, out)
			u := st.Recording.Upload
			if u == nil || u.Error == nil || u.Verified || u.Running || !strings.Contains(u.Error.Message, tc.want) ||
				!strings.Contains(u.Error.Message, "local file is kept") || u.Error.Code != worker.CodeUpload {
				t.Fatalf("upload state %+v, want %s and the local file kept", u, tc.want)
			}
			if strings.Contains(p.stderr.String()+u.Error.Message, tc.secret) {
				t.Fatal("the secret is in the logs or the state")
			}
			if st.State != worker.Stopped || st.Recording.Error != nil {
				t.Fatalf("job %s, recording error %v: a failed upload must not fail the recording", st.State, st.Recording.Error)
			}
			if _, err := os.Stat(filepath.Join(out, "recording.mp4")); err != nil {
				t.Fatalf("local recording not kept: %v", err)
			}
			checkSchema(t, out)
		})
	}
	// Bad flags are usage errors naming the flag.
	for _, args := range [][]string{
		{"--upload-endpoint", "http://127.0.0.1:1"},
		{"--upload", "https://recordings/x/"},
		{"--upload", "s3://recordings/x/", "--upload-endpoint", "http://127.0.0.1:1"},
	} {
		_, stderr, code := runRoomcast(t, append([]string{"record", "--room", "demo:", "--record"}, args...)...)
		if code != 2 || !strings.Contains(stderr, "upload") {
			t.Errorf("%v: exit %d, want 2 naming the upload: %s", args, code, stderr)
		}
	}
}

// A job SIGKILLed mid-upload: the HLS segments and playlist already in the
// bucket play, and so does the archive once upload-recover has completed
// it; it is the local file up to at most its last fragment.
func TestRecordUploadSIGKILL(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "recordings")
	out := t.TempDir()
	p := startRoomcast(t, uploadEnv(s3test.SecretKey), "record", "--room", "demo:", "--record", "--hls-record",
		"--resolution", "640x360", "--duration", "60s", "--out", out,
		"--upload", "s3://recordings/killed/", "--upload-endpoint", srv.Endpoint, "--upload-path-style")
	// Until the bucket holds the playlist with two segments and a tail.
	deadline := time.Now().Add(30 * time.Second)
	for {
		keys := srv.Keys(t, "recordings", "killed/")
		tails := 0
		for k := range keys {
			if strings.Contains(k, ".tail.") {
				tails++
			}
		}
		_, seg := keys["killed/hls/seg00001.ts"]
		if _, pl := keys["killed/hls/index.m3u8"]; pl && seg && tails > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing uploaded while the job ran: %v", keys)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.wait(t, 10*time.Second)
	killedAt := time.Now()

	// The HLS recording as the bucket has it: every segment the playlist
	// names is there, byte for byte the local one, and it all plays.
	dl := download(t, srv, "recordings", "killed/")
	pl, err := os.ReadFile(filepath.Join(dl, "hls", "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ln := range strings.Split(string(pl), "\n") {
		if ln = strings.TrimSpace(ln); ln == "" || strings.HasPrefix(ln, "#") {
			continue
		}
		n++
		got, err := os.ReadFile(filepath.Join(dl, "hls", ln))
		if err != nil {
			t.Fatalf("the playlist names %s, which is not in the bucket", ln)
		}
		want, _ := os.ReadFile(filepath.Join(out, "hls", ln))
		if !bytes.Equal(got, want) {
			t.Fatalf("segment %s differs from the local one", ln)
		}
	}
	// A crashed job's playlist is an EVENT playlist without an end, which
	// a player keeps polling; upload-recover finishes it in the bucket.
	rp := startRoomcast(t, uploadEnv(s3test.SecretKey), "upload-recover", "s3://recordings/killed/hls/index.m3u8",
		"--upload-endpoint", srv.Endpoint, "--upload-path-style")
	rp.wait(t, time.Minute)
	if code := rp.exitCode(t); code != 0 {
		t.Fatalf("upload-recover: exit %d: %s", code, rp.stderr.String())
	}
	t.Logf("upload-recover: %s", strings.TrimSpace(rp.stdout.String()))
	fin := srv.Get(t, "recordings", "killed/hls/index.m3u8")
	if !bytes.Contains(fin, []byte("#EXT-X-ENDLIST")) || !bytes.Contains(fin, []byte("#EXT-X-PLAYLIST-TYPE:VOD")) {
		t.Fatalf("the finished playlist:\n%s", fin)
	}
	os.WriteFile(filepath.Join(dl, "hls", "index.m3u8"), fin, 0o644)
	decodes(t, filepath.Join(dl, "hls", "index.m3u8"))
	t.Logf("the bucket's HLS recording has %d segments", n)

	// The archive: not there until it is recovered.
	if _, err := srv.TryGet("recordings", "killed/recording.mp4"); err == nil {
		t.Fatal("the archive exists before recovery")
	}
	rp = startRoomcast(t, uploadEnv(s3test.SecretKey), "upload-recover", "s3://recordings/killed/recording.mp4",
		"--upload-endpoint", srv.Endpoint, "--upload-path-style")
	rp.wait(t, time.Minute)
	if code := rp.exitCode(t); code != 0 {
		t.Fatalf("upload-recover: exit %d: %s", code, rp.stderr.String())
	}
	t.Logf("upload-recover: %s", strings.TrimSpace(rp.stdout.String()))
	got := srv.Get(t, "recordings", "killed/recording.mp4")
	local, err := os.ReadFile(filepath.Join(out, "recording.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) > len(local) || !bytes.Equal(got, local[:len(got)]) {
		t.Fatalf("the recovered archive (%d bytes) is not the start of the local file (%d bytes)", len(got), len(local))
	}
	rec := filepath.Join(t.TempDir(), "recovered.mp4")
	os.WriteFile(rec, got, 0o644)
	remote, whole := lastVideoTime(t, rec), lastVideoTime(t, filepath.Join(out, "recording.mp4"))
	t.Logf("SIGKILL %s after the bucket had the first segments: local %d bytes (%.2f s), recovered %d bytes (%.2f s): lost %d bytes, %.2f s",
		killedAt.Format(time.TimeOnly), len(local), whole, len(got), remote, len(local)-len(got), whole-remote)
	// At most the fragment being written, and the poll before it: the
	// fragments are 1 s at most.
	if whole-remote > 1.5 {
		t.Fatalf("the recovered archive plays %.2f s, the local file %.2f s: more than the last fragment was lost", remote, whole)
	}
	decodes(t, rec)
	// What was recovered is complete: no multipart upload and no tail left.
	for k := range srv.Keys(t, "recordings", "killed/") {
		if strings.Contains(k, ".tail.") {
			t.Fatalf("tail object left after recovery: %s", k)
		}
	}
}

// lastVideoTime is the time of the last video packet a file holds whole.
func lastVideoTime(t *testing.T, path string) float64 {
	t.Helper()
	ts := videoPacketTimes(t, path)
	if len(ts) == 0 {
		t.Fatalf("%s has no video", path)
	}
	return slices.Max(ts)
}

// The S3 server dies while a job uploads and comes back before it ends:
// the upload resumes, completes and verifies, and the job never noticed.
func TestRecordUploadServerRestarts(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "recordings")
	out := t.TempDir()
	p := startRoomcast(t, uploadEnv(s3test.SecretKey), "record", "--room", "demo:", "--record", "--hls-record",
		"--resolution", "640x360", "--duration", "8s", "--out", out, "--keep-local",
		"--upload", "s3://recordings/outage/", "--upload-endpoint", srv.Endpoint, "--upload-path-style")
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.Keys(t, "recordings", "outage/")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing uploaded")
		}
		time.Sleep(100 * time.Millisecond)
	}
	srv.Kill()
	time.Sleep(3 * time.Second)
	srv.Restart()
	p.wait(t, 2*time.Minute)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d: %s", code, p.stderr.String())
	}
	st := readStatus(t, out)
	checkUpload(t, "recording", st.Recording.Upload, "s3://recordings/outage/recording.mp4")
	checkUpload(t, "hlsRecording", st.HLSRecording.Upload, "s3://recordings/outage/hls/index.m3u8")
	for k, want := range localFiles(t, out) {
		if got := srv.Get(t, "recordings", "outage/"+k); !bytes.Equal(got, want) {
			t.Fatalf("%s: the object (%d bytes) is not the local file (%d bytes)", k, len(got), len(want))
		}
	}
	if d := lastVideoTime(t, filepath.Join(out, "recording.mp4")); d < 7.5 {
		t.Fatalf("the recording plays %.2f s, want 8: the outage held up the job", d)
	}
}

// The job API takes the upload object, with the AWS credentials of the
// service's environment, and gives the upload's state (every answer is
// checked against docs/openapi.json).
func TestServeUpload(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "recordings")
	v := apitest.New(t)
	s := startServe(t, v, t.TempDir(), loopedRoom(t))
	// startServe's environment, and the credentials.
	s.proc.cmd.Process.Kill()
	s.proc.wait(t, 10*time.Second)
	s.env = append(s.env, s3test.Env()...)
	s.start()

	up := map[string]any{"url": "s3://recordings/api/", "endpoint": srv.Endpoint, "pathStyle": true}
	job := map[string]any{"id": "up-1", "meetingUrl": "file:long.yaml", "record": true, "hlsRecord": true,
		"resolution": map[string]int{"width": 320, "height": 180}, "upload": up}
	var st worker.State
	if code := s.call("POST", "/v1/jobs", job, &st); code != 201 {
		t.Fatalf("POST /v1/jobs = %d %+v", code, st)
	}
	s.waitJob("up-1", "the recording's first bytes in the bucket", func(st worker.State) bool {
		return running(st) && st.Recording.Upload != nil && st.Recording.Upload.Bytes > 0
	})
	if code := s.call("DELETE", "/v1/jobs/up-1?wait=true", nil, &st); code != 200 || st.State != worker.Stopped {
		t.Fatalf("DELETE ?wait=true = %d, state %s (%v)", code, st.State, st.Error)
	}
	checkUpload(t, "recording", st.Recording.Upload, "s3://recordings/api/recording.mp4")
	checkUpload(t, "hlsRecording", st.HLSRecording.Upload, "s3://recordings/api/hls/index.m3u8")
	if got := srv.Get(t, "recordings", "api/recording.mp4"); int64(len(got)) != st.Recording.Upload.Bytes {
		t.Fatalf("the object has %d bytes, the state says %d", len(got), st.Recording.Upload.Bytes)
	}

	// The same through the CLI: start's upload flags, status's upload lines.
	out, errOut, code := s.client(serveToken, "start", "--room", "file:long.yaml", "--record", "--resolution", "320x180", "--id", "up-2",
		"--upload", "s3://recordings/cli/", "--upload-endpoint", srv.Endpoint, "--upload-path-style")
	if code != 0 || strings.TrimSpace(out) != "up-2" {
		t.Fatalf("start: exit %d: %s %s", code, out, errOut)
	}
	s.waitJob("up-2", "the recording's first bytes in the bucket", func(st worker.State) bool {
		return running(st) && st.Recording.Upload != nil && st.Recording.Upload.Bytes > 0
	})
	if _, errOut, code := s.client(serveToken, "stop", "up-2", "--wait"); code != 0 {
		t.Fatalf("stop: exit %d: %s", code, errOut)
	}
	out, _, _ = s.client(serveToken, "status", "up-2")
	if !strings.Contains(out, "s3://recordings/cli/recording.mp4 running=false verified=true") {
		t.Fatalf("status lacks the verified upload:\n%s", out)
	}

	var p struct {
		Code, Message string
	}
	bad := map[string]any{"meetingUrl": "file:long.yaml", "record": true, "upload": map[string]any{"url": "https://recordings/api/"}}
	if code := s.call("POST", "/v1/jobs", bad, &p); code != 422 || !strings.Contains(p.Message, "upload.url") {
		t.Fatalf("a bad upload URL = %d %+v, want 422 naming upload.url", code, p)
	}
}
