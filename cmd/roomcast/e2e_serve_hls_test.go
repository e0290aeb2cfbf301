package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/worker"
)

// A job started through serve with hls serves its live HLS at its state's
// hlsStreaming.url, on serve's own address and behind its tokens; the job's
// process serves it, and serve proxies.
func TestServeLiveHLS(t *testing.T) {
	v := apitest.New(t)
	s := startServe(t, v, t.TempDir(), loopedRoom(t))
	job := map[string]any{"id": "live-1", "meetingUrl": "file:long.yaml", "hls": true, "record": true, "thumbnails": "1s",
		"resolution": map[string]int{"width": 320, "height": 180}}
	if code := s.call("POST", "/v1/jobs", job, nil); code != 201 {
		t.Fatalf("POST /v1/jobs with hls = %d", code)
	}
	st := s.waitJob("live-1", "live HLS with 3 s of output", func(st worker.State) bool {
		return st.HLSStreaming.Running && st.HLSStreaming.URL != nil && st.Stats.Elapsed >= 3
	})
	want := s.base + "/hls/live-1/index.m3u8"
	if *st.HLSStreaming.URL != want {
		t.Fatalf("hlsStreaming.url = %q, want %q", *st.HLSStreaming.URL, want)
	}

	get := func(token string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", want, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get(""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the playlist without a token = %d, want 401", resp.StatusCode)
	}
	resp, body := get(serveToken)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "#EXTM3U") {
		t.Fatalf("the playlist = %d %q", resp.StatusCode, body)
	}
	// FFmpeg's HLS reader, with the token on every request it makes,
	// finds the stream the job encodes.
	out, err := exec.Command("ffprobe", "-v", "error", "-headers", "Authorization: Bearer "+serveToken+"\r\n",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", want).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe of the live HLS: %v\n%s", err, out)
	}
	if got := string(out); !strings.Contains(got, "h264,320,180") || !strings.Contains(got, "aac") {
		t.Errorf("ffprobe of the live HLS found %q, want h264 320x180 and aac", got)
	}

	// A live layout change, as a document, and one with a mistake.
	doc := map[string]any{"layout": map[string]any{"video_layout": map[string]any{
		"main": map[string]any{"x_pos": 0, "y_pos": 0, "width": "50%", "video_sources": []string{"*"}}}}}
	if code := s.call("PATCH", "/v1/jobs/live-1", doc, nil); code != 200 {
		t.Errorf("PATCH with a layout document = %d, want 200", code)
	}
	var p422 struct {
		Code   string
		Fields []struct{ Field, Message string }
	}
	bad := map[string]any{"layout": map[string]any{"video_layout": map[string]any{"main": map[string]any{"x_poss": 0}}}}
	if code := s.call("PATCH", "/v1/jobs/live-1", bad, &p422); code != 422 || p422.Code != "INVALID_CONFIG" || !strings.Contains(fmt.Sprint(p422.Fields), "x_poss") {
		t.Errorf("PATCH with a bad layout document = %d %+v, want 422 naming x_poss", code, p422)
	}

	// Its thumbnails, through the state and the files API.
	st = s.waitJob("live-1", "a thumbnail", func(st worker.State) bool { return st.Thumbnails != nil && st.Thumbnails.Count >= 2 })
	if st.Thumbnails.Latest == nil {
		t.Fatalf("thumbnails state %+v without latest", st.Thumbnails)
	}
	if out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0",
		s.download("live-1", *st.Thumbnails.Latest)).Output(); err != nil || strings.TrimSpace(string(out)) != "mjpeg,320,180" {
		t.Errorf("the latest thumbnail: %q %v, want a 320x180 JPEG", out, err)
	}

	s.call("DELETE", "/v1/jobs/live-1?wait=true", nil, nil)
	var p struct{ Code string }
	if code := s.call("GET", "/hls/live-1/index.m3u8", nil, &p); code != 404 || p.Code != "NOT_FOUND" {
		t.Errorf("the playlist of a stopped job = %d %s, want 404 NOT_FOUND", code, p.Code)
	}
}
