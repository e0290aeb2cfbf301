package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/internal/rtmptest"
	"github.com/roomcast/roomcast/internal/s3test"
)

// diskProc is roomcast with its JSON log read as it comes, so that the
// test can wait for what the job says (status.json cannot always be
// written when the disk is full or the folder read-only).
type diskProc struct {
	cmd  *exec.Cmd
	done chan error
	mu   sync.Mutex
	log  []diskLine
	raw  bytes.Buffer
}

type diskLine struct {
	at  time.Time
	msg string
	txt string
}

func startDiskRoomcast(t *testing.T, env []string, args ...string) *diskProc {
	t.Helper()
	p := &diskProc{cmd: exec.Command(binPath, args...), done: make(chan error, 1)}
	p.cmd.Dir = repoRoot(t)
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct{ Msg string }
			_ = json.Unmarshal(sc.Bytes(), &l)
			p.mu.Lock()
			p.log = append(p.log, diskLine{at: time.Now(), msg: l.Msg, txt: sc.Text()})
			p.raw.Write(sc.Bytes())
			p.raw.WriteByte('\n')
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitLog waits for the n-th (from 1) log line whose message starts with
// msg and returns it.
func (p *diskProc) waitLog(t *testing.T, msg string, n int, timeout time.Duration) diskLine {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		seen := 0
		for _, l := range p.log {
			if strings.HasPrefix(l.msg, msg) {
				if seen++; seen == n {
					p.mu.Unlock()
					return l
				}
			}
		}
		p.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no log %q (#%d) within %v; log:\n%s", msg, n, timeout, tail(p.logText(), 6000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTimeline logs each line's message with its time from the first.
func (p *diskProc) logTimeline(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.log) == 0 {
		return
	}
	var b strings.Builder
	for _, l := range p.log {
		if l.msg != "" {
			fmt.Fprintf(&b, "%6.2fs %s\n", l.at.Sub(p.log[0].at).Seconds(), l.msg)
		}
	}
	t.Logf("job log:\n%s", b.String())
}

func (p *diskProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

func (p *diskProc) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("roomcast: %v\n%s", err, tail(p.logText(), 6000))
		}
	case <-time.After(d):
		t.Fatalf("roomcast did not finish within %v\n%s", d, tail(p.logText(), 4000))
	}
}

// diskTmpfs mounts a tmpfs of size bytes for the test; a failure to mount
// (not root) fails the test.
func diskTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	diskRun(t, "mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func diskRun(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s (the test needs root): %v: %s", strings.Join(args, " "), err, out)
	}
}

// decodeClean fails unless ffmpeg decodes the whole file (or playlist)
// without a word.
func diskDecodeClean(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("decoding %s: %v: %s", path, err, tail(string(out), 2000))
	}
}

