package hls

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// hlsJS is hls.js as npm installs it from testdata/player/package.json.
const hlsJS = "testdata/player/node_modules/hls.js/dist/hls.min.js"

// TestBrowserPlayback plays the live LL-HLS stream in headless Chromium with
// hls.js from a page on another origin (so CORS is exercised for real),
// checks that playback advances and that a screenshot shows the clip's
// colours, and measures how far behind real time the player runs.
func TestBrowserPlayback(t *testing.T) {
	t.Parallel()
	js, err := os.ReadFile(hlsJS)
	if err != nil {
		t.Fatalf("hls.js is not installed (%v): run `npm install --no-audit --no-fund` in muxer/hls/testdata/player", err)
	}
	page, err := os.ReadFile("testdata/player.html")
	if err != nil {
		t.Fatal(err)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (%v): apt-get install chromium", err)
	}

	ls := startLive(t, VariantLowLatency)
	pages := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/player.html":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		case "/hls.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(js)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(pages.Close)

	pageURL := pages.URL + "/player.html?src=" + url.QueryEscape(ls.url)
	b := startChromium(t, chromium, pageURL)

	type playerState struct {
		CurrentTime   float64  `json:"currentTime"`
		Playing       bool     `json:"playing"`
		Lag           *float64 `json:"lag"`
		HLSLatency    *float64 `json:"hlsLatency"`
		TargetLatency *float64 `json:"targetLatency"`
		Errors        []string `json:"errors"`
		Fatal         bool     `json:"fatal"`
	}
	var st playerState
	var lags, hlsLats []float64
	startT := -1.0
	deadline := time.Now().Add(45 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("playback did not advance 6 s in time; last state %+v\nchromium said:\n%s",
				st, b.output())
		}
		time.Sleep(250 * time.Millisecond)
		raw, err := b.eval("JSON.stringify(window.state || null)")
		if err != nil {
			t.Fatalf("read player state: %v\nchromium said:\n%s", err, b.output())
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "null" {
			continue // the page is still loading
		}
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			t.Fatalf("player state %s: %v", s, err)
		}
		if st.Fatal {
			t.Fatalf("player failed: %v", st.Errors)
		}
		if !st.Playing {
			continue
		}
		if startT < 0 {
			startT = st.CurrentTime
		}
		// Latency samples once the player has had time to catch up with
		// the live edge.
		if st.CurrentTime-startT >= 3 && st.Lag != nil {
			lags = append(lags, *st.Lag)
			if st.HLSLatency != nil {
				hlsLats = append(hlsLats, *st.HLSLatency)
			}
		}
		if st.CurrentTime-startT >= 6 && len(lags) >= 8 {
			break
		}
	}
	t.Logf("currentTime advanced from %.2f to %.2f s; player errors: %v", startT, st.CurrentTime, st.Errors)

	// Latency: a measured figure, not an assertion.
	slices.Sort(lags)
	slices.Sort(hlsLats)
	target := 0.0
	if st.TargetLatency != nil {
		target = *st.TargetLatency
	}
	t.Logf("LATENCY LL-HLS behind real time (now - EXT-X-PROGRAM-DATE-TIME of the playing frame): "+
		"median %.2f s, min %.2f s, max %.2f s over %d samples; hls.js latency median %.2f s, target %.2f s",
		median(lags), lags[0], lags[len(lags)-1], len(lags), median(hlsLats), target)

	// The picture: left half red, right half blue.
	shot, err := b.screenshot()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if dir := os.Getenv("ROOMCAST_HLS_SCREENSHOT_DIR"); dir != "" {
		os.WriteFile(filepath.Join(dir, "hls-browser.png"), shot, 0o644)
	}
	for _, px := range []struct {
		name    string
		x, y    int
		r, g, b bool // which channels must be high
	}{
		{"left half", 160, 180, true, false, false},
		{"right half", 480, 180, false, false, true},
		{"outside the video", 720, 500, false, false, false},
	} {
		r, g, bl := rgb(img, px.x, px.y)
		if (r > 160) != px.r || (g > 160) != px.g || (bl > 160) != px.b || (!px.r && r > 80) || (!px.g && g > 80) || (!px.b && bl > 80) {
			t.Errorf("%s pixel (%d,%d) is rgb(%d,%d,%d)", px.name, px.x, px.y, r, g, bl)
		}
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

func rgb(img image.Image, x, y int) (r, g, b int) {
	x += img.Bounds().Min.X
	y += img.Bounds().Min.Y
	cr, cg, cb, _ := img.At(x, y).RGBA()
	return int(cr >> 8), int(cg >> 8), int(cb >> 8)
}

// browser is a headless Chromium driven over the DevTools protocol.
type browser struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	conn *websocket.Conn
	id   int
}

