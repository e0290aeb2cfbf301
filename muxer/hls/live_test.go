package hls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roomcast/roomcast/muxer/output"
)

// liveStream is a Live sink mounted like roomcast mounts it, fed in real time
// from the test clip until the test ends.
type liveStream struct {
	live *Live
	srv  *httptest.Server
	url  string // .../hls/job1/index.m3u8

	stopFeed context.CancelFunc

	mu     sync.Mutex
	states []output.SinkState
}

func startLive(t *testing.T, variant string) *liveStream {
	t.Helper()
	ls := &liveStream{}
	ls.live = NewLive(LiveOptions{
		Variant: variant,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	mux := http.NewServeMux()
	mux.Handle("/hls/job1/", http.StripPrefix("/hls/job1", ls.live))
	ls.srv = httptest.NewServer(mux)
	ls.url = ls.srv.URL + "/hls/job1/index.m3u8"

	ctx, cancel := context.WithCancel(context.Background())
	ls.stopFeed = cancel
	rep := output.ReporterFunc(func(s output.SinkState) {
		ls.mu.Lock()
		ls.states = append(ls.states, s)
		ls.mu.Unlock()
	})
	if err := ls.live.Open(ctx, testClip.info, rep); err != nil {
		t.Fatalf("Open: %v", err)
	}
	fed := make(chan error, 1)
	go func() {
		_, err := feed(ctx, ls.live, testClip, feedOptions{duration: time.Hour, speed: 1})
		fed <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-fed; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("feed: %v", err)
		}
		ls.live.Close()
		ls.srv.Close()
	})
	return ls
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Origin", "http://player.example")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res, string(b)
}

// uris returns the URI lines and the URI= attributes of a playlist.
func uris(pl string) []string {
	var out []string
	for _, ln := range strings.Split(pl, "\n") {
		ln = strings.TrimSpace(ln)
		if ln != "" && !strings.HasPrefix(ln, "#") {
			out = append(out, ln)
		}
	}
	for _, m := range regexp.MustCompile(`URI="([^"]+)"`).FindAllStringSubmatch(pl, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestLiveVariants(t *testing.T) {
	for _, tc := range []struct {
		variant   string
		media     string   // a media playlist's name
		tags      []string // the media playlist must have these
		noTags    []string // and not these
		segSuffix string
	}{
		{
			variant: VariantLowLatency, media: "video1_stream.m3u8", segSuffix: ".mp4",
			tags: []string{"#EXT-X-VERSION:10", "#EXT-X-MAP:", "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES",
				"PART-HOLD-BACK=", "#EXT-X-PART-INF:PART-TARGET=", "#EXT-X-PART:", "INDEPENDENT=YES",
				"#EXT-X-PRELOAD-HINT:", "#EXT-X-TARGETDURATION:2", "#EXT-X-PROGRAM-DATE-TIME:"},
		},
		{
			variant: VariantFMP4, media: "video1_stream.m3u8", segSuffix: ".mp4",
			tags:   []string{"#EXT-X-MAP:", "#EXT-X-TARGETDURATION:2"},
			noTags: []string{"#EXT-X-PART", "#EXT-X-PRELOAD-HINT"},
		},
		{
			variant: VariantMPEGTS, media: "main_stream.m3u8", segSuffix: ".ts",
			tags:   []string{"#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"},
			noTags: []string{"#EXT-X-MAP", "#EXT-X-PART"},
		},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			t.Parallel()
			ls := startLive(t, tc.variant)
			base := strings.TrimSuffix(ls.url, "index.m3u8")

			// The multivariant playlist waits for the first segment.
			res, mv := get(t, ls.url)
			checkHeaders(t, "multivariant", res, http.StatusOK, "no-cache", "application/vnd.apple.mpegurl")
			if !strings.Contains(mv, tc.media) || !strings.Contains(mv, "#EXT-X-STREAM-INF:") {
				t.Fatalf("multivariant playlist:\n%s", mv)
			}
			if !strings.Contains(mv, `CODECS="avc1.`) || !strings.Contains(mv, "mp4a.40.2") ||
				!strings.Contains(mv, "RESOLUTION=640x360") {
				t.Errorf("multivariant playlist lacks codecs or resolution:\n%s", mv)
			}

			// Let a few segments pass: ffprobe starts 3 segments from the
			// live edge.
			time.Sleep(4 * time.Second)
			res, pl := get(t, base+tc.media)
			t.Logf("%s:\n%s", tc.media, pl)
			checkHeaders(t, "media playlist", res, http.StatusOK, "no-cache", "application/vnd.apple.mpegurl")
			for _, tag := range tc.tags {
				if !strings.Contains(pl, tag) {
					t.Errorf("media playlist lacks %s:\n%s", tag, pl)
				}
			}
			for _, tag := range tc.noTags {
				if strings.Contains(pl, tag) {
					t.Errorf("media playlist has %s:\n%s", tag, pl)
				}
			}
			// Segments follow the 2 s GOP.
			for _, m := range regexp.MustCompile(`#EXTINF:([0-9.]+)`).FindAllStringSubmatch(pl, -1) {
				if m[1] != "2.00000" && m[1] != "2" && m[1] != "2.000" {
					t.Errorf("segment of %s s, want 2:\n%s", m[1], pl)
					break
				}
			}

			// Segments, parts and init files are served with CORS and the
			// right caching.
			var seg, init string
			for _, u := range uris(pl) {
				switch {
				case strings.HasSuffix(u, "_init.mp4"):
					init = u
				case strings.Contains(u, "_seg") && strings.HasSuffix(u, tc.segSuffix):
					seg = u
				}
			}
			if seg == "" {
				t.Fatalf("no segment in:\n%s", pl)
			}
			res, body := get(t, base+seg)
			ct := "video/mp4"
			if tc.segSuffix == ".ts" {
				ct = "video/mp2t"
			}
			checkHeaders(t, "segment", res, http.StatusOK, "public, max-age=3600, immutable", ct)
			if len(body) < 1000 {
				t.Errorf("segment of %d bytes", len(body))
			}
			if init != "" {
				res, _ := get(t, base+init)
				checkHeaders(t, "init", res, http.StatusOK, "no-cache", "video/mp4")
			}

			// ffprobe reads the live stream while packets flow.
			out := ffprobe(t, 30*time.Second, "-show_entries", "stream=codec_type,codec_name,width,height,sample_rate",
				"-of", "json", ls.url)
			var probe struct {
				Streams []struct {
					CodecType  string `json:"codec_type"`
					CodecName  string `json:"codec_name"`
					Width      int    `json:"width"`
					SampleRate string `json:"sample_rate"`
				} `json:"streams"`
			}
			if err := json.Unmarshal([]byte(out), &probe); err != nil {
				t.Fatalf("ffprobe output: %v\n%s", err, out)
			}
			got := map[string]bool{}
			for _, s := range probe.Streams {
				got[s.CodecType+"/"+s.CodecName] = true
			}
			if !got["video/h264"] || !got["audio/aac"] {
				t.Errorf("ffprobe found %s", out)
			}

			// Nothing else is served, and a closed stream is gone.
			res, _ = get(t, base+"nope.m3u8x")
			checkHeaders(t, "unknown file", res, http.StatusNotFound, "no-store", "")
			res, _ = get(t, base+"prefix_video1_seg999999.mp4")
			checkHeaders(t, "segment out of the window", res, http.StatusNotFound, "no-store", "")

			ls.mu.Lock()
			if len(ls.states) == 0 || !ls.states[0].Running {
				t.Errorf("reported states %+v, want running first", ls.states)
			}
			ls.mu.Unlock()
		})
	}
}

