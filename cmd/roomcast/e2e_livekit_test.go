package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/lktest"
)

func startLiveKit(t *testing.T) *lktest.Server {
	t.Helper()
	s, err := lktest.New(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

func lkEnv() []string {
	return append(cleanEnv(), "LIVEKIT_API_KEY="+lktest.DevKey, "LIVEKIT_API_SECRET="+lktest.DevSecret)
}

// publish starts `roomcast publish` as a room participant.
func publish(t *testing.T, url, identity string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"publish", "--room", url, "--identity", identity}, args...)...)
	cmd.Dir = repoRoot(t)
	cmd.Env = lkEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("publisher %s:\n%s", identity, tail(out.String(), 2000))
		}
	})
	return cmd
}

// TestLiveKitRoom records a live room: alice (red) and carol (blue) publish
// before the recorder joins, dave (yellow) shares slides (magenta), alice
// mutes her camera for 3 s, and bob (green) joins late.
func TestLiveKitRoom(t *testing.T) {
	lk := startLiveKit(t)
	url := lk.URL("standup")
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	aliceStart := time.Now()
	publish(t, url, "alice", "--media", filepath.Join(peers, "alice.webm"), "--loop", "--mute-video-at", "6s", "--mute-for", "3s")
	publish(t, url, "carol", "--media", filepath.Join(peers, "carol.mkv"), "--loop")
	publish(t, url, "dave", "--media", filepath.Join(peers, "dave.webm"), "--screen", filepath.Join(peers, "slides.webm"), "--loop")
	time.Sleep(2 * time.Second)

	out := t.TempDir()
	recStart := time.Now()
	rec := startRoomcast(t, lkEnv(), "record", "--room", url, "--record", "--resolution", "1280x720", "--duration", "16s", "--out", out)

	time.Sleep(5 * time.Second)
	bobAt := time.Since(recStart).Seconds()
	publish(t, url, "bob", "--media", filepath.Join(peers, "bob.webm"), "--loop")

	if err := rec.wait(t, 60*time.Second); err != nil {
		t.Fatalf("record: %v\n%s", err, tail(rec.stderr.String(), 3000))
	}
	mp4 := filepath.Join(out, "recording.mp4")
	if ts := videoPacketTimes(t, mp4); len(ts) < 16*30-2 {
		t.Fatalf("recording has %d frames, want 480", len(ts))
	}
	st := readStatus(t, out)
	if st.State != "stopped" || st.Error != nil {
		t.Fatalf("final state %s %+v: %s", st.State, st.Error, st.Reason)
	}
	// Start latency: from the command's start to the first output frame
	// showing a peer's video, in a room whose peers already publish.
	if st.Stats.FirstVideoSeconds == nil || st.StartedAt == nil {
		t.Fatalf("no frame ever showed a peer's video: %+v", st.Stats)
	}
	startLatency := st.StartedAt.Sub(recStart).Seconds() + *st.Stats.FirstVideoSeconds
	t.Logf("start latency: %.3f s (process start to the job's start %.3f s, then the first frame with video at %.3f s)",
		startLatency, st.StartedAt.Sub(recStart).Seconds(), *st.Stats.FirstVideoSeconds)

	// alice's mute, on the recording's clock.
	muteFrom := aliceStart.Add(6 * time.Second).Sub(recStart).Seconds()
	colours := map[string][3]int{"alice": {255, 0, 0}, "bob": {0, 255, 0}, "carol": {0, 0, 255}, "dave": {255, 255, 0}, "slides": {255, 0, 255}}
	check := func(at float64, present, absent []string) {
		t.Helper()
		img := frameRGB(t, mp4, at, 1280, 720)
		for _, p := range present {
			if s := colourShare(img, colours[p], 60); s < 0.02 {
				t.Errorf("at %.1fs %s should show, but only %.1f%% of the frame has its colour", at, p, s*100)
			}
		}
		for _, p := range absent {
			if s := colourShare(img, colours[p], 60); s > 0.005 {
				t.Errorf("at %.1fs %s should not show, but %.1f%% of the frame has its colour", at, p, s*100)
			}
		}
	}
	check(muteFrom-1.2, []string{"alice", "carol", "dave", "slides"}, []string{"bob"})
	check(muteFrom+1.5, []string{"carol", "dave", "slides"}, []string{"alice"})
	check(muteFrom+3+1.8, []string{"alice", "carol", "dave", "slides"}, nil)
	check(bobAt+3, []string{"bob", "carol", "dave"}, nil)
	check(15.5, []string{"alice", "bob", "carol", "dave", "slides"}, nil)
	if st.Peers != 4 {
		t.Errorf("status shows %d peers at the end, want 4 (the recorder is hidden)", st.Peers)
	}
}

// TestLiveKitBadCredentials: a wrong secret fails fast, with a clear error
// that does not contain the secret.
func TestLiveKitBadCredentials(t *testing.T) {
	lk := startLiveKit(t)
	start := time.Now()
	rec := startRoomcast(t, append(cleanEnv(), "LIVEKIT_API_KEY="+lktest.DevKey, "LIVEKIT_API_SECRET=notTheSecretXYZ"),
		"record", "--room", lk.URL("x"), "--record", "--out", t.TempDir())
	err := rec.wait(t, time.Minute)
	took := time.Since(start)
	if rec.exitCode(t) != 1 {
		t.Fatalf("exit: %v\n%s", err, rec.stderr.String())
	}
	if took > 5*time.Second {
		t.Errorf("took %v to report bad credentials, want under 5 s", took)
	}
	msg := rec.stderr.String()
	if !strings.Contains(strings.ToLower(msg), "unauthorized") && !strings.Contains(strings.ToLower(msg), "credentials") {
		t.Errorf("error does not say the credentials are wrong:\n%s", msg)
	}
	if strings.Contains(msg, "notTheSecretXYZ") {
		t.Errorf("the secret leaks:\n%s", msg)
	}
}

// TestLiveKitServerRestart kills livekit-server mid-job and restarts it: the
// job recovers or ends with a clear state, and the archive stays playable.
func TestLiveKitServerRestart(t *testing.T) {
	lk := startLiveKit(t)
	url := lk.URL("restart")
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	publish(t, url, "alice", "--media", filepath.Join(peers, "alice.webm"), "--loop")
	time.Sleep(time.Second)
	out := t.TempDir()
	rec := startRoomcast(t, lkEnv(), "record", "--room", url, "--record", "--resolution", "640x360", "--duration", "14s", "--out", out)
	time.Sleep(4 * time.Second)
	lk.Kill()
	time.Sleep(2 * time.Second)
	if err := lk.Start(); err != nil {
		t.Fatal(err)
	}
	runErr := rec.wait(t, 60*time.Second)
	st := readStatus(t, out)
	switch {
	case runErr == nil && st.State == "stopped":
		t.Logf("the job rode out the restart: %s", st.Reason)
	case runErr != nil && st.State == "failed" && st.Error != nil && st.Error.Message != "":
		t.Logf("the job ended with a clear failure: %s", st.Error.Message)
	case runErr == nil && st.State == "stopped" && st.Reason != "":
		t.Logf("the job stopped cleanly: %s", st.Reason)
	default:
		t.Fatalf("unclear end: exit %v, state %s, error %+v, reason %q\n%s", runErr, st.State, st.Error, st.Reason, tail(rec.stderr.String(), 3000))
	}
	mp4 := filepath.Join(out, "recording.mp4")
	if got := playableSeconds(t, mp4); got < 5 {
		t.Errorf("the archive plays %.1fs, want at least the 5 s before the restart and more", got)
	}
}
