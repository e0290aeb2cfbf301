package janus

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The Janus HTTP API: a session, its handles, requests, and the long poll
// that brings the session's events.

const (
	// keepaliveEvery keeps the session alive: Janus destroys one that sent
	// nothing for session_timeout, 60 s by default. The long poll alone does
	// not count everywhere (proxies cut idle polls), so a keepalive goes out
	// regardless.
	keepaliveEvery = 25 * time.Second
	requestTimeout = 10 * time.Second
	// pollTimeout bounds one long poll: Janus answers an idle one with a
	// keepalive after about 30 s.
	pollTimeout = 45 * time.Second
	maxEvents   = 16
	maxBody     = 4 << 20
)

// session is one Janus session. Requests may come from any goroutine; the
// poller routes each event to the request waiting for its transaction, or
// else to onEvent.
type session struct {
	base  string
	token string
	hc    *http.Client
	red   *redactor
	log   *slog.Logger
	id    id

	mu      sync.Mutex
	waiters map[string]chan message
	done    chan struct{}
	closed  bool
}

func newSession(ctx context.Context, base, token string, hc *http.Client, red *redactor, log *slog.Logger) (*session, error) {
	s := &session{base: base, token: token, hc: hc, red: red, log: log, waiters: map[string]chan message{}, done: make(chan struct{})}
	m, err := s.post(ctx, "", map[string]any{"janus": "create"})
	if err != nil {
		return nil, err
	}
	if m.Data == nil || m.Data.ID == "" {
		return nil, errors.New("janus: create: the answer has no session id")
	}
	s.id = m.Data.ID
	return s, nil
}

