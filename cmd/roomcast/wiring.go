package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/muxer/hls"
	"github.com/roomcast/roomcast/muxer/output"
	"github.com/roomcast/roomcast/muxer/rtmp"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/livekit"
	"github.com/roomcast/roomcast/worker"
)

// sinkFactory makes the outputs beyond the archive.
func sinkFactory(w config.Worker, log *slog.Logger) worker.SinkFactory {
	return worker.SinkFactory{
		RTMP: func(url string, connect, retry time.Duration) (output.Sink, error) {
			return rtmp.New(rtmp.Options{URL: url, CAFile: w.RTMPCAFile, ConnectTimeout: connect, RetryWindow: retry, Logger: log})
		},
		HLSLive: func() (output.Sink, http.Handler) {
			l := hls.NewLive(hls.LiveOptions{Variant: w.HLSVariant, Logger: log})
			return l, l
		},
		HLSRecording: func(dir string) output.Sink {
			return hls.NewRecorder(hls.RecordOptions{Dir: dir, Logger: log})
		},
	}
}

// openLiveKit joins a LiveKit room as a hidden recorder, with a ready token
// (--token or LIVEKIT_TOKEN) or one minted from LIVEKIT_API_KEY and
// LIVEKIT_API_SECRET.
func openLiveKit(_ context.Context, url, token string, log *slog.Logger) (room.Room, error) {
	if token == "" {
		token = os.Getenv("LIVEKIT_TOKEN")
	}
	return livekit.New(livekit.Options{
		URL:       url,
		Token:     token,
		APIKey:    os.Getenv("LIVEKIT_API_KEY"),
		APISecret: os.Getenv("LIVEKIT_API_SECRET"),
		Logger:    log,
		// Output keeps flowing (last frames, silence) while the connection
		// is retried for this long; then the job stops with the reason.
		ReconnectTimeout: 60 * time.Second,
	})
}
