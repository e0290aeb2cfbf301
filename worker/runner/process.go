package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Options configure how a job's process is started.
type Options struct {
	// Command is the child's argv; its program must call Serve. Default:
	// this executable with the hidden job-child command.
	Command []string
	// Env is the child's environment; nil inherits the parent's.
	Env []string
	// Dir is the child's working directory; "" inherits the parent's.
	Dir string
	// Stderr receives the child's stderr as it is: the service passes its
	// own, since the child logs slog JSON with the job id on every line.
	// When nil, each line goes to Logger as one record.
	Stderr io.Writer
	Logger *slog.Logger
	// OnEvent is called, in order, with every state-change event.
	OnEvent func(name string, s jobstate.State)
	// StartTimeout bounds Start, from the exec to the job running. Default
	// 30 s.
	StartTimeout time.Duration
	// HTTPBase is where the parent serves the jobs' HTTP (live HLS): a
	// job's state gives its HLS URL under it. A job with live HLS serves
	// it on a Unix socket (HTTPSocket) for the parent to proxy.
	HTTPBase string
	// Part is the part of the job this process runs (a fleet's failover
	// continues a job into part 2, 3, …); 0 is the first.
	Part int
}

// Process is one job running in a child process. Its methods are safe from
// any goroutine.
type Process struct {
	id   string
	cmd  *exec.Cmd
	in   io.WriteCloser
	opts Options
	log  *slog.Logger
	// socket is where the job serves its HTTP, if it does.
	socket string
	// tail is the end of the child's stderr, for a crash's reason.
	tail *stderrTail

	mu       sync.Mutex
	next     uint64
	waiting  map[uint64]chan message
	state    jobstate.State
	sawEvent bool // state came from an event: replies no longer set it
	exited   bool
	result   Result

	inMu sync.Mutex // one request line at a time
	done chan struct{}
}

// Result is how a job's process ended.
type Result struct {
	State  jobstate.State // final state, as the child reported it or as inferred
	Signal string         // the signal that ended the child, if any ("killed", …)
	CPU    time.Duration  // user + system CPU time of the child
}

// Start runs cfg in a new child process with out as its output folder, and
// returns once the job runs, or with its start error (a *jobstate.Error when
// the job itself refused). After an error the process has ended.
func Start(ctx context.Context, cfg config.Job, out string, opts Options) (*Process, error) {
	if len(opts.Command) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("runner: finding this executable: %w", err)
		}
		opts.Command = []string{exe, "job-child"}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("job", cfg.ID)
	cmd := exec.Command(opts.Command[0], opts.Command[1:]...)
	cmd.Env, cmd.Dir = opts.Env, opts.Dir
	// Its own process group: a signal to the service's terminal is not the
	// job's, and the service decides how its jobs stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	var stderr io.Reader
	tail := &stderrTail{}
	if opts.Stderr != nil {
		cmd.Stderr = io.MultiWriter(opts.Stderr, tail)
	} else if stderr, err = cmd.StderrPipe(); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	var socket string
	if cfg.HLS {
		if socket, err = socketPath(out, cfg.ID); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("runner: starting the job's process: %w", err)
	}
	p := &Process{
		id: cfg.ID, cmd: cmd, in: in, opts: opts, log: log, socket: socket, tail: tail,
		waiting: map[uint64]chan message{},
		done:    make(chan struct{}),
	}
	p.state = jobstate.State{ID: cfg.ID, State: jobstate.Starting}
	logsDone := make(chan struct{})
	go p.forwardLogs(stderr, logsDone)
	go p.read(stdout, logsDone)

	sctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	start := request{Op: opStart, Config: &cfg, Out: out, Part: opts.Part}
	if cfg.HLS {
		start.HTTPSocket, start.HTTPBase = p.socket, opts.HTTPBase
	}
	m, err := p.call(sctx, start)
	if err == nil && m.Error != nil {
		err = m.Error
	}
	if err != nil {
		if m.Error == nil {
			// The child did not answer in time: it is not to be trusted.
			p.Kill()
		}
		<-p.done
		return nil, err
	}
	return p, nil
}

// ID returns the job's id.
func (p *Process) ID() string { return p.id }

// HTTPSocket is the Unix socket the job serves its HTTP (live HLS) on, or
// "" if it serves none.
func (p *Process) HTTPSocket() string { return p.socket }

// PID returns the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and its result is known.
func (p *Process) Done() <-chan struct{} { return p.done }

// State returns the last state the child reported.
func (p *Process) State() jobstate.State {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// Poll asks the child for the job's current state, byte and frame counters
// included (events carry only changes of state).
func (p *Process) Poll(ctx context.Context) (jobstate.State, error) {
	m, err := p.call(ctx, request{Op: opState})
	if err != nil {
		return p.State(), err
	}
	if m.State == nil {
		return p.State(), errors.New("runner: the job's process answered without a state")
	}
	return *m.State, nil
}

// Result returns how the process ended; valid once Done is closed.
func (p *Process) Result() Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.result
}

// Stop asks the job to stop and waits for its outputs to be finalized.
func (p *Process) Stop(ctx context.Context) error { return p.control(ctx, request{Op: opStop}) }

// SetLayout changes the running job's layout.
func (p *Process) SetLayout(ctx context.Context, layout string) error {
	return p.control(ctx, request{Op: opSetLayout, Layout: layout})
}

// AddRTMP adds an RTMP URL to the running job.
func (p *Process) AddRTMP(ctx context.Context, url string) error {
	return p.control(ctx, request{Op: opAddRTMP, URL: url})
}