func newTransaction() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// post sends one request to the session (path "" creates one) and returns
// Janus's immediate answer; a "janus":"error" answer is an *apiError.
func (s *session) post(ctx context.Context, path string, msg map[string]any) (message, error) {
	if _, ok := msg["transaction"]; !ok {
		msg["transaction"] = newTransaction()
	}
	if s.token != "" {
		msg["token"] = s.token
	}
	what, _ := msg["janus"].(string)
	b, err := json.Marshal(msg)
	if err != nil {
		return message{}, fmt.Errorf("janus: %s: %w", what, err)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+path, bytes.NewReader(b))
	if err != nil {
		return message{}, fmt.Errorf("janus: %s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	return s.do(req, what)
}

func (s *session) do(req *http.Request, what string) (message, error) {
	resp, err := s.hc.Do(req)
	if err != nil {
		return message{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, what, s.red.error(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return message{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, what, s.red.error(err))
	}
	if resp.StatusCode != http.StatusOK {
		return message{}, fmt.Errorf("janus: %s: HTTP %d", what, resp.StatusCode)
	}
	ms, err := parseMessages(body)
	if err != nil {
		return message{}, fmt.Errorf("janus: %s: %w", what, err)
	}
	m := ms[0]
	if m.Janus == "error" && m.Error != nil {
		return m, &apiError{what: what, code: m.Error.Code, reason: s.red.string(m.Error.Reason)}
	}
	return m, nil
}

func (s *session) path() string { return "/" + string(s.id) }

// attach attaches a VideoRoom handle.
func (s *session) attach(ctx context.Context) (id, error) {
	m, err := s.post(ctx, s.path(), map[string]any{"janus": "attach", "plugin": "janus.plugin.videoroom"})
	if err != nil {
		return "", err
	}
	if m.Data == nil || m.Data.ID == "" {
		return "", errors.New("janus: attach: the answer has no handle id")
	}
	return m.Data.ID, nil
}

// detach drops a handle; errors do not matter (the session may be gone).
func (s *session) detach(ctx context.Context, h id) {
	if h != "" {
		_, _ = s.post(ctx, s.path()+"/"+string(h), map[string]any{"janus": "detach"})
	}
}

// send sends a VideoRoom request (with an SDP, if j is set) on handle h and
// returns its answer: the synchronous one, or for asynchronous requests
// (join, configure, start...) the event that answers them, which the
// poller routes here. A VideoRoom error is an *apiError.
func (s *session) send(ctx context.Context, h id, body map[string]any, j *jsep) (*videoroom, *jsep, error) {
	tx := newTransaction()
	ch := make(chan message, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: the session is closed", ErrConnectionLost)
	}
	s.waiters[tx] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters, tx)
		s.mu.Unlock()
	}()
	req := body["request"]
	what := fmt.Sprintf("videoroom %v", req)
	msg := map[string]any{"janus": "message", "transaction": tx, "body": body}
	if j != nil {
		msg["jsep"] = j
	}
	m, err := s.post(ctx, s.path()+"/"+string(h), msg)
	if err != nil {
		return nil, nil, err
	}
	if m.Janus == "ack" {
		t := time.NewTimer(requestTimeout)
		defer t.Stop()
		select {
		case m = <-ch:
		case <-t.C:
			return nil, nil, fmt.Errorf("janus: %s: no answer in %s", what, requestTimeout)
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-s.done:
			return nil, nil, fmt.Errorf("%w: %s: the session ended", ErrConnectionLost, what)
		}
	}
	if m.Janus == "error" && m.Error != nil {
		return nil, nil, &apiError{what: what, code: m.Error.Code, reason: s.red.string(m.Error.Reason)}
	}
	v, err := m.videoroomData()
	if err != nil {
		return nil, nil, err
	}
	if v == nil {
		return nil, nil, fmt.Errorf("janus: %s: the answer has no videoroom data", what)
	}
	if v.ErrorCode != 0 || v.Videoroom == "event" && v.Error != "" {
		return nil, nil, &apiError{what: what, code: v.ErrorCode, reason: s.red.string(v.Error), plugin: true}
	}
	return v, m.JSEP, nil
}

// poll runs the long poll and the keepalives until ctx ends or the session
// is lost, and returns why it was lost (nil when ctx ended it).
func (s *session) poll(ctx context.Context, onEvent func(message)) error {
	defer s.close()
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	kerr := make(chan error, 1)
	go func() {
		t := time.NewTicker(keepaliveEvery)
		defer t.Stop()
		for {
			select {
			case <-kctx.Done():
				return
			case <-t.C:
				if _, err := s.post(kctx, s.path(), map[string]any{"janus": "keepalive"}); err != nil && kctx.Err() == nil {
					kerr <- fmt.Errorf("keepalive: %w", err)
					return
				}
			}
		}
	}()
	q := url.Values{"maxev": {fmt.Sprint(maxEvents)}}
	if s.token != "" {
		q.Set("token", s.token)
	}
	u := s.base + s.path() + "?" + q.Encode()
	failures := 0
	for {
		select {
		case err := <-kerr:
			return err
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, pollTimeout)
		req, err := http.NewRequestWithContext(pctx, http.MethodGet, u, nil)
		if err != nil {
			cancel()
			return err
		}
		ms, err := s.get(req)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		var ae *apiError
		if errors.As(err, &ae) && (ae.code == codeSessionNotFound || ae.code == codeUnauthorized) {
			return err
		}
		if err != nil {
			// A server restarting refuses connections: that is the end of
			// this session, since its state is gone. One failed poll alone
			// (a proxy cutting it) is retried.
			if failures++; failures >= 2 {
				return err
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		failures = 0
		for _, m := range ms {
			s.route(m, onEvent)
		}
	}
}

func (s *session) get(req *http.Request) ([]message, error) {
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: long poll: %w", ErrUnreachable, s.red.error(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%w: long poll: %w", ErrUnreachable, s.red.error(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("janus: long poll: HTTP %d", resp.StatusCode)
	}
	ms, err := parseMessages(body)
	if err != nil {
		return nil, err
	}
	if len(ms) == 1 && ms[0].Janus == "error" && ms[0].Error != nil {
		return nil, &apiError{what: "long poll", code: ms[0].Error.Code, reason: s.red.string(ms[0].Error.Reason)}
	}
	return ms, nil
}

func (s *session) route(m message, onEvent func(message)) {
	if m.Janus == "keepalive" || m.Janus == "ack" {
		return
	}
	if m.Transaction != "" {
		s.mu.Lock()
		ch := s.waiters[m.Transaction]
		s.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
			return
		}
	}
	onEvent(m)
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// destroy ends the session on the server, best effort.
func (s *session) destroy() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = s.post(ctx, s.path(), map[string]any{"janus": "destroy"})
	s.close()
}
