package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/roomcast/roomcast/worker"
	"github.com/roomcast/roomcast/worker/service"
)

// serveJobs is how many concurrent jobs the serve part tries; the record
// rows try as many.
const serveJobs = 4

// serveResult is what the serve part measured.
type serveResult struct {
	rows, notes []string
	at          time.Time
}

// section renders the part for results.md.
func (r serveResult) section() string {
	return r.render("serve", "`roomcast serve` as a backend runs it: a loopback port, one API token, the embedded NATS JetStream under a fresh `--data`. Jobs are posted to its HTTP API; each runs in its own `roomcast job-child` process.", "roomcast serve")
}

// render writes a part as a results.md section: heading, what was run,
// when, then its rows and notes.
func (r serveResult) render(heading, intro, column string) string {
	var b strings.Builder
	b.WriteString("## " + heading + "\n\n" + intro + " Measured " + r.at.UTC().Format("2006-01-02 15:04 UTC") + ".\n\n")
	b.WriteString("| measure | " + column + " | target |\n|---|---|---|\n")
	for _, row := range r.rows {
		b.WriteString(row + "\n")
	}
	b.WriteString("\n")
	for _, n := range r.notes {
		b.WriteString("- " + n + "\n")
	}
	return b.String()
}

// servePart measures serve: its idle RSS, the time from POST /v1/jobs to
// the first RTMP byte, its own CPU beside a running job's, and how many
// real-time 4-peer 720p30 jobs it holds at once, beside the record
// command's. peers are seconds long; manifest is their room for record.
func servePart(ctx context.Context, bin, dir string, peers []string, manifest string, seconds int, ng *nginxIngest) (serveResult, error) {
	res := serveResult{at: time.Now()}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return res, err
	}
	rooms, err := filepath.Abs(dir)
	if err != nil {
		return res, err
	}
	// One room per job: serve runs one job per meetingUrl.
	var manifests []string
	for i := 0; i < serveJobs+4; i++ {
		mf := filepath.Join(rooms, fmt.Sprintf("serve-room%d.yaml", i))
		if err := writeManifest(mf, peers); err != nil {
			return res, err
		}
		manifests = append(manifests, mf)
	}
	loadBefore := loadAverage()

	s, err := startServe(bin, dir, rooms, 0)
	if err != nil {
		return res, err
	}
	defer func() {
		if s != nil {
			s.close()
		}
	}()

	// 1. Idle RSS, once the embedded store has settled.
	time.Sleep(5 * time.Second)
	mem, err := procMem(s.pid)
	if err != nil {
		return res, err
	}
	res.rows = append(res.rows, fmt.Sprintf("| idle RSS (VmRSS 5 s after /readyz; peak VmHWM) | **%.0f MiB** (peak %.0f) | ≤ 40 MiB |",
		mib(mem["VmRSS"]), mib(mem["VmHWM"])))
	child, err := idleChildMem(bin)
	if err != nil {
		return res, err
	}
	// The service's own executable: roomcast-serve (no FFmpeg) when it
	// lies beside roomcast, else roomcast itself.
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.pid))
	if err != nil {
		return res, err
	}
	binRSS := smapsRSS(s.pid, func(p string) bool { return p == exe })
	libRSS := smapsRSS(s.pid, func(p string) bool { return strings.Contains(p, ".so") })
	res.notes = append(res.notes, fmt.Sprintf("where idle serve's %.0f MiB go: the service runs as %s; %.0f MiB are its executable's pages (%.0f MiB on disk), %.0f MiB its %d shared libraries, %.0f MiB the rest (Go heap and stacks, the embedded NATS server). A `roomcast job-child` waiting for its job, which loads FFmpeg's libraries, has %.0f MiB. serve was ready %.0f ms after its exec.",
		mib(mem["VmRSS"]), filepath.Base(exe), mib(binRSS), fileMiB(exe), mib(libRSS), mappedLibs(s.pid), mib(mem["VmRSS"]-binRSS-libRSS),
		mib(child["VmRSS"]), ms(s.ready)))

	// 2. POST /v1/jobs → first RTMP byte.
	const trials = 10
	first, media, answer, err := startToFirstByte(ctx, s, ng, trials)
	if err != nil {
		return res, err
	}
	fMed, fMax := medianMax(first)
	mMed, mMax := medianMax(media)
	aMed, aMax := medianMax(answer)
	res.rows = append(res.rows, fmt.Sprintf("| POST /v1/jobs → first RTMP byte at the ingest, demo room, %d trials | median **%.0f ms**, max %.0f ms | median ≤ 1000 ms |",
		trials, fMed, fMax))
	res.notes = append(res.notes, fmt.Sprintf("POST /v1/jobs answered its 201 after a median %.0f ms (max %.0f); %d KiB had reached the ingest, media flowing, after a median %.0f ms (max %.0f). The RTMP ingest is nginx-rtmp behind a TCP proxy of the bench's that timestamps each byte.",
		aMed, aMax, mediaMark>>10, mMed, mMax))

	// 3. serve's own CPU while a job runs: alone, then with a client
	// reading the job's state every second as a dashboard would.
	d := time.Duration(seconds) * time.Second
	own, job, window, err := serveCPUShare(ctx, s, manifests[0], d, false)
	if err != nil {
		return res, err
	}
	pOwn, pJob, pWindow, err := serveCPUShare(ctx, s, manifests[0], d, true)
	if err != nil {
		return res, err
	}
	res.rows = append(res.rows, fmt.Sprintf("| serve's own CPU beside one 4-peer 720p30 recording's | **%.2f%%** of the job's (%.2f%% with its state read every second) | ≤ 2%% |",
		100*own.Seconds()/job.Seconds(), 100*pOwn.Seconds()/pJob.Seconds()))
	res.notes = append(res.notes, fmt.Sprintf("over %.0f s of a file-room 4-peer 720p30 recording through serve, serve itself used %.3f CPU-s and the job's process %.2f CPU-s (%.2f cores), no client calling; with GET /v1/jobs/ID every second, %.3f and %.2f CPU-s over %.0f s.",
		window.Seconds(), own.Seconds(), job.Seconds(), job.Seconds()/window.Seconds(), pOwn.Seconds(), pJob.Seconds(), pWindow.Seconds()))

	// What serve's default capacity lets run at once.
	k, err := admitted(ctx, s, manifests)
	if err != nil {
		return res, err
	}
	s.close()
	s = nil

	// 4. Concurrent real-time jobs, admission out of the way, side by side
	// with the record command's.
	s, err = startServe(bin, dir, rooms, 16)
	if err != nil {
		return res, err
	}
	notes, recordBest, best := concurrency(ctx, bin, manifest, dir, s, manifests[:serveJobs], serveJobs)
	res.rows = append(res.rows, fmt.Sprintf("| concurrent 4-peer 720p30 jobs that keep real time (≥ %.1f fps, ≤ %.0f%% frames late), tried up to %d | **%d** through serve; %d as `record` commands in this run | 3 |",
		realTimeFPS, maxLateShare*100, serveJobs, best, recordBest))
	res.notes = append(res.notes, notes...)
	res.notes = append(res.notes, fmt.Sprintf("serve's default admission (--capacity unset: %d cores × %.1f) admits **%d** of these jobs at once on this machine (`--capacity 16` for the concurrency row): its cost model puts one at %.2f cores, and the one above used %.2f.",
		runtime.NumCPU(), service.Utilization, k, float64(service.CostOf(fileJob(manifests[0], d))), job.Seconds()/window.Seconds()))
	res.notes = append(res.notes, fmt.Sprintf("load average when measured: %s before the serve part, %s after (`/proc/loadavg`; the machine is shared).",
		loadBefore, loadAverage()))
	return res, nil
}