func checkHeaders(t *testing.T, what string, res *http.Response, status int, cache, ctype string) {
	t.Helper()
	if res.StatusCode != status {
		t.Errorf("%s: status %d, want %d", what, res.StatusCode, status)
	}
	if got := res.Header.Get("Cache-Control"); got != cache {
		t.Errorf("%s: Cache-Control %q, want %q", what, got, cache)
	}
	if ctype != "" && res.Header.Get("Content-Type") != ctype {
		t.Errorf("%s: Content-Type %q, want %q", what, res.Header.Get("Content-Type"), ctype)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("%s: Access-Control-Allow-Origin %q, want *", what, got)
	}
}

// TestLiveHandler covers the answers that do not need media: CORS preflight,
// methods, names, a player that comes before the first segment, and a
// stream that has ended.
func TestLiveHandler(t *testing.T) {
	t.Parallel()
	early := NewLive(LiveOptions{})
	early.readyWait = 300 * time.Millisecond
	closed := NewLive(LiveOptions{})
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		live    *Live
		method  string
		path    string
		header  map[string]string
		status  int
		headers map[string]string
	}{
		{
			name: "preflight", live: early, method: http.MethodOptions, path: "/index.m3u8",
			header: map[string]string{"Origin": "http://player.example", "Access-Control-Request-Method": "GET",
				"Access-Control-Request-Headers": "range,x-player"},
			status: http.StatusNoContent,
			headers: map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
				"Access-Control-Allow-Headers": "range,x-player", "Access-Control-Max-Age": "86400"},
		},
		{
			name: "POST", live: early, method: http.MethodPost, path: "/index.m3u8",
			status: http.StatusMethodNotAllowed, headers: map[string]string{"Allow": "GET, HEAD, OPTIONS"},
		},
		{name: "directory", live: early, method: http.MethodGet, path: "/a/index.m3u8", status: http.StatusNotFound},
		{name: "not a stream file", live: early, method: http.MethodGet, path: "/index.html", status: http.StatusNotFound},
		{name: "segment before the first", live: early, method: http.MethodGet, path: "/x_video1_seg0.mp4", status: http.StatusNotFound},
		{
			name: "playlist before the first segment", live: early, method: http.MethodGet, path: "/index.m3u8",
			status: http.StatusServiceUnavailable, headers: map[string]string{"Retry-After": "1", "Cache-Control": "no-store"},
		},
		{name: "ended", live: closed, method: http.MethodGet, path: "/index.m3u8", status: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			tc.live.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			for k, v := range tc.headers {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}

	// A waiting player that goes away is let go at once.
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest(http.MethodGet, "/index.m3u8", nil).WithContext(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewLive(LiveOptions{}).ServeHTTP(httptest.NewRecorder(), req)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("a cancelled request kept waiting")
	}

	// Open rejects what it cannot package, and Write then fails.
	bad := testClip.info
	bad.Audio.Extradata = nil
	l := NewLive(LiveOptions{})
	if err := l.Open(context.Background(), bad, nil); err == nil {
		t.Error("Open accepted a stream without an AudioSpecificConfig")
	}
	p := testClip.video[0]
	if err := l.Write(context.Background(), &p); err == nil {
		t.Error("Write after a failed Open succeeded")
	}
	l.Close()
	if err := NewLive(LiveOptions{Variant: "dash"}).Open(context.Background(), testClip.info, nil); err == nil {
		t.Error("Open accepted variant dash")
	}
}

