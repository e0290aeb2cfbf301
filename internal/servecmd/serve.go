package servecmd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	roomcast "github.com/roomcast/roomcast"
	"github.com/roomcast/roomcast/internal/cli"
	"github.com/roomcast/roomcast/worker/api"
	"github.com/roomcast/roomcast/worker/fleet"
	"github.com/roomcast/roomcast/worker/metrics"
	"github.com/roomcast/roomcast/worker/runner"
	"github.com/roomcast/roomcast/worker/service"
	"github.com/roomcast/roomcast/worker/store"
	"github.com/roomcast/roomcast/worker/webhook"
)

type serveFlags struct {
	listen, data, tokensFile, nats, roomsDir string
	node, publicURL                          string
	tlsCert, tlsKey                          string
	natsReplicas                             int
	webhooks                                 []string
	webhookBackoff                           string
	capacity                                 float64
	grace                                    time.Duration
	metricsPublic                            bool
	logLevel, logFormat                      string
	jobBinary                                string
}

// New returns the serve command. jobBinary is the roomcast executable that
// runs each job (its hidden job-child command); "" is this executable.
func New(jobBinary string) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the job service: the HTTP API a backend calls",
		Long: `Runs jobs for backends over HTTP (docs/api.md, docs/openapi.json): start, stop,
control and watch them, read their state and fetch their files. Each job runs
in a child process, so a crash fails that job only. Jobs, events and webhook
deliveries are kept in NATS JetStream: embedded, under --data, or an existing
cluster with --nats. With --tls-cert and --tls-key it serves HTTPS only.

With --nats, serve is one node (--node) of a fleet: every node takes every
call, a job is placed on the node with the most free CPU, and the jobs of a
node that dies continue on another within seconds, in a new part
(recording.part2.mp4, …). roomcast nodes lists the fleet; roomcast drain
NODE stops a node taking jobs.

Environment:
  ROOMCAST_API_TOKENS       bearer tokens, comma-separated (or --api-tokens-file)
  ROOMCAST_WEBHOOK_SECRET   whsec_… secret that signs webhooks (Standard Webhooks)

On SIGTERM or SIGINT it stops admitting jobs, stops the running ones with
their outputs finalized, flushes webhooks, and exits within --grace.`,
		Example: `  ROOMCAST_API_TOKENS=s3cret roomcast serve --listen 127.0.0.1:8080 --data ./var/roomcast`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8080", "HTTP listen address")
	fl.StringVar(&f.data, "data", "", "the service's folder: jobs' outputs and the embedded store (required)")
	fl.StringVar(&f.tokensFile, "api-tokens-file", "", "file of bearer tokens, one per line (with or instead of ROOMCAST_API_TOKENS)")
	fl.StringArrayVar(&f.webhooks, "webhook", nil, "POST every event to this URL (repeatable)")
	fl.StringVar(&f.webhookBackoff, "webhook-retries", "1s,3s,10s", "waits before each retry of a failed webhook")
	fl.StringVar(&f.nats, "nats", "", "an existing NATS cluster, nats://HOST:PORT[,…] (default: embedded); makes this serve a node of a fleet")
	fl.StringVar(&f.publicURL, "public-url", "", "the URL clients reach this node at, for the live HLS URLs in job states (default http://LISTEN, https:// with --tls-cert)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain), with --tls-key")
	fl.StringVar(&f.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	fl.StringVar(&f.node, "node", "", "this node's name in the fleet, unique (default: the host name); with --nats")
	fl.IntVar(&f.natsReplicas, "nats-replicas", 0, "copies of each bucket and stream in the cluster (default: as many servers as it has, up to 3)")
	fl.StringVar(&f.roomsDir, "rooms-dir", "", "file: rooms given through the API must lie in this folder")
	fl.Float64Var(&f.capacity, "capacity", 0, "CPU cores admission may plan with (default: this machine's)")
	fl.DurationVar(&f.grace, "grace", 30*time.Second, "how long a SIGTERM may take, jobs' finalization included")
	fl.BoolVar(&f.metricsPublic, "metrics-public", false, "serve /metrics without a token")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "json", "json or text")
	fl.StringVar(&f.jobBinary, "job-binary", jobBinary, "the roomcast executable that runs each job")
	return cmd
}

