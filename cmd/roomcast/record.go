package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/cli"
	"github.com/roomcast/roomcast/room/file"
	"github.com/roomcast/roomcast/worker"
)

type recordFlags struct {
	configFile string
	logLevel   string
	logFormat  string
}

func newRecordCmd() *cobra.Command {
	var f recordFlags
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Record and/or stream a room",
		Long: `Joins a room as a hidden peer, composites every peer and mixes their audio,
encodes once, and writes or streams the result until the room ends, the
duration is reached, or SIGINT/SIGTERM stops it (which finalizes every output).

Settings come from defaults, then --config (YAML or JSON, the job contract's
field names), then ROOMCAST_* environment variables, then flags.

Environment:
` + config.EnvHelp() + `
Exit status: 0 when the job ended as asked; 1 when it failed; 2 for bad
settings.`,
		Example: `  roomcast record --room demo: --record --duration 10s --out out/demo
  roomcast record --room file:testdata/rooms/demo.yaml --record --resolution 1280x720 --fps 30 --duration 10s --out out/demo
  roomcast record --room demo: --record --rtmp rtmp://127.0.0.1/live/KEY
  roomcast record --room demo: --audio-only --record --duration 10s --out out/podcast`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRecord(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.configFile, "config", "", "job config file (YAML or JSON)")
	fl.String("room", "", "the room: livekit://HOST:PORT/ROOM, livekit+https://HOST/ROOM, janus://HOST:PORT/ROOM, janus+https://HOST/PATH/ROOM, file:PATH.yaml or demo:")
	fl.Bool("record", false, "write the archival recording (crash-safe MP4) to OUT/recording.mp4")
	fl.StringArray("rtmp", nil, "stream to this RTMP(S) URL, stream key included (repeat up to 3 times)")
	fl.Bool("hls", false, "serve a live HLS stream on --http")
	fl.Bool("hls-record", false, "write an HLS recording to OUT/hls/")
	fl.String("resolution", "", "output size WxH (default 1280x720; portrait like 720x1280 is fine)")
	fl.Int("fps", 0, "output frame rate (default 30)")
	fl.String("layout", "", "a layout preset: grid (default), speaker, single, screenshare or pip (roomcast layouts lists them)")
	fl.String("layout-file", "", "a layout document, JSON or YAML, Twilio's video_layout included (docs/layouts.md)")
	fl.String("video-bitrate", "", "video bitrate, e.g. 2500k or 2.5M (default scales with resolution)")
	fl.String("audio-bitrate", "", "audio bitrate (default 128k)")
	fl.String("duration", "", "stop after this long, e.g. 10s or 1h (default 4h, the maximum duration)")
	fl.String("empty-room-timeout", "", "stop this long after the last peer left (default 5m)")
	fl.String("rtmp-connect-timeout", "", "bound on each RTMP connect, up to the server's confirmation (default 5s)")
	fl.String("rtmp-retry-window", "", "how long a dropped RTMP URL is retried before it fails (default 60s)")
	fl.String("thumbnails", "", "write a JPEG of the composite this often, e.g. 10s, to OUT/thumbnails/ (with latest.jpg)")
	fl.Bool("audio-only", false, "mix the audio only, with no video decode or encode: OUT/recording.m4a, audio-only RTMP and HLS")
	fl.Bool("tracks", false, "also write each track unchanged to OUT/tracks/ (WebM, H.264 in MP4), with the file room tracks/room.yaml that re-composes it")
	addUploadFlags(fl)
	fl.String("out", "", "the job's output folder (default ./out/<job-id>)")
	fl.String("id", "", "job id (default random)")
	fl.Bool("fast", false, "file and demo rooms: run as fast as the CPU allows, with the same timestamps")
	fl.Bool("trim", false, "with --fast, file rooms: cut the spans in which no peer has media (a post-call composition)")
	fl.String("http", "", "HTTP listen address for live HLS (default "+config.DefaultHTTPAddr+")")
	fl.String("rtmp-ca-file", "", "extra PEM CA bundle to trust for rtmps:// ingests")
	fl.String("hls-variant", "", "live HLS variant: lowLatency (default), fmp4 or mpegts")
	fl.String("token", "", "a ready LiveKit access token (or LIVEKIT_TOKEN; else one is minted from LIVEKIT_API_KEY and LIVEKIT_API_SECRET)")
	fl.Var(envFlag(envJanusPIN), "janus-pin", "the Janus room's PIN (or "+envJanusPIN+")")
	fl.Var(envFlag(envJanusToken), "janus-token", "the Janus API token (or "+envJanusToken+")")
	fl.Int("encoder-threads", 0, "libx264 threads (0: x264 chooses); the benchmark uses 1")
	fl.String("cpu-profile", "", "write a Go CPU profile to this file (for developers)")
	_ = fl.MarkHidden("cpu-profile")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default info; warn on a terminal, where the progress line shows)")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	return cmd
}

