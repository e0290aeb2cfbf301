package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/api"
)

// benchToken is the API token the bench's serve accepts.
const benchToken = "bench-token-0123456789"

// serveProc is one `roomcast serve` on a loopback port with its own data
// folder, as a backend would run it.
type serveProc struct {
	cmd    *exec.Cmd
	pid    int
	base   string
	data   string
	log    *os.File
	client *api.Client
	// ready is how long serve took from its exec to a 200 on /readyz.
	ready time.Duration
	done  chan error
}

// startServe starts serve with file: rooms allowed under roomsDir, and
// returns once /readyz answers 200. capacity 0 keeps serve's default.
func startServe(bin, dir, roomsDir string, capacity float64) (*serveProc, error) {
	var extra []string
	if capacity > 0 {
		extra = append(extra, "--capacity", strconv.FormatFloat(capacity, 'f', -1, 64))
	}
	return startServeArgs(bin, dir, roomsDir, "", "serve.log", extra...)
}

// startServeArgs is startServe with more flags, logging to dir/logName;
// data "" makes a fresh folder under dir and a fresh log, while a node
// restarted on its old data appends to its log.
func startServeArgs(bin, dir, roomsDir, data, logName string, extra ...string) (*serveProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	mode := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if data == "" {
		if data, err = os.MkdirTemp(dir, "serve-data-"); err != nil {
			return nil, err
		}
		mode |= os.O_TRUNC
	}
	logf, err := os.OpenFile(filepath.Join(dir, logName), mode, 0o644)
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--listen", addr, "--data", data, "--rooms-dir", roomsDir}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "ROOMCAST_API_TOKENS="+benchToken)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s serve: %w", bin, err)
	}
	base := "http://" + addr
	client, err := api.NewClient(base, benchToken, &http.Client{Timeout: 90 * time.Second})
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	s := &serveProc{cmd: cmd, pid: cmd.Process.Pid, base: base, data: data, log: logf, client: client, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-s.done:
			s.done <- err
			s.close()
			return nil, fmt.Errorf("serve exited before it was ready (%v); its log is %s", err, logf.Name())
		default:
		}
		resp, err := hc.Get(base + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			s.ready = time.Since(start)
			return s, nil
		}
	}
	s.close()
	return nil, fmt.Errorf("serve was not ready within 30 s; its log is %s", logf.Name())
}

// close stops serve as an operator would (SIGTERM, which finalizes its jobs)
// and removes its data folder.
func (s *serveProc) close() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.log.Close()
	_ = os.RemoveAll(s.data)
}

// startJob posts cfg, retrying for up to 5 s while the room or the capacity
// is still held by a job that just ended (their release follows the stop's
// answer).
func (s *serveProc) startJob(ctx context.Context, cfg config.Job) (worker.State, error) {
	for i := 0; ; i++ {
		st, err := s.client.Start(ctx, cfg, "")
		var p *api.Problem
		if err != nil && errors.As(err, &p) && (p.Code == api.CodeConflictRunning || p.Code == api.CodeNoCapacity) && i < 50 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		return st, err
	}
}

// waitEnded polls a job until it has stopped or failed.
func (s *serveProc) waitEnded(ctx context.Context, id string, within time.Duration) (worker.State, error) {
	deadline := time.Now().Add(within)
	for {
		st, err := s.client.Job(ctx, id)
		if err == nil && (st.State == worker.Stopped || st.State == worker.Failed) {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("job %s still %s after %s (last error %v)", id, st.State, within, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
