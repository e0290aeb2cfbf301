package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roomcast/roomcast/internal/rtmptest"
)

func TestWorkerValidate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := rtmptest.NewTLS(t)
	notDir := write("out-file", "x")
	notPEM := write("ca.txt", "not a certificate\n")

	for _, tc := range []struct {
		name   string
		mutate func(*Worker)
		want   []string // substrings of the error; nil means valid
	}{
		{"defaults", func(*Worker) {}, nil},
		{"everything set", func(w *Worker) {
			*w = Worker{Out: dir, Fast: true, HTTPAddr: "[::1]:0", RTMPCAFile: ca.CAFile, HLSVariant: "mpegts",
				X264Threads: 4, LogLevel: "debug", LogFormat: "json"}
		}, nil},
		{"out missing is fine", func(w *Worker) { w.Out = filepath.Join(dir, "new", "job") }, nil},
		{"out is a file", func(w *Worker) { w.Out = notDir }, []string{"--out (ROOMCAST_OUT)", "is a file; give a folder"}},
		{"http all interfaces", func(w *Worker) { w.HTTPAddr = ":8080" }, nil},
		{"http service name", func(w *Worker) { w.HTTPAddr = "localhost:http" }, nil},
		{"http no port", func(w *Worker) { w.HTTPAddr = "127.0.0.1" }, []string{"--http (ROOMCAST_HTTP)", `"127.0.0.1" is not HOST:PORT`, "for example 127.0.0.1:8080"}},
		{"http bad port", func(w *Worker) { w.HTTPAddr = "127.0.0.1:99999" }, []string{"--http", `bad port "99999"`, "0..65535"}},
		{"http empty port", func(w *Worker) { w.HTTPAddr = "127.0.0.1:" }, []string{"--http", `bad port ""`}},
		{"http bad host", func(w *Worker) { w.HTTPAddr = "http://x:80" }, []string{"--http", "is not HOST:PORT"}},
		{"ca missing", func(w *Worker) { w.RTMPCAFile = filepath.Join(dir, "nope.pem") }, []string{"--rtmp-ca-file (ROOMCAST_RTMP_CA_FILE)", "no such file", "readable PEM file"}},
		{"ca not pem", func(w *Worker) { w.RTMPCAFile = notPEM }, []string{"--rtmp-ca-file", "holds no PEM certificate"}},
		{"variant", func(w *Worker) { w.HLSVariant = "foo" }, []string{"--hls-variant (ROOMCAST_HLS_VARIANT)", `"foo" is unknown`, "lowLatency, fmp4, mpegts"}},
		{"variant case", func(w *Worker) { w.HLSVariant = "LowLatency" }, []string{"--hls-variant"}},
		{"threads negative", func(w *Worker) { w.X264Threads = -1 }, []string{"--encoder-threads", "-1 is out of range", "0..128"}},
		{"threads many", func(w *Worker) { w.X264Threads = 129 }, []string{"--encoder-threads", "129"}},
		{"threads max", func(w *Worker) { w.X264Threads = MaxX264Threads }, nil},
		{"log level", func(w *Worker) { w.LogLevel = "loud" }, []string{"--log-level", `"loud" is not debug, info, warn or error`}},
		{"log level slog form", func(w *Worker) { w.LogLevel = "WARN+1" }, nil},
		{"log format", func(w *Worker) { w.LogFormat = "xml" }, []string{"--log-format", `"xml" is not text or json`}},
		{"all at once", func(w *Worker) { w.HLSVariant, w.LogFormat, w.X264Threads = "x", "y", -2 },
			[]string{"invalid worker settings:\n  - --hls-variant", "\n  - --encoder-threads", "\n  - --log-format"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w Worker
			w.ApplyDefaults()
			tc.mutate(&w)
			err := w.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %T %v; want an *Error with %q", err, err, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, p := range ce.Problems {
				if !strings.HasPrefix(p, "--") {
					t.Errorf("problem %q does not start with its flag", p)
				}
			}
		})
	}
}

func TestWorkerDefaults(t *testing.T) {
	var w Worker
	w.ApplyDefaults()
	if w.HTTPAddr != DefaultHTTPAddr || w.HLSVariant != "lowLatency" || w.LogFormat != "text" || w.LogLevel != "" || w.X264Threads != 0 {
		t.Fatalf("defaults: %+v", w)
	}
	set := Worker{HTTPAddr: ":9000", HLSVariant: "fmp4", LogFormat: "json"}
	got := set
	got.ApplyDefaults()
	if got != set {
		t.Fatalf("ApplyDefaults changed set values: %+v", got)
	}
}