func runServe(cmd *cobra.Command, f serveFlags) error {
	log, err := cli.NewLogger(cmd.ErrOrStderr(), f.logLevel, f.logFormat, false)
	if err != nil {
		return cli.Usage("%v", err)
	}
	if f.data == "" {
		return cli.Usage("--data: the service needs a folder for its jobs and store (for example --data ./var/roomcast)")
	}
	tokens, err := api.ParseTokens(os.Getenv("ROOMCAST_API_TOKENS"))
	if err != nil {
		return cli.Usage("ROOMCAST_API_TOKENS: %v", err)
	}
	if f.tokensFile != "" {
		ft, err := api.LoadTokens(f.tokensFile)
		if err != nil {
			return cli.Usage("--%v", err)
		}
		tokens = tokens.Merge(ft)
	}
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return cli.Usage("--listen %q: want HOST:PORT (%v)", f.listen, err)
	}
	if ip := net.ParseIP(host); tokens.Len() == 0 && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		return cli.Usage("--listen %s: listening beyond loopback needs API tokens (ROOMCAST_API_TOKENS or --api-tokens-file)", f.listen)
	}
	tlsConf, err := loadTLS(f.tlsCert, f.tlsKey)
	if err != nil {
		return cli.Usage("%v", err)
	}
	backoff, err := parseBackoff(f.webhookBackoff)
	if err != nil {
		return cli.Usage("--webhook-retries: %v", err)
	}
	var deliver func(ctx context.Context, id, url string, body []byte) error
	if len(f.webhooks) > 0 {
		for _, u := range f.webhooks {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return cli.Usage("--webhook %q: want an http:// or https:// URL", u)
			}
		}
		secret, err := webhook.ParseSecret(os.Getenv("ROOMCAST_WEBHOOK_SECRET"))
		if err != nil {
			return cli.Usage("ROOMCAST_WEBHOOK_SECRET: %v", err)
		}
		sender, err := webhook.NewSender(webhook.SenderOptions{Secret: secret})
		if err != nil {
			return cli.Usage("%v", err)
		}
		deliver = func(ctx context.Context, id, url string, body []byte) error {
			return sender.Send(ctx, webhook.Message{ID: id, URL: url, Body: body})
		}
	}
	exe := f.jobBinary
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("serve: finding this executable for the jobs' processes: %w", err)
		}
	}
	data, err := filepath.Abs(f.data)
	if err != nil {
		return cli.Usage("--data: %v", err)
	}

	// Listening first: the jobs' live HLS URLs are under its address.
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return cli.Usage("--listen %s: %v", f.listen, err)
	}
	defer ln.Close()
	scheme := "http://"
	if tlsConf != nil {
		scheme = "https://"
	}
	publicURL := scheme + ln.Addr().String()
	if f.publicURL != "" {
		u, err := url.Parse(f.publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return cli.Usage("--public-url %q: want http://HOST[:PORT] or https://HOST[:PORT], the address clients reach this node at", f.publicURL)
		}
		publicURL = strings.TrimSuffix(f.publicURL, "/")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	scfg := store.Config{Dir: filepath.Join(data, "nats"), Backoff: backoff, Logger: log}
	node := ""
	if f.nats != "" {
		scfg.URLs = strings.Split(f.nats, ",")
		scfg.Replicas = store.AutoReplicas
		if f.natsReplicas > 0 {
			scfg.Replicas = f.natsReplicas
		}
		if node, err = nodeName(f.node); err != nil {
			return cli.Usage("--node: %v", err)
		}
	} else if f.node != "" || f.natsReplicas != 0 {
		return cli.Usage("--node and --nats-replicas name a fleet's node: give --nats too")
	}
	st, err := store.Open(ctx, scfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer st.Close()
	var fl service.Fleet
	if node != "" {
		fo, err := fleet.Open(ctx, st.Conn(), fleet.Options{Node: node, Replicas: st.Replicas(), Logger: log})
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer fo.Close()
		fl = fo
		log = log.With("node", node)
	}
	child := []string{exe, "job-child", "--log-level", f.logLevel, "--log-format", f.logFormat}
	if f.roomsDir != "" {
		// The API confines the manifest to the folder; the job's
		// process confines the media the manifest names.
		dir, err := filepath.Abs(f.roomsDir)
		if err != nil {
			return cli.Usage("--rooms-dir: %v", err)
		}
		child = append(child, "--rooms-dir", dir)
	}
	svc, err := service.New(ctx, service.Options{
		Fleet: fl,
		Store: st,
		Runner: service.ProcessRunner{Options: runner.Options{
			Command:  child,
			Env:      jobEnv(os.Environ()),
			Stderr:   cmd.ErrOrStderr(),
			Logger:   log,
			HTTPBase: publicURL,
		}},
		Data:     data,
		RoomsDir: f.roomsDir,
		Capacity: service.Capacity(f.capacity),
		Webhooks: f.webhooks,
		Deliver:  deliver,
		Logger:   log,
	})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	handler := api.New(api.Options{
		Service: svc, Tokens: tokens, OpenAPI: roomcast.OpenAPI(), Logger: log,
		Metrics: metrics.Handler(svc, log.With("component", "metrics")), MetricsPublic: f.metricsPublic,
	})
	srv := &http.Server{
		Addr:              f.listen,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      90 * time.Second, // a stop with ?wait=true finalizes every output; SSE sets its own per write
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConf,
	}
	log.Info("serving", "listen", ln.Addr().String(), "url", publicURL, "tls", tlsConf != nil, "data", data, "tokens", tokens.Len(), "webhooks", len(f.webhooks))
	served := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			// The certificate comes from TLSConfig; ServeTLS adds HTTP/2.
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stop()
	log.Info("shutting down", "grace", f.grace)
	gctx, cancel := context.WithTimeout(context.Background(), f.grace)
	defer cancel()
	serr := svc.Shutdown(gctx)
	herr := srv.Shutdown(gctx)
	if errors.Is(herr, context.DeadlineExceeded) {
		_ = srv.Close()
	}
	if err := errors.Join(serr, herr); err != nil {
		log.Warn("shutdown was not clean", "err", err)
	}
	log.Info("stopped")
	return nil
}

// loadTLS reads --tls-cert and --tls-key, both or neither; nil is plain
// HTTP. Reading them here, before anything starts, makes a bad file a usage
// error naming its flag rather than a listener that fails each handshake.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case keyFile == "":
		return nil, fmt.Errorf("--tls-cert %s needs --tls-key: the certificate's private key, PEM", certFile)
	case certFile == "":
		return nil, fmt.Errorf("--tls-key %s needs --tls-cert: the certificate (chain) it belongs to, PEM", keyFile)
	}
	for _, fp := range [][2]string{{"--tls-cert", certFile}, {"--tls-key", keyFile}} {
		if _, err := os.Stat(fp[1]); err != nil {
			return nil, fmt.Errorf("%s: %w", fp[0], err)
		}
	}
	cr := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := cr.load(); err != nil {
		return nil, err
	}
	return &tls.Config{GetCertificate: cr.get, MinVersion: tls.VersionTLS12}, nil
}

