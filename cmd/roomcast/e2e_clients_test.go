package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/worker"
)

// client runs a CLI client command against s, with the server and token
// from the environment as a user sets them.
func (s *serveEnv) client(token string, args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	p := startRoomcast(s.t, s.clientEnv(token), args...)
	p.wait(s.t, 90*time.Second)
	return p.stdout.String(), p.stderr.String(), p.exitCode(s.t)
}

func (s *serveEnv) clientEnv(token string) []string {
	return append(cleanEnv(), "ROOMCAST_SERVER="+s.base, "ROOMCAST_TOKEN="+token)
}

// The CLI clients against the real serve: start prints the id, status and
// list show tables or JSON, watch follows a job to its end and says how it
// ended by its exit status, stop finalizes; refusals exit 2 with the
// service's code.
func TestServeCLIClients(t *testing.T) {
	v := apitest.New(t)
	s := startServe(t, v, t.TempDir(), loopedRoom(t))

	out, errOut, code := s.client(serveToken, "start", "--room", "file:long.yaml", "--record", "--resolution", "320x180", "--id", "cli-1")
	if code != 0 || out != "cli-1\n" {
		t.Fatalf("start = %d %q %s", code, out, errOut)
	}
	watch := startRoomcast(t, s.clientEnv(serveToken), "watch", "cli-1")
	s.waitJob("cli-1", "the recording to run", running)

	out, _, code = s.client(serveToken, "status", "cli-1")
	for _, want := range []string{"id", "cli-1", "state", "running", "recording=running"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status = %d, table lacks %q:\n%s", code, want, out)
		}
	}
	out, _, _ = s.client(serveToken, "status", "cli-1", "-o", "json")
	var st worker.State
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.ID != "cli-1" || st.State != worker.Running {
		t.Errorf("status -o json = %v %+v\n%s", err, st, out)
	}
	out, _, _ = s.client(serveToken, "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.Contains(lines[1], "cli-1") || !strings.Contains(lines[1], "running") {
		t.Errorf("list:\n%s", out)
	}
	out, _, _ = s.client(serveToken, "list", "--state", "stopped", "-o", "json")
	var page struct{ Jobs []worker.State }
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Jobs) != 0 {
		t.Errorf("list --state stopped -o json = %v %+v", err, page)
	}

	out, errOut, code = s.client(serveToken, "stop", "cli-1")
	if code != 0 || strings.TrimSpace(out) != "cli-1 stopped" {
		t.Errorf("stop = %d %q %s", code, out, errOut)
	}
	if err := watch.wait(t, 30*time.Second); err != nil {
		t.Errorf("watch of a job stopped as asked exited with %v, want 0\n%s", err, watch.stderr.String())
	}
	wl := strings.Split(strings.TrimSpace(watch.stdout.String()), "\n")
	if last := wl[len(wl)-1]; !strings.Contains(last, "jobStateUpdated") || !strings.Contains(last, "stopped") {
		t.Errorf("watch's last line %q, want the job stopped", last)
	}
	if !strings.Contains(watch.stdout.String(), "recordingStateUpdated") {
		t.Errorf("watch did not show the recording's changes:\n%s", watch.stdout.String())
	}

	// A job that fails: watch exits 1 and says why.
	if _, errOut, code := s.client(serveToken, "start", "--room", "file:long.yaml", "--record", "--resolution", "320x180", "--id", "cli-2"); code != 0 {
		t.Fatalf("start cli-2 = %d %s", code, errOut)
	}
	watch = startRoomcast(t, s.clientEnv(serveToken), "watch", "cli-2")
	s.waitJob("cli-2", "the recording to run", running)
	kids := childrenOf(t, s.proc.cmd.Process.Pid)
	if len(kids) != 1 {
		t.Fatalf("serve has %d job processes, want 1", len(kids))
	}
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	watch.wait(t, 30*time.Second)
	if code := watch.exitCode(t); code != 1 || !strings.Contains(watch.stderr.String(), "cli-2 failed") {
		t.Errorf("watch of a failed job = exit %d, stderr %q; want 1 and the reason", code, watch.stderr.String())
	}

	// Refusals: exit 2, with the service's code and the field.
	for _, tc := range []struct {
		token string
		args  []string
		want  []string
	}{
		{serveToken, []string{"status", "nope"}, []string{"NOT_FOUND"}},
		{"wrong", []string{"list"}, []string{"UNAUTHORIZED"}},
		{serveToken, []string{"start", "--room", "demo:"}, []string{"INVALID_CONFIG"}},
		{serveToken, []string{"start", "--room", "demo:", "--record", "--rtmp", "rtmp://a/1", "--rtmp", "rtmp://a/2", "--rtmp", "rtmp://a/3", "--rtmp", "rtmp://a/4"}, []string{"INVALID_CONFIG", "rtmpUrls"}},
		{serveToken, []string{"status", "cli-1", "-o", "yaml"}, []string{"--output"}},
	} {
		_, errOut, code := s.client(tc.token, tc.args...)
		for _, w := range tc.want {
			if code != 2 || !strings.Contains(errOut, w) {
				t.Errorf("%v = exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, w)
			}
		}
	}
}