// diskRoom is a file room of about 23 s: two peers, then two more as the
// first leave (the demo room ends after 15 s).
func diskRoom(t *testing.T) string {
	t.Helper()
	peers := filepath.Join(repoRoot(t), "testdata", "peers")
	var m strings.Builder
	m.WriteString("peers:\n")
	for _, p := range []struct{ name, file, join string }{
		{"alice", "alice.webm", "0s"}, {"dave", "dave.webm", "0s"}, {"bob", "bob.webm", "11s"}, {"carol", "carol.mkv", "11s"},
	} {
		fmt.Fprintf(&m, "  - name: %s\n    media: %s\n    join: %s\n", p.name, filepath.Join(peers, p.file), p.join)
	}
	room := filepath.Join(t.TempDir(), "room.yaml")
	if err := os.WriteFile(room, []byte(m.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return "file:" + room
}

// TestDiskFullRecording fills the disk under a job's folder mid-job, then
// frees it: the archive and the HLS recording report the error and drop
// what comes meanwhile, RTMP streams on untouched, and both recordings
// resume once there is room: the archive in recording.2.mp4, the HLS
// recording in its playlist after a discontinuity. The job uploads, and
// recording.2.mp4 goes to the bucket as well.
func TestDiskFullRecording(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, "recordings")
	disk := diskTmpfs(t, 48<<20)
	out := filepath.Join(disk, "job")
	lis := rtmptest.StartFFmpegListen(t, "live", "KEYDISK7")
	const dur = 18.0
	p := startDiskRoomcast(t, uploadEnv(s3test.SecretKey), "record", "--room", diskRoom(t), "--record", "--hls-record", "--resolution", "640x360",
		"--duration", fmt.Sprintf("%.0fs", dur), "--out", out, "--log-format", "json",
		"--rtmp", fmt.Sprintf("rtmp://127.0.0.1:%d/live/KEYDISK7", lis.Port),
		"--upload", "s3://recordings/disk/", "--upload-endpoint", srv.Endpoint, "--upload-path-style", "--keep-local")
	p.waitLog(t, "output opened", 1, 30*time.Second)
	time.Sleep(3 * time.Second)

	// Fill the disk to the last block.
	filler := filepath.Join(disk, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	filledAt := time.Now()
	full := p.waitLog(t, "recording suspended", 1, 10*time.Second)
	hlsFull := p.waitLog(t, "hls recording suspended", 1, 10*time.Second)
	t.Logf("disk filled; the archive suspended %v later, the HLS recording %v later", full.at.Sub(filledAt), hlsFull.at.Sub(filledAt))
	if !strings.Contains(full.txt, "recording.mp4") || !strings.Contains(full.txt, "no space left on device") {
		t.Errorf("the archive's error does not name the file and the cause: %s", full.txt)
	}

	time.Sleep(4 * time.Second)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freedAt := time.Now()
	resumed := p.waitLog(t, "recording resumed in a new file", 1, 10*time.Second)
	hlsResumed := p.waitLog(t, "hls recording resumed", 1, 10*time.Second)
	t.Logf("space back; the archive resumed %v later, the HLS recording %v later", resumed.at.Sub(freedAt), hlsResumed.at.Sub(freedAt))
	p.wait(t, 60*time.Second)
	p.logTimeline(t)

	st := readStatus(t, out)
	t.Logf("recording state: %+v; hlsRecording: %+v", st.Recording, st.HLSRecording)
	if st.State != "stopped" || st.Recording.Error != nil || st.HLSRecording.Error != nil || st.RTMPStreaming.Error != nil {
		t.Errorf("job %s, recording error %v, hlsRecording error %v, rtmp error %v: want stopped with no error left",
			st.State, st.Recording.Error, st.HLSRecording.Error, st.RTMPStreaming.Error)
	}
	if want := []string{"recording.mp4", "recording.2.mp4"}; fmt.Sprint(st.Recording.Files) != fmt.Sprint(want) || st.Recording.Path != want[1] {
		t.Errorf("recording files %v path %q, want %v", st.Recording.Files, st.Recording.Path, want)
	}

	// Both files play whole, each without a gap; together they hold the
	// job but for the outage.
	var frames int
	var size int64
	for _, name := range st.Recording.Files {
		path := filepath.Join(out, name)
		diskDecodeClean(t, path)
		ts := videoPacketTimes(t, path)
		checkNoGap(t, name, ts, 1.0/30+0.002)
		frames += len(ts)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		size += fi.Size()
		t.Logf("%s: %d frames, %.2f s, %d bytes", name, len(ts), float64(len(ts))/30, fi.Size())
	}
	gap := dur - float64(frames)/30
	t.Logf("archive: %d of %.0f frames; %.2f s lost to the full disk (filled for %.1f s)", frames, dur*30, gap, freedAt.Sub(filledAt).Seconds())
	if gap <= 0 || gap > freedAt.Sub(filledAt).Seconds()+4 {
		t.Errorf("archive lost %.2f s; the disk was full for %.1f s", gap, freedAt.Sub(filledAt).Seconds())
	}
	// recording.bytes is the media payload in the files: all but the
	// container's few percent.
	if b := st.Recording.Bytes; b > size*101/100 || b < size*9/10 {
		t.Errorf("recording.bytes %d, the files hold %d", b, size)
	}
	// Both files are in the bucket, byte for byte; the state (files
	// included) is the API's schema.
	checkSchema(t, out)
	if u := st.Recording.Upload; u == nil || !u.Verified || u.Error != nil || u.Bytes != size {
		t.Errorf("recording upload %+v, want verified with the %d bytes of both files", u, size)
	}
	for _, name := range st.Recording.Files {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := srv.TryGet("recordings", "disk/"+name); err != nil || !bytes.Equal(got, want) {
			t.Errorf("object disk/%s (%d bytes, %v) is not the local file (%d bytes)", name, len(got), err, len(want))
		}
	}

	// The HLS recording: one playlist, a discontinuity where the disk was
	// full, playable to the end.
	pl, err := os.ReadFile(filepath.Join(out, "hls", "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	if !diskContains(pl, "#EXT-X-DISCONTINUITY") || !diskContains(pl, "#EXT-X-ENDLIST") {
		t.Errorf("HLS playlist without a discontinuity or an end:\n%s", pl)
	}
	diskDecodeClean(t, filepath.Join(out, "hls", "index.m3u8"))

	// RTMP lost nothing.
	if err := lis.Wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	rts := videoPacketTimes(t, lis.Out)
	checkNoGap(t, "RTMP ingest", rts, 0.1)
	if n := len(rts); n < int(dur*30)-15 {
		t.Errorf("the RTMP ingest got %d frames, want about %.0f", n, dur*30)
	}
	t.Logf("RTMP ingest: %d frames", len(rts))
}

func diskContains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

// TestOutputFolderRemovedAndReadOnly removes the job's folder mid-job,
// then makes it read-only for a while: the archive puts back what the
// removal took and writes on; the HLS recording and the thumbnails make
// their folders again; while the folder is read-only the outputs that need
// new files (the HLS recording, the thumbnails) report an error and the
// archive, whose file is open, writes on; all resume when it is writable.
func TestOutputFolderRemovedAndReadOnly(t *testing.T) {
	disk := diskTmpfs(t, 64<<20)
	out := filepath.Join(disk, "job")
	lis := rtmptest.StartFFmpegListen(t, "live", "KEYDISK8")
	const dur = 22.0
	p := startDiskRoomcast(t, cleanEnv(), "record", "--room", diskRoom(t), "--record", "--hls-record", "--thumbnails", "1s",
		"--resolution", "640x360", "--duration", fmt.Sprintf("%.0fs", dur), "--out", out, "--log-format", "json",
		"--rtmp", fmt.Sprintf("rtmp://127.0.0.1:%d/live/KEYDISK8", lis.Port))
	p.waitLog(t, "output opened", 1, 30*time.Second)
	time.Sleep(3 * time.Second)

	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	removedAt := time.Now()
	restored := p.waitLog(t, "recording restored", 1, 5*time.Second)
	hlsBack := p.waitLog(t, "hls recording resumed", 1, 8*time.Second)
	t.Logf("folder removed; the archive restored %v later, the HLS recording resumed %v later", restored.at.Sub(removedAt), hlsBack.at.Sub(removedAt))
	t.Logf("restore: %s", restored.txt)

	time.Sleep(2 * time.Second)
	diskRun(t, "mount", "--bind", out, out)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", out).Run()
		}
	})
	diskRun(t, "mount", "-o", "remount,bind,ro", out)
	roAt := time.Now()
	hlsRO := p.waitLog(t, "hls recording suspended", 2, 5*time.Second)
	t.Logf("folder read-only; the HLS recording suspended %v later: %s", hlsRO.at.Sub(roAt), hlsRO.txt)
	time.Sleep(3 * time.Second)
	diskRun(t, "umount", out)
	mounted = false
	rwAt := time.Now()
	hlsRW := p.waitLog(t, "hls recording resumed", 2, 8*time.Second)
	t.Logf("folder writable again; the HLS recording resumed %v later", hlsRW.at.Sub(rwAt))
	p.wait(t, 60*time.Second)
	p.logTimeline(t)

	st := readStatus(t, out)
	t.Logf("recording %+v; hlsRecording %+v; thumbnails %+v", st.Recording, st.HLSRecording, st.Thumbnails)
	if st.State != "stopped" || st.Recording.Error != nil || st.HLSRecording.Error != nil {
		t.Errorf("job %s, recording error %v, hlsRecording error %v", st.State, st.Recording.Error, st.HLSRecording.Error)
	}
	if len(st.Recording.Files) != 1 {
		t.Errorf("recording files %v, want the one file", st.Recording.Files)
	}
	// The archive is whole: restored, and never interrupted.
	rec := filepath.Join(out, "recording.mp4")
	diskDecodeClean(t, rec)
	ts := videoPacketTimes(t, rec)
	checkNoGap(t, "archive", ts, 1.0/30+0.002)
	t.Logf("archive: %d frames of %.0f", len(ts), dur*30)
	if len(ts) < int(dur*30)-2 {
		t.Errorf("archive has %d frames, want all %.0f", len(ts), dur*30)
	}
	// The HLS recording: a new playlist since the removal, a discontinuity
	// for the read-only spell, playable.
	pl, err := os.ReadFile(filepath.Join(out, "hls", "index.m3u8"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("HLS playlist:\n%s", pl)
	if !diskContains(pl, "#EXT-X-DISCONTINUITY") || !diskContains(pl, "#EXT-X-ENDLIST") || diskContains(pl, "seg00000.ts") {
		t.Errorf("HLS playlist: want one begun after the removal (no seg00000), with a discontinuity and an end")
	}
	diskDecodeClean(t, filepath.Join(out, "hls", "index.m3u8"))
	// Thumbnails came back after the removal and after the read-only spell.
	if fi, err := os.Stat(filepath.Join(out, "thumbnails", "latest.jpg")); err != nil || fi.ModTime().Before(rwAt) {
		t.Errorf("thumbnails/latest.jpg not written after the folder was writable again: %v", err)
	}
	if err := lis.Wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	rts := videoPacketTimes(t, lis.Out)
	checkNoGap(t, "RTMP ingest", rts, 0.1)
	t.Logf("RTMP ingest: %d frames", len(rts))
	if len(rts) < int(dur*30)-15 {
		t.Errorf("the RTMP ingest got %d frames, want about %.0f", len(rts), dur*30)
	}
}