// certReloader serves the certificate in its files, read again when
// either file changes: a renewed certificate needs no restart. A renewal
// that does not load (half written, a key of another certificate) keeps
// the one before.
type certReloader struct {
	certFile, keyFile string

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string // both files' sizes and modification times
	lastCheck time.Time
}

func (c *certReloader) fileStamp() string {
	var b strings.Builder
	for _, p := range []string{c.certFile, c.keyFile} {
		if fi, err := os.Stat(p); err == nil {
			fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return b.String()
}

func (c *certReloader) load() error {
	stamp := c.fileStamp()
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w (want a PEM certificate and its PEM private key)", c.certFile, c.keyFile, err)
	}
	c.cert, c.stamp = &cert, stamp
	return nil
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// At most one look at the files a second, however many handshakes.
	if now := time.Now(); now.Sub(c.lastCheck) >= time.Second {
		c.lastCheck = now
		if c.fileStamp() != c.stamp {
			_ = c.load() // on failure the previous certificate stays
		}
	}
	return c.cert, nil
}

// jobEnv is a job process's environment: serve's, less the API tokens and
// the webhook secret, which only serve uses. A job keeps its room's
// credentials (LIVEKIT_*, JANUS_*).
func jobEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "ROOMCAST_API_TOKENS=") && !strings.HasPrefix(kv, "ROOMCAST_WEBHOOK_SECRET=") {
			out = append(out, kv)
		}
	}
	return out
}

func parseBackoff(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, p := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q: want durations such as 1s,3s,10s", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// nodeName is the node's name: the flag's, or the host's made fit for one.
func nodeName(flag string) (string, error) {
	if flag != "" {
		return flag, fleet.CheckName(flag)
	}
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("no host name (%v): give --node NAME", err)
	}
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	name := string(b[:min(len(b), 64)])
	if err := fleet.CheckName(name); err != nil {
		return "", fmt.Errorf("the host name %q does not make a node name: give --node NAME", h)
	}
	return name, nil
}
