package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	roomcast "github.com/roomcast/roomcast"
)

// Validator checks answers against the document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router

	mu   sync.Mutex
	seen map[string]bool // "METHOD path-template status" checked so far
}

// New loads and validates the committed document.
func New(t testing.TB) *Validator {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(roomcast.OpenAPI())
	if err != nil {
		t.Fatalf("loading docs/openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("docs/openapi.json is not a valid OpenAPI document: %v", err)
	}
	// Route by path alone: tests talk to loopback servers on any port.
	doc.Servers = nil
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("routing docs/openapi.json: %v", err)
	}
	return &Validator{doc: doc, router: r, seen: map[string]bool{}}
}

// ErrNoRoute is Check's answer for a request the document has no operation
// for.
var ErrNoRoute = errors.New("not in the OpenAPI document")

// Check validates one answer: the route and status must be in the document
// and the body must match its schema. body is the answer's body, already
// read; a stream's (text/event-stream) is not looked at.
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		route, params, err = v.findGreedy(req)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w (%v)", req.Method, req.URL.Path, ErrNoRoute, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			ExcludeResponseBody:   header.Get("Content-Type") == "text/event-stream",
		},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s answered %d, which the OpenAPI document does not allow: %w\nbody: %.500s", req.Method, req.URL.Path, status, err, body)
	}
	v.mu.Lock()
	v.seen[fmt.Sprintf("%s %s %d", req.Method, route.Path, status)] = true
	v.mu.Unlock()
	return nil
}

// findGreedy routes a request whose last path parameter spans several
// segments: the document's routes ending in {path} (a job's files, its
// live HLS) take a file path there, which OpenAPI cannot say. The tail is
// routed as one segment.
func (v *Validator) findGreedy(req *http.Request) (*routers.Route, map[string]string, error) {
	segs := strings.Split(strings.TrimPrefix(req.URL.Path, "/"), "/")
	for tmpl := range v.doc.Paths.Map() {
		t := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
		if t[len(t)-1] != "{path}" || len(segs) <= len(t) {
			continue
		}
		head := strings.Join(segs[:len(t)-1], "/")
		r2 := req.Clone(req.Context())
		r2.URL.Path = "/" + head + "/" + strings.Join(segs[len(t)-1:], "%2F")
		r2.URL.RawPath = ""
		if route, params, err := v.router.FindRoute(r2); err == nil && route.Path == tmpl {
			params["path"] = strings.Join(segs[len(t)-1:], "/")
			return route, params, nil
		}
	}
	return v.router.FindRoute(req)
}

// Seen lists the "METHOD path status" answers checked so far.
func (v *Validator) Seen() map[string]bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]bool, len(v.seen))
	for k := range v.seen {
		out[k] = true
	}
	return out
}

// Transport wraps an http.RoundTripper so that every answer through it is
// checked; a mismatch fails the test. Streams (text/event-stream) are
// checked for their status and headers only.
func (v *Validator) Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(req)
		if err != nil {
			return resp, err
		}
		var body []byte
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return nil, err
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
		}
		err = v.Check(req, resp.StatusCode, resp.Header, body)
		if errors.Is(err, ErrNoRoute) {
			// A route the API does not have (a probe, a path that is not
			// clean): it must be refused, redirected to the clean path, or
			// answered with an error body.
			err = refusal(resp.StatusCode, body)
		}
		if err != nil {
			t.Errorf("%s %s: %v", req.Method, req.URL.Path, err)
		}
		return resp, nil
	})
}

// refusal checks the answer to a request for a route the document does not
// have.
func refusal(status int, body []byte) error {
	switch status {
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return nil
	case http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed:
		var p struct{ Code, Message string }
		if err := json.Unmarshal(body, &p); err != nil || p.Code == "" || p.Message == "" {
			return fmt.Errorf("answered %d without an error body {code, message}: %.200q", status, body)
		}
		return nil
	}
	return fmt.Errorf("a route the document does not have answered %d", status)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