// startChromium starts Chromium on pageURL with a fresh profile and connects
// to the page's DevTools target. Cleanup kills its whole process group.
func startChromium(t *testing.T, chromium, pageURL string) *browser {
	t.Helper()
	profile := t.TempDir() // removed after the cleanup below has run
	b := &browser{out: &lockedBuffer{}}
	b.cmd = exec.Command(chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+profile, "--remote-debugging-port=0",
		"--window-size=800,600", "--autoplay-policy=no-user-gesture-required", "--mute-audio",
		pageURL)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	// Its own process group, so the renderer, GPU and zygote processes go
	// with it.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	pgid := b.cmd.Process.Pid
	t.Cleanup(func() {
		exited := make(chan struct{})
		go func() {
			b.cmd.Wait()
			close(exited)
		}()
		if b.conn != nil {
			// Politely first, so Chromium reaps its own children.
			b.call("Browser.close", nil) //nolint:errcheck // it may hang up before answering
			b.conn.Close()
		}
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
		syscall.Kill(-pgid, syscall.SIGKILL) // whatever is left of the group
		<-exited
	})

	// Chromium writes the port it picked to DevToolsActivePort.
	var port string
	for deadline := time.Now().Add(30 * time.Second); ; {
		if bs, err := os.ReadFile(filepath.Join(profile, "DevToolsActivePort")); err == nil {
			if p, _, ok := strings.Cut(string(bs), "\n"); ok && p != "" {
				port = p
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromium did not open its DevTools port; it said:\n%s", b.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("DevToolsActivePort %q", port)
	}

	var wsURL string
	for deadline := time.Now().Add(20 * time.Second); wsURL == ""; {
		var targets []struct {
			Type, URL            string
			WebSocketDebuggerURL string `json:"webSocketDebuggerUrl"`
		}
		res, err := http.Get("http://127.0.0.1:" + port + "/json/list")
		if err == nil {
			json.NewDecoder(res.Body).Decode(&targets)
			res.Body.Close()
		}
		for _, tg := range targets {
			if tg.Type == "page" && strings.Contains(tg.URL, "/player.html") {
				wsURL = tg.WebSocketDebuggerURL
			}
		}
		if wsURL == "" {
			if time.Now().After(deadline) {
				t.Fatalf("no page target in chromium: %v; it said:\n%s", err, b.output())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// No Origin header: Chromium refuses DevTools websockets from origins
	// it was not told to allow.
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("connect to DevTools: %v", err)
	}
	b.conn = conn
	return b
}

// call sends one DevTools command and waits for its answer, skipping events.
func (b *browser) call(method string, params any) (json.RawMessage, error) {
	b.id++
	id := b.id
	b.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := b.conn.WriteJSON(map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	b.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var msg struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := b.conn.ReadJSON(&msg); err != nil {
			return nil, err
		}
		if msg.ID != id {
			continue
		}
		if msg.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, msg.Error.Message)
		}
		return msg.Result, nil
	}
}

// eval evaluates a JavaScript expression in the page and returns its value.
func (b *browser) eval(expr string) (json.RawMessage, error) {
	res, err := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true})
	if err != nil {
		return nil, err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails any `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	if r.ExceptionDetails != nil {
		return nil, fmt.Errorf("exception: %v", r.ExceptionDetails)
	}
	return r.Result.Value, nil
}

func (b *browser) screenshot() ([]byte, error) {
	res, err := b.call("Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		return nil, err
	}
	var r struct {
		Data string `json:"data"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(r.Data)
}

func (b *browser) output() string {
	s := b.out.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// lockedBuffer is a bytes.Buffer safe for a process's output goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