// serveCPUShare runs one recording through serve and samples serve's own CPU
// (its threads' run time: it uses too little for clock ticks) and the job's
// process tree's over the middle of it; with poll, the job's
// state is read every second meanwhile.
func serveCPUShare(ctx context.Context, s *serveProc, manifest string, d time.Duration, poll bool) (own, job, window time.Duration, err error) {
	st, err := s.startJob(ctx, fileJob(manifest, d))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("POST /v1/jobs: %w", err)
	}
	time.Sleep(2 * time.Second)
	own0, err := procRuntime(s.pid)
	if err != nil {
		return 0, 0, 0, err
	}
	job0, n0 := treeCPU(s.pid)
	t0 := time.Now()
	for end := t0.Add(d - 4*time.Second); time.Now().Before(end); {
		if !poll {
			time.Sleep(time.Until(end))
			break
		}
		if _, err := s.client.Job(ctx, st.ID); err != nil {
			return 0, 0, 0, fmt.Errorf("GET /v1/jobs/%s: %w", st.ID, err)
		}
		time.Sleep(min(time.Second, time.Until(end)))
	}
	own1, err := procRuntime(s.pid)
	if err != nil {
		return 0, 0, 0, err
	}
	job1, n1 := treeCPU(s.pid)
	window = time.Since(t0)
	if n0 != 1 || n1 != 1 {
		return 0, 0, 0, fmt.Errorf("serve had %d and %d child processes while its one job ran, want 1", n0, n1)
	}
	final, err := s.waitEnded(ctx, st.ID, d+30*time.Second)
	if err != nil {
		return 0, 0, 0, err
	}
	if final.State == worker.Failed {
		return 0, 0, 0, fmt.Errorf("the CPU job %s failed: %v %s", st.ID, final.Error, final.Reason)
	}
	return own1 - own0, job1 - job0, window, nil
}

// idleChildMem is the memory of a `roomcast job-child` waiting for its start
// request: the binary and its libraries loaded, nothing else.
func idleChildMem(bin string) (map[string]int64, error) {
	cmd := exec.Command(bin, "job-child")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	time.Sleep(3 * time.Second)
	mem, err := procMem(cmd.Process.Pid)
	in.Close() // no start request: it exits
	_ = cmd.Wait()
	return mem, err
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func fileMiB(path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / (1 << 20)
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// spliceSection replaces the section headed by heading in the results file
// (up to the next "## " heading), or appends it.
func spliceSection(path, heading, section string) error {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(b)
	if i := strings.Index(doc, "\n"+heading+"\n"); i >= 0 {
		rest := doc[i+1+len(heading):]
		end := len(doc)
		if j := strings.Index(rest, "\n## "); j >= 0 {
			end = i + 1 + len(heading) + j + 1
		}
		doc = doc[:i+1] + section + doc[end:]
	} else {
		doc = strings.TrimRight(doc, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}
