package rtmptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NeedBinary returns the path of a required program, failing the test (not
// skipping it) when it is missing: a missing tool must not look like a pass.
func NeedBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test (apt-get install it): %v", name, err)
	}
	return p
}

// NeedFile fails the test when a required file (an nginx module) is missing.
func NeedFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is required for this test (apt-get install %s): %v", path, pkg, err)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitListening waits until something listens on 127.0.0.1:port, without
// connecting to it (ffmpeg -listen serves exactly one connection).
func WaitListening(t testing.TB, port int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ok, err := listening(port)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d after %v", port, timeout)
}

// listening reports whether a socket listens on port, from /proc/net/tcp:
// asking opens no connection, so the server logs and counts none.
func listening(port int) (bool, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, fmt.Errorf("read the socket table: %w", err)
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// local_address is f[1], state f[3]; 0A is LISTEN.
		if len(f) > 3 && strings.HasSuffix(f[1]+" ", want) && f[3] == "0A" {
			return true, nil
		}
	}
	return false, nil
}

// dieWithParent has the kernel kill a child when the test binary dies
// without running its cleanups (a panic, go test's -timeout).
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// proc is a started process that t.Cleanup will kill.
type proc struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
	err  error
}

func start(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.SysProcAttr = dieWithParent()
	p.cmd.Stdout = lockedWriter{p}
	p.cmd.Stderr = lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

type lockedWriter struct{ p *proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the process to exit by itself.
func (p *proc) wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("still running after %v", timeout)
	}
}

// NginxConfig shapes an nginx-rtmp instance.
type NginxConfig struct {
	// Apps is extra rtmp application blocks; "live" (live, record all,
	// record_unique) is always there.
	Apps string
	// TLS, when set, puts nginx's stream module in front with this
	// certificate: TLSPort accepts rtmps and proxies to the RTMP port.
	CertFile, KeyFile string
}

// Nginx is a running nginx with the RTMP module.
type Nginx struct {
	t       testing.TB
	Port    int    // RTMP
	TLSPort int    // rtmps front, when configured
	Records string // directory of the "live" app's recordings
	dir     string
	conf    string
	p       *proc
}

const (
	rtmpModule   = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
	streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"
)