// jobFromSources merges defaults, file, environment and flags.
func jobFromSources(cmd *cobra.Command, f recordFlags, environ []string) (config.Job, config.Worker, error) {
	var job config.Job
	var w config.Worker
	if f.configFile != "" {
		if err := config.LoadFile(f.configFile, &job); err != nil {
			return job, w, err
		}
	}
	if err := config.ApplyEnv(environ, &job, &w); err != nil {
		return job, w, err
	}
	fl := cmd.Flags()
	var problems []string
	bad := func(flag string, err error) { problems = append(problems, fmt.Sprintf("--%s: %v", flag, err)) }
	str := func(name string) (string, bool) {
		if !fl.Changed(name) {
			return "", false
		}
		v, _ := fl.GetString(name)
		return v, true
	}
	boolean := func(name string, dst *bool) {
		if fl.Changed(name) {
			*dst, _ = fl.GetBool(name)
		}
	}
	if v, ok := str("room"); ok {
		job.MeetingURL = v
	}
	boolean("record", &job.Record)
	boolean("hls", &job.HLS)
	boolean("hls-record", &job.HLSRecord)
	boolean("tracks", &job.Tracks)
	boolean("audio-only", &job.AudioOnly)
	boolean("fast", &w.Fast)
	boolean("trim", &w.Trim)
	if fl.Changed("rtmp") {
		job.RTMPURLs, _ = fl.GetStringArray("rtmp")
	}
	if v, ok := str("resolution"); ok {
		r, err := config.ParseResolution(v)
		if err != nil {
			bad("resolution", err)
		}
		job.Resolution = r
	}
	if fl.Changed("fps") {
		job.FPS, _ = fl.GetInt("fps")
		if job.FPS <= 0 {
			bad("fps", fmt.Errorf("%d is out of range (allowed: 1..%d)", job.FPS, config.MaxFPS))
		}
	}
	if v, ok := str("layout"); ok {
		job.Layout = config.Layout(v)
	}
	if v, ok := str("layout-file"); ok {
		if fl.Changed("layout") {
			bad("layout-file", fmt.Errorf("give --layout or --layout-file, not both"))
		} else if l, err := layoutFromFile(v); err != nil {
			bad("layout-file", err)
		} else {
			job.Layout = l
		}
	}
	for flag, dst := range map[string]*config.Bitrate{"video-bitrate": &job.VideoBitrate, "audio-bitrate": &job.AudioBitrate} {
		if v, ok := str(flag); ok {
			b, err := config.ParseBitrate(v)
			if err != nil {
				bad(flag, err)
			}
			*dst = b
		}
	}
	for flag, dst := range map[string]*config.Duration{"duration": &job.MaxDuration, "empty-room-timeout": &job.EmptyRoomTimeout,
		"rtmp-connect-timeout": &job.RTMPConnectTimeout, "rtmp-retry-window": &job.RTMPRetryWindow, "thumbnails": &job.Thumbnails} {
		if v, ok := str(flag); ok {
			d, err := config.ParseDuration(v)
			if err != nil {
				bad(flag, err)
			}
			if d <= 0 {
				bad(flag, fmt.Errorf("%s must be positive", v))
			}
			*dst = d
		}
	}
	if err := uploadFromFlags(fl, &job); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			problems = append(problems, ce.Problems...)
		}
	}
	if v, ok := str("out"); ok {
		w.Out = v
	}
	if v, ok := str("id"); ok {
		job.ID = v
	}
	if v, ok := str("http"); ok {
		w.HTTPAddr = v
	}
	if v, ok := str("rtmp-ca-file"); ok {
		w.RTMPCAFile = v
	}
	if v, ok := str("hls-variant"); ok {
		w.HLSVariant = v
	}
	if fl.Changed("encoder-threads") {
		w.X264Threads, _ = fl.GetInt("encoder-threads")
	}
	if f.logLevel != "" {
		w.LogLevel = f.logLevel
	}
	if f.logFormat != "" {
		w.LogFormat = f.logFormat
	}
	if len(problems) > 0 {
		return job, w, &config.Error{Problems: problems}
	}
	job.ApplyDefaults()
	w.ApplyDefaults()
	// Every bad setting at once, the job's and the worker's.
	err := errors.Join(job.Validate(), w.Validate())
	return job, w, err
}

