package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// DefaultChromium is Debian's chromium, which the harness drives; it never
// downloads a browser of its own.
const DefaultChromium = "/usr/bin/chromium"

const installHint = "run scripts/install-deps.sh test (apt-get install chromium nodejs npm; " +
	"cd internal/browser/page && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci)"

// Options configure one Chromium process. Chromium's fake capture flags
// are per process, so each distinct Media needs a Browser of its own.
type Options struct {
	Media Files // the fake camera and microphone; both are required
	// Chromium is the browser binary; default DefaultChromium.
	Chromium string
	// PageDir holds driver.js, page.js, index.html and node_modules;
	// default this package's page/ folder in the source tree.
	PageDir string
	// Logf, when set, receives the pages' console and the driver's stderr.
	Logf func(format string, args ...any)
}

// Browser is one headless Chromium with its pages, each a LiveKit
// participant.
type Browser struct {
	opts    Options
	version string
	srv     *http.Server
	addr    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	exited  chan struct{}
	dataDir string

	wmu sync.Mutex // stdin writes

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan reply
	err     error // set once the driver is gone
}

type reply struct {
	ID     int             `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	Log    *string         `json:"log"`
	Text   string          `json:"text"`
	Ready  bool            `json:"ready"`
	Chrome string          `json:"chromium"`
	Fatal  string          `json:"fatal"`
}

func defaultPageDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "page"
	}
	return filepath.Join(filepath.Dir(file), "page")
}

// Launch starts Chromium through the node driver and the page server on
// loopback. Close ends both.
func Launch(ctx context.Context, opts Options) (_ *Browser, err error) {
	if opts.Media.Video == "" || opts.Media.Audio == "" {
		return nil, errors.New("browser: Options.Media needs both Video (.y4m) and Audio (.wav); make them with MakeMedia")
	}
	if opts.Chromium == "" {
		opts.Chromium = DefaultChromium
	}
	if opts.PageDir == "" {
		opts.PageDir = defaultPageDir()
	}
	if _, err := os.Stat(opts.Chromium); err != nil {
		return nil, fmt.Errorf("browser: Options.Chromium %s: %w; %s", opts.Chromium, err, installHint)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("browser: node not found: %w; %s", err, installHint)
	}
	umd := filepath.Join(opts.PageDir, "node_modules", "livekit-client", "dist", "livekit-client.umd.js")
	for _, p := range []string{umd, filepath.Join(opts.PageDir, "node_modules", "playwright-core", "package.json")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("browser: %w; %s", err, installHint)
		}
	}
	b := &Browser{opts: opts, waiting: map[int]chan reply{}, exited: make(chan struct{})}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if err := b.serve(umd); err != nil {
		return nil, err
	}
	if b.dataDir, err = os.MkdirTemp("", "roomcast-chromium-"); err != nil {
		return nil, fmt.Errorf("browser: profile folder: %w", err)
	}
	cfg, _ := json.Marshal(map[string]any{"chromium": opts.Chromium, "userDataDir": b.dataDir, "args": b.flags()})
	b.cmd = exec.Command(node, filepath.Join(opts.PageDir, "driver.js"), string(cfg))
	b.cmd.Dir = opts.PageDir
	b.cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	b.cmd.Stderr = logWriter{b.logf, "driver"}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("browser: starting node driver.js: %w", err)
	}
	ready := make(chan reply, 1)
	go b.read(stdout, ready)
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	select {
	case r := <-ready:
		if r.Fatal != "" {
			return nil, fmt.Errorf("browser: the driver could not launch %s: %s", opts.Chromium, r.Fatal)
		}
		b.version = r.Chrome
	case <-b.exited:
		return nil, fmt.Errorf("browser: the driver exited before Chromium was up: %w", b.failure())
	case <-ctx.Done():
		return nil, fmt.Errorf("browser: launching Chromium: %w", ctx.Err())
	}
	return b, nil
}

// flags are Chromium's (the driver adds --headless and the fresh
// --user-data-dir): headless, quiet (no background networking, which
// the machine has none for), loopback ICE, and the fake devices fed from
// the test's files.
func (b *Browser) flags() []string {
	return []string{
		"--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions",
		"--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
		"--use-file-for-fake-video-capture=" + b.opts.Media.Video,
		"--use-file-for-fake-audio-capture=" + b.opts.Media.Audio,
		"--allow-loopback-in-peer-connection",
		// Hidden tabs must keep capturing and encoding at full rate.
		"--disable-background-timer-throttling", "--disable-renderer-backgrounding",
		"--disable-backgrounding-occluded-windows",
		"--autoplay-policy=no-user-gesture-required",
	}
}

// Version is Chromium's version, as playwright reports it.
func (b *Browser) Version() string { return b.version }

func (b *Browser) logf(format string, args ...any) {
	if b.opts.Logf != nil {
		b.opts.Logf(format, args...)
	}
}

func (b *Browser) serve(umd string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("browser: page server: %w", err)
	}
	dir := b.opts.PageDir
	mux := http.NewServeMux()
	file := func(path, typ string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", typ)
			w.Header().Set("Cache-Control", "no-store")
			http.ServeFile(w, r, path)
		}
	}
	mux.Handle("GET /{$}", file(filepath.Join(dir, "index.html"), "text/html; charset=utf-8"))
	mux.Handle("GET /page.js", file(filepath.Join(dir, "page.js"), "text/javascript"))
	mux.Handle("GET /livekit-client.umd.js", file(umd, "text/javascript"))
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	b.addr = l.Addr().String()
	go func() { _ = b.srv.Serve(l) }()
	return nil
}

// read dispatches the driver's lines: answers to their callers, console
// lines to the log.
func (b *Browser) read(stdout io.Reader, ready chan<- reply) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var r reply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			b.logf("driver: %s", sc.Text())
			continue
		}
		switch {
		case r.Ready || r.Fatal != "":
			select {
			case ready <- r:
			default:
			}
		case r.Log != nil:
			b.logf("%s: %s", *r.Log, r.Text)
		default:
			b.mu.Lock()
			ch := b.waiting[r.ID]
			delete(b.waiting, r.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		}
	}
	b.mu.Lock()
	if b.err == nil {
		b.err = errors.New("the node driver exited")
	}
	for id, ch := range b.waiting {
		close(ch)
		delete(b.waiting, id)
	}
	b.mu.Unlock()
}

func (b *Browser) failure() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	return errors.New("the node driver exited")
}

// call sends one command and waits for its answer; result, when not nil,
// receives the answer's result.
func (b *Browser) call(ctx context.Context, cmd map[string]any, result any) error {
	ch := make(chan reply, 1)
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return fmt.Errorf("browser: %w", b.err)
	}
	b.nextID++
	id := b.nextID
	b.waiting[id] = ch
	b.mu.Unlock()
	cmd["id"] = id
	line, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	b.wmu.Lock()
	_, err = b.stdin.Write(append(line, '\n'))
	b.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("browser: writing to the driver: %w", err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("browser: %v: %w", cmd["op"], b.failure())
		}
		if !r.OK {
			return fmt.Errorf("browser: %v %v %v: %s", cmd["op"], cmd["page"], cmd["fn"], r.Error)
		}
		if result != nil {
			if err := json.Unmarshal(r.Result, result); err != nil {
				return fmt.Errorf("browser: %v %v: result %s: %w", cmd["op"], cmd["fn"], r.Result, err)
			}
		}
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
		return fmt.Errorf("browser: %v %v %v: %w", cmd["op"], cmd["page"], cmd["fn"], ctx.Err())
	}
}

// Open opens a tab for a participant, named for the logs; the tab loads
// the publisher page and is ready to Join.
func (b *Browser) Open(ctx context.Context, name string) (*Page, error) {
	if err := b.call(ctx, map[string]any{"op": "open", "page": name, "url": "http://" + b.addr + "/"}, nil); err != nil {
		return nil, err
	}
	return &Page{b: b, name: name}, nil
}

// Close quits Chromium and the driver, and stops the page server.
func (b *Browser) Close() {
	if b.cmd != nil && b.cmd.Process != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.call(ctx, map[string]any{"op": "quit"}, nil)
		cancel()
		_ = b.stdin.Close()
		select {
		case <-b.exited:
		case <-time.After(5 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	}
	if b.srv != nil {
		_ = b.srv.Close()
	}
	if b.dataDir != "" {
		_ = os.RemoveAll(b.dataDir)
	}
}

// logWriter turns the driver's stderr into log lines.
type logWriter struct {
	logf func(string, ...any)
	what string
}

func (w logWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.logf("%s: %s", w.what, l)
	}
	return len(p), nil
}
