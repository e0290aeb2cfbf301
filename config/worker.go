package config

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
)

// Worker is how this process runs jobs: not part of the job contract. Its
// settings come from flags and ROOMCAST_* variables, never from a job file,
// so its errors name the flag.
type Worker struct {
	Out  string // the job's output folder
	Fast bool   // file rooms only: run as fast as the CPU allows
	// Trim cuts the spans of a file room in which no peer has media; with
	// Fast only.
	Trim     bool
	HTTPAddr string // roomcast's HTTP server (live HLS)
	// RTMPCAFile is an extra PEM CA bundle for rtmps ingests.
	RTMPCAFile string
	// HLSVariant is "lowLatency" (default), "fmp4" or "mpegts".
	HLSVariant string
	// X264Threads is libx264's thread count; 0 lets x264 choose.
	X264Threads int
	// LogLevel is debug, info, warn or error (slog's names, so "info+2" too);
	// empty lets the CLI choose (info, or warn on a terminal).
	LogLevel string
	// LogFormat is "text" (default) or "json".
	LogFormat string
}

// Worker defaults.
const (
	DefaultHTTPAddr  = "127.0.0.1:8080"
	DefaultLogFormat = "text"
	// MaxX264Threads is x264's own limit (X264_THREAD_MAX); above it x264
	// would clamp silently.
	MaxX264Threads = 128
)

// HLSVariants returns the live HLS variants, the default first: muxer/hls's
// names (its tests hold the two lists equal), written out so that config
// imports no FFmpeg.
func HLSVariants() []string {
	return []string{"lowLatency", "fmp4", "mpegts"}
}

// ApplyDefaults fills what is unset.
func (w *Worker) ApplyDefaults() {
	if w.HTTPAddr == "" {
		w.HTTPAddr = DefaultHTTPAddr
	}
	if w.HLSVariant == "" {
		w.HLSVariant = HLSVariants()[0]
	}
	if w.LogFormat == "" {
		w.LogFormat = DefaultLogFormat
	}
}

// Validate checks every setting and reports every problem at once, as an
// *Error whose problems start with the flag (and variable) to fix. It reads
// the CA file, so that a missing or empty bundle is a usage error before the
// job starts rather than a failed RTMP output later. Call it after
// ApplyDefaults: empty values are not defaults here.
func (w *Worker) Validate() error {
	var p []string
	add := func(setting, format string, a ...any) { p = append(p, setting+": "+fmt.Sprintf(format, a...)) }

	if w.Out != "" {
		if fi, err := os.Stat(w.Out); err == nil && !fi.IsDir() {
			add("--out (ROOMCAST_OUT)", "%q is a file; give a folder (it is created if missing)", w.Out)
		}
	}
	if err := checkListenAddr(w.HTTPAddr); err != nil {
		add("--http (ROOMCAST_HTTP)", "%q %v (for example %s, :8080 or [::1]:8080)", w.HTTPAddr, err, DefaultHTTPAddr)
	}
	if w.RTMPCAFile != "" {
		if err := checkCAFile(w.RTMPCAFile); err != nil {
			add("--rtmp-ca-file (ROOMCAST_RTMP_CA_FILE)", "%v", err)
		}
	}
	if !slices.Contains(HLSVariants(), w.HLSVariant) {
		add("--hls-variant (ROOMCAST_HLS_VARIANT)", "%q is unknown (allowed: %s)", w.HLSVariant, strings.Join(HLSVariants(), ", "))
	}
	if w.Trim && !w.Fast {
		add("--trim", "trims a post-call composition: give --fast too (it applies to file rooms)")
	}
	if w.X264Threads < 0 || w.X264Threads > MaxX264Threads {
		add("--encoder-threads", "%d is out of range (allowed: 0..%d; 0 lets x264 choose)", w.X264Threads, MaxX264Threads)
	}
	if w.LogLevel != "" {
		var lv slog.Level
		if lv.UnmarshalText([]byte(w.LogLevel)) != nil {
			add("--log-level", "%q is not debug, info, warn or error", w.LogLevel)
		}
	}
	if w.LogFormat != "text" && w.LogFormat != "json" {
		add("--log-format", "%q is not text or json", w.LogFormat)
	}
	if len(p) > 0 {
		return &Error{Problems: p, Subject: "worker settings"}
	}
	return nil
}

// checkListenAddr accepts what net.Listen("tcp", addr) can bind without a
// name lookup deciding it: HOST:PORT with a numeric or well-known port.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("is not HOST:PORT")
	}
	if strings.ContainsAny(host, " /?#") {
		return fmt.Errorf("has a bad host %q", host)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return fmt.Errorf("has a bad port %q (allowed: 0..65535)", port)
	}
	return nil
}

// checkCAFile is what the RTMP sink does with the file, minus the system
// pool, so that it fails here and not at the first rtmps connect.
func checkCAFile(path string) error {
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (give a readable PEM file of CA certificates)", err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate (want \"-----BEGIN CERTIFICATE-----\" blocks)", path)
	}
	return nil
}