func runRecord(cmd *cobra.Command, f recordFlags) error {
	job, wcfg, err := jobFromSources(cmd, f, os.Environ())
	if err != nil {
		return &exitError{exitUsage, err}
	}
	// A file room's manifest is input like any flag: check it up front, so a
	// bad one is a usage error rather than a failed job.
	if kind, path, _ := config.ParseMeetingURL(job.MeetingURL); kind == config.RoomFile {
		if _, err := file.Load(path); err != nil {
			return &exitError{exitUsage, err}
		}
	}
	if p, _ := cmd.Flags().GetString("cpu-profile"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return &exitError{exitUsage, fmt.Errorf("--cpu-profile: %w", err)}
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return &exitError{exitUsage, fmt.Errorf("--cpu-profile: %w", err)}
		}
		defer pprof.StopCPUProfile()
	}
	tty := isTerminal(os.Stderr)
	prog := newProgress(os.Stderr, tty)
	log, err := newLogger(prog, wcfg.LogLevel, wcfg.LogFormat, tty)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	prog.log = log

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	token, _ := cmd.Flags().GetString("token")
	opts := worker.Options{
		X264Threads: wcfg.X264Threads,
		Out:         wcfg.Out,
		Fast:        wcfg.Fast,
		Logger:      log,
		Open:        roomOpener(roomOptions{token: token, trim: wcfg.Trim}),
		Sinks:       sinkFactory(wcfg, log),
		OnEvent:     func(name string, s worker.State) { logEvent(log, name, s) },
	}
	if job.HLS {
		mux, base, stop, err := serveHTTP(wcfg.HTTPAddr, log)
		if err != nil {
			return &exitError{exitUsage, fmt.Errorf("--http %s: %w", wcfg.HTTPAddr, err)}
		}
		defer stop()
		opts.HTTPMux, opts.HTTPBase = mux, base
	}
	j, err := worker.New(job, opts)
	if err != nil {
		return &exitError{exitUsage, err}
	}
	log.Info("job starting", "id", j.ID(), "room", j.State().Room, "out", j.Out())

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	if err := j.Start(ctx); err != nil {
		return &exitError{exitStatus(err), err}
	}
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	saves := 0
loop:
	for {
		select {
		case s := <-sigs:
			log.Info("stopping", "signal", s.String())
			go func() {
				// A second signal means: stop now. What is written so far
				// stays playable (the MP4 is fragmented).
				s := <-sigs
				prog.clear()
				fmt.Fprintf(os.Stderr, "roomcast: %s again: exiting without finalizing\n", s)
				os.Exit(130)
			}()
			go j.Stop(context.Background())
		case <-ticker.C:
			prog.update(j.State())
			if saves++; saves%4 == 0 {
				j.SaveStatus()
			}
		case <-j.Done():
			break loop
		}
	}
	st := j.State()
	prog.done(st)
	if err := j.Err(); err != nil {
		return &exitError{exitStatus(err), err}
	}
	if job.Record {
		fmt.Fprintf(os.Stdout, "recording: %s\n", j.Out()+"/"+st.Recording.Path)
	}
	if job.HLSRecord {
		fmt.Fprintf(os.Stdout, "hls recording: %s\n", j.Out()+"/hls/index.m3u8")
	}
	fmt.Fprintf(os.Stdout, "status: %s\n", j.Out()+"/status.json")
	return nil
}

// exitStatus is the exit status of a job that could not start or failed: a
// bad setting is a usage error (2) wherever it was found, config's checks or
// the job's own (the worker keeps the cause), any other failure is 1.
func exitStatus(err error) int {
	var ce *config.Error
	if errors.As(err, &ce) {
		return exitUsage
	}
	var we *worker.Error
	if errors.As(err, &we) && we.Code == worker.CodeInvalidConfig {
		return exitUsage
	}
	return exitFailed
}

func logEvent(log *slog.Logger, name string, s worker.State) {
	log.Info(name, "state", s.State, "recording", s.Recording.Running, "rtmp", s.RTMPStreaming.Running,
		"hls", s.HLSStreaming.Running, "hlsRecording", s.HLSRecording.Running, "peers", s.Peers)
}

// newLogger is the CLI's logger (internal/cli).
func newLogger(w io.Writer, level, format string, tty bool) (*slog.Logger, error) {
	return cli.NewLogger(w, level, format, tty)
}

// serveHTTP starts record's HTTP server for live HLS.
func serveHTTP(addr string, log *slog.Logger) (*http.ServeMux, string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", nil, err
	}
	mux, stop := serveOn(ln, log)
	return mux, "http://" + ln.Addr().String(), stop, nil
}

// serveOn serves a new mux on ln until stop is called.
func serveOn(ln net.Listener, log *slog.Logger) (*http.ServeMux, func()) {
	mux := http.NewServeMux()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return mux, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}
