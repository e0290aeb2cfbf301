package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Standard Webhooks specification's published example.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheSpecificationsVector(t *testing.T) {
	s, err := ParseSecret(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Sign(specID, time.Unix(specTimestamp, 0), []byte(specBody)); got != specSignature {
		t.Fatalf("Sign = %s, want %s", got, specSignature)
	}
}

func TestParseSecret(t *testing.T) {
	for _, tc := range []struct {
		in, wantErr string
	}{
		{specSecret, ""},
		{"  " + specSecret + "\n", ""},
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with whsec_"},
		{"whsec_not*base64", "not valid base64"},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 16)), "needs at least 24"},
		{"", "must start with whsec_"},
	} {
		s, err := ParseSecret(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseSecret(%q): %v", tc.in, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseSecret(%q) = %v, want an error with %q", tc.in, err, tc.wantErr)
		case err == nil && strings.Contains(fmt.Sprint(s), "MfKQ"):
			t.Errorf("Secret prints its key: %v", s)
		}
	}
}

// receiver verifies messages as a third party would, from the
// specification's text alone: it shares no code with the package.
type receiver struct {
	key  []byte
	mu   sync.Mutex
	got  []http.Header
	body [][]byte
	fail int // answer 503 to this many requests first
}

func newReceiver(t testing.TB, secret string) *receiver {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return &receiver{key: key}
}

func (rc *receiver) verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing header")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %v", ts, err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("timestamp %s is %s away", ts, d)
	}
	mac := hmac.New(sha256.New, rc.key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no valid v1 signature")
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := rc.verify(r.Header, body, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	rc.got = append(rc.got, r.Header.Clone())
	rc.body = append(rc.body, body)
}

func TestReceiverAcceptsTheSpecificationsVector(t *testing.T) {
	rc := newReceiver(t, specSecret)
	h := http.Header{}
	h.Set("webhook-id", specID)
	h.Set("webhook-timestamp", strconv.Itoa(specTimestamp))
	h.Set("webhook-signature", "v1,bm9wZQ== "+specSignature)
	if err := rc.verify(h, []byte(specBody), time.Unix(specTimestamp, 0)); err != nil {
		t.Fatalf("the independent receiver rejects the published vector: %v", err)
	}
	h.Set("webhook-signature", "v1,bm9wZQ==")
	if err := rc.verify(h, []byte(specBody), time.Unix(specTimestamp, 0)); err == nil {
		t.Fatal("the independent receiver accepts a wrong signature")
	}
}

func TestSendIsVerifiedByAnIndependentReceiver(t *testing.T) {
	rc := newReceiver(t, specSecret)
	srv := httptest.NewServer(rc)
	defer srv.Close()
	secret, _ := ParseSecret(specSecret)
	s, err := NewSender(SenderOptions{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"recordingStateUpdated","timestamp":"2026-12-02T01:00:00Z","data":{"id":"j1"}}`)
	if err := s.Send(context.Background(), Message{ID: "evt_1", URL: srv.URL + "/hooks", Body: body}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(rc.got) != 1 || string(rc.body[0]) != string(body) {
		t.Fatalf("receiver got %d messages (%q)", len(rc.got), rc.body)
	}
	if ct := rc.got[0].Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if id := rc.got[0].Get("webhook-id"); id != "evt_1" {
		t.Errorf("webhook-id = %q, want evt_1", id)
	}

	// A wrong key is refused by the receiver: the test can fail.
	other, _ := ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of thirty-two bytes!")))
	bad, _ := NewSender(SenderOptions{Secret: other})
	var se *StatusError
	if err := bad.Send(context.Background(), Message{ID: "evt_2", URL: srv.URL, Body: body}); !errors.As(err, &se) || se.Code != http.StatusUnauthorized {
		t.Fatalf("Send with another key = %v, want a 401 StatusError", err)
	}
}

func TestSendErrors(t *testing.T) {
	secret, _ := ParseSecret(specSecret)
	s, _ := NewSender(SenderOptions{Secret: secret, Timeout: 300 * time.Millisecond})

	rc := newReceiver(t, specSecret)
	rc.fail = 1
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var se *StatusError
	if err := s.Send(context.Background(), Message{ID: "a", URL: srv.URL, Body: []byte(`{}`)}); !errors.As(err, &se) || se.Code != 503 || !strings.Contains(se.Error(), "try later") {
		t.Fatalf("first Send = %v, want 503 with the receiver's text", err)
	}
	if err := s.Send(context.Background(), Message{ID: "a", URL: srv.URL, Body: []byte(`{}`)}); err != nil {
		t.Fatalf("retry: %v", err)
	}

	redirect := httptest.NewServer(http.RedirectHandler(srv.URL, http.StatusFound))
	defer redirect.Close()
	if err := s.Send(context.Background(), Message{ID: "b", URL: redirect.URL, Body: []byte(`{}`)}); !errors.As(err, &se) || se.Code != http.StatusFound {
		t.Fatalf("Send to a redirect = %v, want a 302 StatusError (redirects are not followed)", err)
	}

	stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer stall.Close()
	start := time.Now()
	if err := s.Send(context.Background(), Message{ID: "c", URL: stall.URL, Body: []byte(`{}`)}); err == nil {
		t.Fatal("Send to a silent receiver succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send to a silent receiver took %s; the timeout is 300 ms", d)
	}

	if _, err := NewSender(SenderOptions{}); err == nil {
		t.Fatal("NewSender without a secret succeeded")
	}
}

// FuzzSign: whatever the id, time and body, the independent receiver
// accepts the signature, and refuses it once one byte of the body, or the
// id, differs.
func FuzzSign(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`), 0)
	f.Add("evt_1_0", int64(0), []byte{}, 3)
	f.Add("", int64(-1), []byte("\x00\xff.."), 1)
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	s, err := ParseSecret(secret)
	if err != nil {
		f.Fatal(err)
	}
	rc := newReceiver(f, secret)
	f.Fuzz(func(t *testing.T, id string, unix int64, body []byte, flip int) {
		if id == "" || strings.ContainsAny(id, "\r\n\x00") || strings.TrimSpace(id) != id {
			return // not a header value: the service's ids are evt_SEQ_N
		}
		ts := time.Unix(unix, 0)
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", strconv.FormatInt(unix, 10))
		h.Set("webhook-signature", s.Sign(id, ts, body))
		if err := rc.verify(h, body, ts); err != nil {
			t.Fatalf("the receiver refuses a signed message: %v", err)
		}
		if len(body) > 0 {
			bad := bytes.Clone(body)
			bad[(flip%len(bad)+len(bad))%len(bad)] ^= 0x01
			if rc.verify(h, bad, ts) == nil {
				t.Fatalf("a changed body still verifies")
			}
		}
		h.Set("webhook-id", id+"x")
		if rc.verify(h, body, ts) == nil {
			t.Fatalf("a changed id still verifies")
		}
	})
}
