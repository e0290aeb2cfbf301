package api

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/worker/jobstate"
)

// Client calls a roomcast service: the CLI's start, stop, status, list and
// watch use it.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client of the service at server (http://HOST:PORT),
// authenticating with token. hc may be nil.
func NewClient(server, token string, hc *http.Client) (*Client, error) {
	if server == "" {
		return nil, errors.New("no server: give --server or set ROOMCAST_SERVER (for example http://127.0.0.1:8080)")
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http://HOST:PORT or https://HOST", server)
	}
	if hc == nil {
		hc, _ = HTTPClient("")
	}
	return &Client{base: u, token: token, http: hc}, nil
}

// HTTPClient is the http.Client NewClient uses by default, trusting the
// CA certificates in the PEM file caFile besides the system's: a service
// whose --tls-cert a private CA signed. caFile "" trusts the system's only.
func HTTPClient(caFile string) (*http.Client, error) {
	hc := &http.Client{Timeout: 70 * time.Second} // a stop with wait finalizes every output
	if caFile == "" {
		return hc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("the CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	hc.Transport = tr
	return hc, nil
}

func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body any, hdr http.Header, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("calling %s: %w", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		p := &Problem{Status: resp.StatusCode}
		if json.Unmarshal(b, p) != nil || p.Code == "" {
			p.Code, p.Message = CodeInternal, fmt.Sprintf("the server answered %s", resp.Status)
		}
		return resp.StatusCode, p
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("reading the server's answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}

// Start starts a job; key, if not empty, is its Idempotency-Key.
func (c *Client) Start(ctx context.Context, cfg config.Job, key string) (jobstate.State, error) {
	var s jobstate.State
	hdr := http.Header{}
	if key != "" {
		hdr.Set("Idempotency-Key", key)
	}
	_, err := c.do(ctx, "POST", "/v1/jobs", nil, cfg, hdr, &s)
	return s, err
}

// Job returns a job's state.
func (c *Client) Job(ctx context.Context, id string) (jobstate.State, error) {
	var s jobstate.State
	_, err := c.do(ctx, "GET", "/v1/jobs/"+url.PathEscape(id), nil, nil, nil, &s)
	return s, err
}

// Jobs lists jobs, newest first.
func (c *Client) Jobs(ctx context.Context, f ListFilter) (JobPage, error) {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.MeetingURL != "" {
		q.Set("meetingUrl", f.MeetingURL)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	var p JobPage
	_, err := c.do(ctx, "GET", "/v1/jobs", q, nil, nil, &p)
	return p, err
}

// Stop stops a job; with wait it returns once every output is finalized.
func (c *Client) Stop(ctx context.Context, id string, wait bool) (jobstate.State, error) {
	q := url.Values{}
	if wait {
		q.Set("wait", "true")
	}
	var s jobstate.State
	_, err := c.do(ctx, "DELETE", "/v1/jobs/"+url.PathEscape(id), q, nil, nil, &s)
	return s, err
}

// Patch changes a running job.
func (c *Client) Patch(ctx context.Context, id string, p Patch) (jobstate.State, error) {
	var s jobstate.State
	_, err := c.do(ctx, "PATCH", "/v1/jobs/"+url.PathEscape(id), nil, p, nil, &s)
	return s, err
}

// Watch calls fn with each of the job's events, from the one after after
// (0: from the start), until fn returns false, ctx ends, or the stream
// ends. A dropped stream is resumed from the last event seen, so nothing is
// lost.
func (c *Client) Watch(ctx context.Context, id string, after uint64, fn func(Event) bool) error {
	for retry := 0; ; retry++ {
		last, done, err := c.watchOnce(ctx, id, after, fn)
		if done || ctx.Err() != nil {
			return err
		}
		var p *Problem
		if errors.As(err, &p) || retry >= 5 {
			return err
		}
		if last > after {
			after, retry = last, 0
		}
		select {
		case <-time.After(time.Duration(retry+1) * 200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchOnce reads one SSE connection. done is true when fn asked to stop or
// the server ended the stream.
func (c *Client) watchOnce(ctx context.Context, id string, after uint64, fn func(Event) bool) (last uint64, done bool, err error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url("/v1/jobs/"+url.PathEscape(id)+"/events", nil), nil)
	if err != nil {
		return after, true, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(after, 10))
	}
	// Streams last; only the connection's setup is bounded.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return after, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		p := &Problem{Status: resp.StatusCode}
		if json.Unmarshal(b, p) != nil || p.Code == "" {
			p.Code, p.Message = CodeInternal, "the server answered "+resp.Status
		}
		return after, true, p
	}
	last = after
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var ev Event
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Type == "" {
				continue
			}
			last = max(last, ev.Seq)
			if !fn(ev) {
				return last, true, nil
			}
			ev = Event{}
		case strings.HasPrefix(line, "id: "):
			ev.Seq, _ = strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "data: "):
			var e Event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e); err != nil {
				return last, true, fmt.Errorf("reading event %d: %w", ev.Seq, err)
			}
			ev.Type, ev.Time, ev.Data = e.Type, e.Time, e.Data
		}
	}
	if err := sc.Err(); err != nil {
		return last, false, err
	}
	return last, true, nil
}

// Nodes lists the service's nodes.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out struct {
		Nodes []Node `json:"nodes"`
	}
	_, err := c.do(ctx, "GET", "/v1/nodes", nil, nil, nil, &out)
	return out.Nodes, err
}

// Drain makes a node take no new jobs; with migrate its jobs move to other
// nodes. "" names a service that runs alone.
func (c *Client) Drain(ctx context.Context, node string, migrate bool) (Node, error) {
	if node == "" {
		node = "-"
	}
	q := url.Values{}
	if migrate {
		q.Set("migrate", "true")
	}
	var n Node
	_, err := c.do(ctx, "POST", "/v1/nodes/"+url.PathEscape(node)+"/drain", q, nil, nil, &n)
	return n, err
}
