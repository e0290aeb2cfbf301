package main

// The same 4-peer room over Janus and over LiveKit: what roomcast's
// recording costs on each connector, with each server's own CPU beside it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/internal/janustest"
	"github.com/roomcast/roomcast/internal/lktest"
)

// roomRun is one recording of a live room.
type roomRun struct {
	connector string
	rc        run           // the recording process
	server    time.Duration // the room server's CPU over the recording
}

// roomsPart records the 4-peer room (the peers' files published with
// `roomcast publish`) through Janus and through LiveKit, seconds each, at
// 1280x720p30 with one x264 thread, as the file-room row.
func roomsPart(ctx context.Context, bin, dir string, peers []string, seconds int) ([]roomRun, error) {
	lk, err := liveKitRoom(ctx, bin, dir, peers, seconds)
	if err != nil {
		return nil, fmt.Errorf("livekit: %w", err)
	}
	ja, err := janusRoom(ctx, bin, dir, peers, seconds)
	if err != nil {
		return nil, fmt.Errorf("janus: %w", err)
	}
	return []roomRun{ja, lk}, nil
}

func recordArgs(room, out string, seconds int) []string {
	return []string{"record", "--room", room, "--record", "--resolution", "1280x720", "--fps", "30",
		"--duration", fmt.Sprintf("%ds", seconds), "--out", out, "--encoder-threads", "1", "--log-level", "warn"}
}

func liveKitRoom(ctx context.Context, bin, dir string, peers []string, seconds int) (roomRun, error) {
	sdir, err := os.MkdirTemp(dir, "livekit-")
	if err != nil {
		return roomRun{}, err
	}
	defer os.RemoveAll(sdir)
	s, err := lktest.New(sdir, true)
	if err != nil {
		return roomRun{}, err
	}
	if err := s.Start(); err != nil {
		return roomRun{}, err
	}
	defer s.Kill()
	env := append(os.Environ(), "LIVEKIT_API_KEY="+lktest.DevKey, "LIVEKIT_API_SECRET="+lktest.DevSecret)
	url := s.URL("bench")
	stop, err := publishAll(peers, func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, bin, append([]string{"publish", "--room", url}, args...)...)
		c.Env = env
		return c
	})
	if err != nil {
		return roomRun{}, err
	}
	defer stop()
	rec := exec.CommandContext(ctx, bin, recordArgs(url, filepath.Join(dir, "lk4"), seconds)...)
	rec.Env = env
	return measureRoom("livekit-server "+lktest.Version, rec, s.PID())
}

func janusRoom(ctx context.Context, bin, dir string, peers []string, seconds int) (roomRun, error) {
	sdir, err := os.MkdirTemp(dir, "janus-")
	if err != nil {
		return roomRun{}, err
	}
	defer os.RemoveAll(sdir)
	s, err := janustest.New(sdir)
	if err != nil {
		return roomRun{}, err
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		return roomRun{}, err
	}
	const id = 4242
	if err := s.CreateRoom(ctx, janustest.Room{ID: id, VideoCodec: "vp8"}); err != nil {
		return roomRun{}, err
	}
	url := s.URL(id)
	stop, err := publishAll(peers, func(args ...string) *exec.Cmd {
		return s.NS.Command(bin, append([]string{"publish", "--room", url}, args...)...)
	})
	if err != nil {
		return roomRun{}, err
	}
	defer stop()
	// `ip netns exec` execs roomcast in the namespace: the process measured
	// is roomcast's own.
	rec := s.NS.Command(bin, recordArgs(url, filepath.Join(dir, "janus4"), seconds)...)
	return measureRoom("janus "+janusVersion(), rec, s.PID())
}

// publishAll starts one looping publisher per peer file and waits for them
// to be in the room.
func publishAll(peers []string, command func(args ...string) *exec.Cmd) (stop func(), err error) {
	var cmds []*exec.Cmd
	stop = func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	for i, p := range peers {
		c := command("--identity", fmt.Sprintf("peer%d", i), "--media", p, "--loop")
		if err := c.Start(); err != nil {
			stop()
			return nil, err
		}
		cmds = append(cmds, c)
	}
	time.Sleep(3 * time.Second) // joined and publishing
	return stop, nil
}

// measureRoom runs the recording and takes the server's CPU over it.
func measureRoom(server string, rec *exec.Cmd, serverPID int) (roomRun, error) {
	var stderr strings.Builder
	rec.Stderr = &stderr
	before, err := procCPU(serverPID)
	if err != nil {
		return roomRun{}, err
	}
	start := time.Now()
	if err := rec.Run(); err != nil {
		return roomRun{}, fmt.Errorf("%s: %v\n%s", strings.Join(rec.Args, " "), err, tail(stderr.String(), 2000))
	}
	wall := time.Since(start)
	after, err := procCPU(serverPID)
	if err != nil {
		return roomRun{}, err
	}
	ru, ok := rec.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return roomRun{}, errors.New("no rusage on this platform")
	}
	r := run{label: server, wall: wall, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), maxRSS: ru.Maxrss}
	return roomRun{connector: server, rc: r, server: after - before}, nil
}

func janusVersion() string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", "janus").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}

// roomsSection is the results' section for the live rooms.
func roomsSection(runs []roomRun, seconds int) string {
	var b strings.Builder
	b.WriteString("## live rooms\n\n")
	b.WriteString("The bench's 4-peer room (640x360 VP8 + Opus files, each published by `roomcast publish --loop`) recorded live at 1280x720p30 with one x264 thread, through each connector, for " + fmt.Sprintf("%d s", seconds) + ".\n\n")
	b.WriteString("| room server | roomcast CPU-s/s | roomcast RSS MiB | server CPU-s/s |\n|---|---|---|---|\n")
	for _, r := range runs {
		s := float64(seconds)
		fmt.Fprintf(&b, "| %s | %.2f | %.0f | %.2f |\n", r.connector, r.rc.cpu.Seconds()/s, float64(r.rc.maxRSS)/1024, r.server.Seconds()/s)
	}
	if len(runs) == 2 && runs[1].rc.cpu > 0 {
		fmt.Fprintf(&b, "\nroomcast on Janus costs **%.2fx** what it costs on LiveKit for the same room.\n", runs[0].rc.cpu.Seconds()/runs[1].rc.cpu.Seconds())
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "\nMeasured %s, load average %s.\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), strings.Join(strings.Fields(string(load))[:3], " "))
	return b.String()
}

// roomsRows runs the live-room part and writes its section into results.
func roomsRows(ctx context.Context, bin, dir string, peers []string, seconds int, results string) error {
	runs, err := roomsPart(ctx, bin, dir, peers, seconds)
	if err != nil {
		return err
	}
	sec := roomsSection(runs, seconds)
	fmt.Print(sec)
	return spliceSection(results, "## live rooms", sec)
}