// StartNginx writes a config under a temp prefix and starts nginx in the
// foreground as a single process.
func StartNginx(t testing.TB, cfg NginxConfig) *Nginx {
	t.Helper()
	NeedBinary(t, "nginx")
	NeedFile(t, rtmpModule, "libnginx-mod-rtmp")
	dir := t.TempDir()
	n := &Nginx{t: t, Port: FreePort(t), Records: filepath.Join(dir, "rec"), dir: dir,
		conf: filepath.Join(dir, "nginx.conf")}
	if err := os.Mkdir(n.Records, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "load_module %s;\n", rtmpModule)
	if cfg.CertFile != "" {
		NeedFile(t, streamModule, "libnginx-mod-stream")
		fmt.Fprintf(&b, "load_module %s;\n", streamModule)
		n.TLSPort = FreePort(t)
	}
	fmt.Fprintf(&b, `daemon off;
master_process off;
worker_processes 1;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 128; }
rtmp {
  server {
    listen 127.0.0.1:%[2]d;
    chunk_size 4096;
    application live {
      live on;
      record all;
      record_path %[3]s;
      record_unique on;
    }
%[4]s
  }
}
`, dir, n.Port, n.Records, cfg.Apps)
	if cfg.CertFile != "" {
		fmt.Fprintf(&b, `stream {
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    proxy_pass 127.0.0.1:%d;
  }
}
`, n.TLSPort, cfg.CertFile, cfg.KeyFile, n.Port)
	}
	if err := os.WriteFile(n.conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Start()
	return n
}

// Start (re)starts nginx on the same ports and waits until it listens.
//
// It looks for the listening socket rather than connecting: a connection
// would be an RTMP session of its own, and nginx-rtmp logs "deleteStream"
// when any session ends, so a probe's line would stand in for a
// publisher's in WaitLog("deleteStream", ...).
func (n *Nginx) Start() {
	n.t.Helper()
	n.p = start(n.t, "nginx", "-p", n.dir, "-e", filepath.Join(n.dir, "error.log"), "-c", n.conf)
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := listening(n.Port)
		if err != nil {
			n.t.Fatal(err)
		}
		if ok {
			return
		}
		select {
		case <-n.p.done:
			n.t.Fatalf("nginx exited: %v\n%s\n%s", n.p.err, n.p.output(), n.ErrorLog())
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("nginx not listening on %d after 5s:\n%s", n.Port, n.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills nginx abruptly, as a crashed ingest.
func (n *Nginx) Kill() { n.p.kill() }

// Stop stops nginx gracefully (SIGQUIT), so recordings are finalized.
//
// Graceful only for what nginx has read: as a single process (master_process
// off) it exits at the end of its current event loop turn, without reading
// the rest of its connections. Media a publisher sent but nginx had not yet
// read (behind the TLS front, still in the proxy's upstream socket) is
// lost; call WaitPublishesEnded first.
func (n *Nginx) Stop() {
	_ = n.p.cmd.Process.Signal(syscall.SIGQUIT)
	if err := n.p.wait(5 * time.Second); err != nil && strings.Contains(err.Error(), "still running") {
		n.p.kill()
	}
}

// ErrorLog returns nginx's error log.
func (n *Nginx) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
	return string(b)
}

// Recordings lists the live app's recordings, oldest first.
func (n *Nginx) Recordings() []string {
	m, _ := filepath.Glob(filepath.Join(n.Records, "*.flv"))
	sortByModTime(m)
	return m
}

func sortByModTime(files []string) {
	mt := func(f string) time.Time {
		st, err := os.Stat(f)
		if err != nil {
			return time.Time{}
		}
		return st.ModTime()
	}
	for i := 1; i < len(files); i++ {
		for j := i; j > 0 && mt(files[j]).Before(mt(files[j-1])); j-- {
			files[j], files[j-1] = files[j-1], files[j]
		}
	}
}

// nginx-rtmp's info lines name the process and the session (connection
// number): "2026/12/02 02:25:31 [info] 19214#19214: *4 publish: name=...".
// Numbers restart with the process, so a session is the pair.
var sessionLine = regexp.MustCompile(`(?m)\[info\] (\d+#\d+): \*(\d+) (publish|disconnect)\b`)

// PublishesEnded counts the RTMP sessions that published and have since
// disconnected, over every start of this nginx.
func (n *Nginx) PublishesEnded() int {
	published := map[string]bool{}
	ended := 0
	for _, m := range sessionLine.FindAllStringSubmatch(n.ErrorLog(), -1) {
		id := m[1] + " *" + m[2]
		switch m[3] {
		case "publish":
			published[id] = true
		case "disconnect":
			if published[id] {
				ended++
				delete(published, id)
			}
		}
	}
	return ended
}

// WaitPublishesEnded waits until count publishing sessions have
// disconnected. nginx-rtmp logs a session's disconnect once it has read the
// publisher's close, so everything the publisher sent is in the recording
// and Stop loses nothing. A log line such as "deleteStream" is no such
// signal: nginx-rtmp logs it both for the deleteStream command and when any
// session ends (a publisher's twice), so a count of them runs ahead of the
// publishers.
func (n *Nginx) WaitPublishesEnded(count int, timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for n.PublishesEnded() < count {
		if time.Now().After(deadline) {
			n.t.Fatalf("nginx: %d of %d publishers ended after %v:\n%s", n.PublishesEnded(), count, timeout, n.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitLog waits until nginx's error log contains s n times.
func (n *Nginx) WaitLog(s string, count int, timeout time.Duration) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(n.ErrorLog(), s) < count {
		if time.Now().After(deadline) {
			n.t.Fatalf("nginx log lacks %d x %q after %v:\n%s", count, s, timeout, n.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Listener is "ffmpeg -listen 1" receiving one RTMP publish into a file.
type Listener struct {
	Port int
	Out  string
	p    *proc
}

// StartFFmpegListen starts ffmpeg as an RTMP server for app/key, copying
// what it receives into an FLV file, and waits until it listens.
func StartFFmpegListen(t testing.TB, app, key string) *Listener {
	t.Helper()
	bin := NeedBinary(t, "ffmpeg")
	l := &Listener{Port: FreePort(t), Out: filepath.Join(t.TempDir(), "listen.flv")}
	l.p = start(t, bin, "-hide_banner", "-nostdin", "-loglevel", "info",
		"-listen", "1", "-timeout", "20", "-f", "flv",
		"-i", fmt.Sprintf("rtmp://127.0.0.1:%d/%s/%s", l.Port, app, key),
		"-c", "copy", "-f", "flv", l.Out)
	WaitListening(t, l.Port, 5*time.Second)
	return l
}

// Wait waits for ffmpeg to finish after the publisher left.
func (l *Listener) Wait(timeout time.Duration) error {
	if err := l.p.wait(timeout); err != nil {
		return fmt.Errorf("ffmpeg -listen: %w\n%s", err, l.p.output())
	}
	return nil
}

// Output is ffmpeg's log.
func (l *Listener) Output() string { return l.p.output() }

// Probe is what ffprobe says about a file.
type Probe struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
		Channels  int    `json:"channels"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// Duration is the container duration in seconds.
func (p *Probe) Duration() float64 {
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return d
}

// Stream returns the first stream of a type ("video", "audio").
func (p *Probe) Stream(typ string) (codec string, width, height int, ok bool) {
	for _, s := range p.Streams {
		if s.CodecType == typ {
			return s.CodecName, s.Width, s.Height, true
		}
	}
	return "", 0, 0, false
}

// ProbeFile runs ffprobe on file.
func ProbeFile(t testing.TB, file string) *Probe {
	t.Helper()
	bin := NeedBinary(t, "ffprobe")
	cmd := exec.Command(bin, "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,width,height,channels:format=duration", "-of", "json", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		st, _ := os.Stat(file)
		t.Fatalf("ffprobe %s: %v: %s (file: %v)", file, err, stderr.String(), st)
	}
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	return &p
}

// DecodeCheck decodes the whole file and returns ffmpeg's error output
// (empty when it decodes cleanly from its first frame) and whether the first
// video frame is a keyframe.
func DecodeCheck(t testing.TB, file string) (errors string, firstKey bool) {
	t.Helper()
	ff := NeedBinary(t, "ffmpeg")
	out, _ := exec.Command(ff, "-hide_banner", "-nostdin", "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput()
	probe := NeedBinary(t, "ffprobe")
	first, err := exec.Command(probe, "-v", "error", "-select_streams", "v:0", "-show_entries",
		"packet=flags", "-read_intervals", "%+#1", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	return strings.TrimSpace(string(out)), strings.HasPrefix(strings.TrimSpace(string(first)), "K")
}