// TestLiveCloseReleasesWaiters: LL-HLS players park blocking playlist
// reloads on the server; when the job stops they must be answered at once,
// or the HTTP server could not shut down.
func TestLiveCloseReleasesWaiters(t *testing.T) {
	t.Parallel()
	ls := startLive(t, VariantLowLatency)
	get(t, ls.url) // waits for the first segment
	base := strings.TrimSuffix(ls.url, "index.m3u8")
	_, pl := get(t, base+"video1_stream.m3u8")
	m := regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`).FindStringSubmatch(pl)
	if m == nil {
		t.Fatalf("no media sequence in\n%s", pl)
	}
	seq, _ := strconv.Atoi(m[1])
	next := seq + strings.Count(pl, "#EXTINF") // the segment being written

	// The media stops: a reload for the next segment's first part waits.
	ls.stopFeed()
	res := make(chan int, 1)
	go func() {
		r, err := http.Get(fmt.Sprintf("%svideo1_stream.m3u8?_HLS_msn=%d&_HLS_part=0", base, next+1))
		if err != nil {
			res <- -1
			return
		}
		r.Body.Close()
		res <- r.StatusCode
	}()
	select {
	case code := <-res:
		t.Fatalf("blocking reload answered %d before the segment existed", code)
	case <-time.After(time.Second):
	}
	start := time.Now()
	ls.live.Close()
	select {
	case code := <-res:
		t.Logf("blocking reload answered %d %v after Close", code, time.Since(start))
		if code == http.StatusOK {
			t.Errorf("blocking reload answered 200 for a segment that never came")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocking reload was still waiting 5 s after Close")
	}
	res2, _ := get(t, ls.url)
	if res2.StatusCode != http.StatusNotFound {
		t.Errorf("after Close: %d, want 404", res2.StatusCode)
	}
	p := testClip.video[0]
	if err := ls.live.Write(context.Background(), &p); err == nil {
		t.Error("Write after Close succeeded")
	}
}

// TestLiveCloseDuringWrite closes the sink from another goroutine while
// packets are being written as fast as they come, at several points of the
// stream: no race (the package runs under -race), no hang, and every Write
// after Close fails.
func TestLiveCloseDuringWrite(t *testing.T) {
	t.Parallel()
	for _, after := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		l := NewLive(LiveOptions{Variant: VariantLowLatency})
		if err := l.Open(context.Background(), testClip.info, nil); err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := feed(context.Background(), l, testClip, feedOptions{duration: time.Hour, speed: 0})
			wrote <- err
		}()
		time.Sleep(after)
		l.Close()
		select {
		case <-wrote:
		case <-time.After(10 * time.Second):
			t.Fatalf("Close after %v: a Write still running 10 s later", after)
		}
		p := testClip.video[0]
		if err := l.Write(context.Background(), &p); err == nil {
			t.Errorf("Close after %v: Write after Close succeeded", after)
		}
	}
}
