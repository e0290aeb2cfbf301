package api

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/roomcast/roomcast/internal/apitest"
	"github.com/roomcast/roomcast/worker"
)

// FuzzRequestBodies: any body on any route that takes one is answered, never
// with a 5xx, and always as the OpenAPI document says (a 4xx is a problem
// with a code that names what was wrong).
func FuzzRequestBodies(f *testing.F) {
	svc := &memService{dir: f.TempDir(), jobs: map[string]worker.State{}, keys: map[string]string{}, notify: make(chan struct{})}
	tokens, err := ParseTokens(token)
	if err != nil {
		f.Fatal(err)
	}
	h := New(Options{Service: svc, Tokens: tokens})
	v := apitest.New(f)
	routes := []struct{ method, path string }{
		{"POST", "/v1/jobs"},
		{"PATCH", "/v1/jobs/job_fuzz"},
		{"POST", "/v1/rooms/stop"},
	}
	for i, b := range []string{
		`{"meetingUrl":"demo:","record":true}`,
		`{"meetingUrl":"demo:","rtmpUrls":["rtmp://a/b/c"],"resolution":{"width":1920,"height":1080},"layout":{"tiles":[]}}`,
		`{"layout":"grid","addRtmpUrls":["rtmp://x/y/z"]}`,
		`{"meetingUrl":"demo:"}`,
		`{"meetingUrl":"demo:","record":true,"bogus":1}`,
		`[1,2,3]`, `null`, `{"resolution":{"width":-1}}`, "\xff\xfe", `{"maxDuration":"1e309s"}`,
	} {
		f.Add(uint8(i), []byte(b))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		r := routes[int(route)%len(routes)]
		req := httptest.NewRequest(r.method, "http://127.0.0.1"+r.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q answered %d: %s", r.method, r.path, body, rec.Code, rec.Body)
		}
		if err := v.Check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatal(err)
		}
	})
}
