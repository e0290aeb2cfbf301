package rtmp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestValidateURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
		wantErr   string // substring; "" means valid
		addr      string
		app, key  string
	}{
		{name: "youtube", url: "rtmp://a.rtmp.youtube.com/live2/" + testKey,
			addr: "a.rtmp.youtube.com:1935", app: "live2", key: testKey},
		{name: "facebook rtmps", url: "rtmps://live-api-s.facebook.com:443/rtmp/" + testKey,
			addr: "live-api-s.facebook.com:443", app: "rtmp", key: testKey},
		{name: "rtmps default port 443", url: "rtmps://ingest.example/app/" + testKey,
			addr: "ingest.example:443", app: "app", key: testKey},
		{name: "explicit port", url: "rtmp://127.0.0.1:19350/live/" + testKey,
			addr: "127.0.0.1:19350", app: "live", key: testKey},
		{name: "app with several elements, key last", url: "rtmp://h.example/a/b/c/" + testKey,
			addr: "h.example:1935", app: "a/b/c", key: testKey},
		{name: "query belongs to the key", url: "rtmp://h.example/app/" + testKey + "?token=abc",
			addr: "h.example:1935", app: "app", key: testKey + "?token=abc"},
		{name: "trailing slash", url: "rtmp://h.example/app/" + testKey + "/",
			addr: "h.example:1935", app: "app", key: testKey},
		{name: "upper-case scheme", url: "RTMP://h.example/app/" + testKey,
			addr: "h.example:1935", app: "app", key: testKey},
		{name: "ipv6 host", url: "rtmp://[::1]:1935/app/" + testKey,
			addr: "[::1]:1935", app: "app", key: testKey},

		{name: "empty", url: "", wantErr: "empty"},
		{name: "bad scheme", url: "http://h.example/app/" + testKey, wantErr: `unsupported scheme "http"`},
		{name: "srt scheme", url: "srt://h.example/app/" + testKey, wantErr: "unsupported scheme"},
		{name: "no scheme", url: "h.example/app/" + testKey, wantErr: "missing scheme"},
		{name: "no host", url: "rtmp:///app/" + testKey, wantErr: "missing host"},
		{name: "no slashes", url: "rtmp:h.example/app/" + testKey, wantErr: "missing //"},
		{name: "no app and no key", url: "rtmp://h.example", wantErr: "missing application and stream key"},
		{name: "no app and no key, slash", url: "rtmp://h.example/", wantErr: "missing application and stream key"},
		{name: "no key", url: "rtmp://h.example/live", wantErr: "missing stream key"},
		{name: "no key, trailing slash", url: "rtmp://h.example/live/", wantErr: "missing stream key"},
		{name: "empty app element", url: "rtmp://h.example//" + testKey, wantErr: "missing stream key"},
		{name: "empty inner element", url: "rtmp://h.example/a//b/" + testKey, wantErr: "empty element"},
		{name: "bad port", url: "rtmp://h.example:99999/app/" + testKey, wantErr: "invalid port"},
		{name: "empty port", url: "rtmp://h.example:/app/" + testKey, wantErr: "empty port"},
		{name: "credentials", url: "rtmp://user:" + testKey + "@h.example/app/x", wantErr: "credentials"},
		{name: "unparsable", url: "rtmp://h.example/app/" + testKey + "%zz", wantErr: "not a valid URL"},
		{name: "control character", url: "rtmp://h.example/app/\x7f" + testKey, wantErr: "not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateURL(tt.url)
			checkNoKey(t, err)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ValidateURL(%q) = %v, want error containing %q", MaskURL(tt.url), err, tt.wantErr)
				}
				if _, err := New(Options{URL: tt.url}); err == nil {
					t.Errorf("New accepted an invalid URL")
				}
				return
			}
			if err != nil {
				t.Fatalf("ValidateURL: %v", err)
			}
			tg, _ := parseURL(tt.url)
			if tg.addr != tt.addr || tg.app != tt.app || tg.key != tt.key {
				t.Errorf("parsed addr %q app %q key %q, want %q %q %q", tg.addr, tg.app, tg.key, tt.addr, tt.app, tt.key)
			}
			if strings.Contains(tg.tcURL, testKey) || strings.Contains(tg.masked, testKey) {
				t.Errorf("tcUrl %q / masked %q hold the key", tg.tcURL, tg.masked)
			}
		})
	}
}

func TestMaskURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"rtmp://a.rtmp.youtube.com/live2/" + testKey, "rtmp://a.rtmp.youtube.com/live2/****"},
		{"rtmps://live-api-s.facebook.com:443/rtmp/" + testKey, "rtmps://live-api-s.facebook.com:443/rtmp/****"},
		{"rtmp://h/a/b/" + testKey, "rtmp://h/a/b/****"},
		{"rtmp://h/app/" + testKey + "?x=1", "rtmp://h/app/****"},
		{"rtmp://h/app/" + testKey + "/", "rtmp://h/app/****"},
		{"rtmp://h/" + testKey, "rtmp://h/****"},
		{"rtmp://h?" + testKey, "rtmp://h/****"},
		{"rtmp://h", "rtmp://h"},
		{"rtmp://u:" + testKey + "@h/app/k", "rtmp://****@h/app/****"},
		{"rtmp://h/app/" + testKey + "%zz", "rtmp://h/app/****"},
		{"garbage " + testKey, "****"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MaskURL(tt.in); got != tt.want {
			t.Errorf("MaskURL(...) = %q, want %q", got, tt.want)
		}
	}
}

// TestRedact checks the masking of text the package did not write: library
// errors that quote the URL, escaped keys, server messages.
func TestRedact(t *testing.T) {
	t.Parallel()
	raw := "rtmp://h.example/app/" + testKey + "?tok=s3cr3tt0ken"
	tg, err := parseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	r := newRedactor(raw, tg)
	//lint:ignore SA1007 the invalid escape is the point: url.Parse quotes the key in its error
	_, urlErr := url.Parse("rtmp://h.example/app/" + testKey + "%zz")
	cases := []error{
		fmt.Errorf("dial %s: refused", raw),
		&url.Error{Op: "Get", URL: raw, Err: context.DeadlineExceeded},
		urlErr,
		errors.New("server says: stream " + testKey + " is not live"),
		errors.New("escaped " + url.QueryEscape(testKey) + " and token s3cr3tt0ken"),
	}
	for _, c := range cases {
		got := r.err(c)
		if s := got.Error(); strings.Contains(s, testKey) || strings.Contains(s, "s3cr3tt0ken") {
			t.Errorf("redacted %q still holds a secret", s)
		}
	}
	if !errors.Is(r.err(cases[1]), context.DeadlineExceeded) {
		t.Errorf("errors.Is lost through redaction")
	}
	if got := r.err(cases[0]).Error(); got != "dial rtmp://h.example/app/****: refused" {
		t.Errorf("URL not replaced by its masked form: %q", got)
	}
}