// RemoveRTMP removes an RTMP URL from the running job.
func (p *Process) RemoveRTMP(ctx context.Context, url string) error {
	return p.control(ctx, request{Op: opRemoveRTMP, URL: url})
}

// Kill ends the child at once (SIGKILL); Done follows.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
}

// CPU returns the child's CPU time so far, read from /proc while it runs.
func (p *Process) CPU() time.Duration {
	p.mu.Lock()
	if p.exited {
		defer p.mu.Unlock()
		return p.result.CPU
	}
	p.mu.Unlock()
	return procCPU(p.cmd.Process.Pid)
}

func (p *Process) control(ctx context.Context, r request) error {
	m, err := p.call(ctx, r)
	if err != nil {
		return err
	}
	if m.Error != nil {
		return m.Error
	}
	return nil
}

// errExited is returned for a request the child can no longer answer.
var errExited = &jobstate.Error{Code: jobstate.CodeNotFound, Message: "the job has ended"}

func (p *Process) call(ctx context.Context, r request) (message, error) {
	reply := make(chan message, 1)
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return message{}, errExited
	}
	p.next++
	r.ID = p.next
	p.waiting[r.ID] = reply
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiting, r.ID)
		p.mu.Unlock()
	}()
	line, err := json.Marshal(r)
	if err != nil {
		return message{}, fmt.Errorf("runner: %w", err)
	}
	p.inMu.Lock()
	_, err = p.in.Write(append(line, '\n'))
	p.inMu.Unlock()
	if err != nil {
		return message{}, errExited
	}
	select {
	case m, ok := <-reply:
		if !ok {
			return message{}, errExited
		}
		return m, nil
	case <-ctx.Done():
		return message{}, ctx.Err()
	}
}

// read takes the child's messages until its stdout closes, then reaps it.
func (p *Process) read(r io.Reader, logsDone <-chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var final *jobstate.State
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			p.log.Warn("unreadable line from the job's process", "line", truncate(sc.Text(), 200))
			continue
		}
		if m.State != nil {
			// Events and the end carry the job's states in the order the
			// job made them. A reply's state was read beside them, so it
			// may be older than an event written just before it: it
			// stands only until the first event.
			p.mu.Lock()
			if m.Event != "" || m.Done || !p.sawEvent {
				p.state = *m.State
			}
			p.sawEvent = p.sawEvent || m.Event != ""
			p.mu.Unlock()
		}
		if m.Event != "" && m.State != nil && p.opts.OnEvent != nil {
			p.opts.OnEvent(m.Event, *m.State)
		}
		if m.Reply != 0 {
			p.mu.Lock()
			ch := p.waiting[m.Reply]
			p.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
		if m.Done && m.State != nil {
			final = m.State
		}
	}
	<-logsDone
	_ = p.in.Close()
	werr := p.cmd.Wait()
	p.finish(final, werr)
}

func (p *Process) finish(final *jobstate.State, werr error) {
	if p.socket != "" {
		// The child's listener removes it, unless the child died.
		_ = os.Remove(p.socket)
		if dir := filepath.Dir(p.socket); strings.HasPrefix(filepath.Base(dir), "roomcast-") {
			_ = os.Remove(dir) // the private folder socketPath made
		}
	}
	var res Result
	if ps := p.cmd.ProcessState; ps != nil {
		res.CPU = ps.UserTime() + ps.SystemTime()
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	}
	p.mu.Lock()
	if final != nil {
		res.State = *final
	} else {
		// The child died without a word: the job failed, with what killed it.
		why := "the job's process exited without finishing the job"
		switch {
		case res.Signal != "":
			why = "the job's process was killed by signal " + res.Signal
		case p.tail.crash() != "":
			why = "the job's process crashed: " + p.tail.crash()
		case werr != nil:
			why = "the job's process ended: " + werr.Error()
		}
		res.State = failedState(p.state, why)
	}
	p.state = res.State
	p.result = res
	p.exited = true
	for id, ch := range p.waiting {
		close(ch)
		delete(p.waiting, id)
	}
	p.mu.Unlock()
	if final == nil && p.opts.OnEvent != nil {
		p.opts.OnEvent("jobStateUpdated", res.State)
	}
	close(p.done)
}

// failedState marks s failed with reason, every output stopped.
func failedState(s jobstate.State, reason string) jobstate.State {
	now := time.Now().UTC()
	s.State = jobstate.Failed
	s.Error = &jobstate.Error{Code: jobstate.CodeInternal, Message: reason}
	s.Reason = reason
	if s.StoppedAt == nil {
		s.StoppedAt = &now
	}
	s.RTMPStreaming.Outputs = append([]jobstate.RTMPOutput(nil), s.RTMPStreaming.Outputs...)
	s.RTMPStreaming.Running = false
	for i := range s.RTMPStreaming.Outputs {
		s.RTMPStreaming.Outputs[i].Running = false
	}
	s.Recording.Running = false
	s.HLSStreaming.Running = false
	s.HLSRecording.Running = false
	return s
}

// forwardLogs passes the child's log lines on, tagged with the job.
func (p *Process) forwardLogs(r io.Reader, done chan<- struct{}) {
	defer close(done)
	if r == nil {
		return
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		_, _ = p.tail.Write(append(sc.Bytes(), '\n'))
		p.log.Info(truncate(sc.Text(), 4096), "source", "job")
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// procCPU reads a running process's user + system time from
// /proc/PID/stat (fields 14 and 15, in clock ticks).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0
	}
	const ticksPerSecond = 100 // USER_HZ, fixed at 100 on Linux
	return time.Duration(ut+st) * time.Second / ticksPerSecond
}
