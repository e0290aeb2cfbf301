package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Headers of a signed message.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTimeout bounds one attempt, from dialling to the end of the answer.
const DefaultTimeout = 10 * time.Second

// maxAnswer is how much of a receiver's answer is read, for the error text
// of a refused delivery; the rest is discarded.
const maxAnswer = 512

// Sender sends signed messages. Its zero value is not usable: make one with
// NewSender.
type Sender struct {
	secret  Secret
	client  *http.Client
	timeout time.Duration
	now     func() time.Time
}

// SenderOptions configure a Sender.
type SenderOptions struct {
	// Secret signs every message; required.
	Secret Secret
	// Timeout bounds one attempt. Default DefaultTimeout.
	Timeout time.Duration
	// Transport is the HTTP transport; nil uses one with bounded dial,
	// TLS-handshake and header timeouts.
	Transport http.RoundTripper
}

// NewSender returns a Sender.
func NewSender(opts SenderOptions) (*Sender, error) {
	if opts.Secret.IsZero() {
		return nil, errors.New("webhook: a signing secret is required (ROOMCAST_WEBHOOK_SECRET=whsec_…)")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	tr := opts.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 nil, // targets come from configuration; no proxy from the environment
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: opts.Timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       60 * time.Second,
		}
	}
	return &Sender{
		secret:  opts.Secret,
		client:  &http.Client{Transport: tr, Timeout: opts.Timeout, CheckRedirect: noRedirects},
		timeout: opts.Timeout,
		now:     time.Now,
	}, nil
}

// A redirect would send the signed body somewhere configuration never named.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Message is one delivery: its id stays the same across attempts, so that a
// receiver can drop duplicates.
type Message struct {
	ID   string
	URL  string
	Body []byte // JSON
}

// StatusError is a receiver's refusal: an answer outside 2xx.
type StatusError struct {
	Code int
	Body string // the start of the answer
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("webhook: the receiver answered %d", e.Code)
	}
	return fmt.Sprintf("webhook: the receiver answered %d: %s", e.Code, e.Body)
}

// Send makes one attempt: it signs m with the current time and POSTs it.
// A 2xx answer is a delivery; anything else, including a redirect, is an
// error worth retrying.
func (s *Sender) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL, bytes.NewReader(m.Body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	ts := s.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "roomcast-webhook/1")
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, s.secret.Sign(m.ID, ts, m.Body))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: posting to %s: %w", req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Code: resp.StatusCode, Body: string(bytes.TrimSpace(head))}
	}
	return nil
}
