package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/muxer"
	"github.com/roomcast/roomcast/muxer/hls"
	"github.com/roomcast/roomcast/muxer/rtmp"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/worker"
)

// sinkFactory makes the outputs beyond the archive.
func sinkFactory(w config.Worker, log *slog.Logger) worker.SinkFactory {
	return worker.SinkFactory{
		RTMP: func(url string, connect, retry time.Duration) (muxer.Sink, error) {
			return rtmp.New(rtmp.Options{URL: url, CAFile: w.RTMPCAFile, ConnectTimeout: connect, RetryWindow: retry, Logger: log})
		},
		HLSLive: func() (muxer.Sink, http.Handler) {
			l := hls.NewLive(hls.LiveOptions{Variant: w.HLSVariant, Logger: log})
			return l, l
		},
		HLSRecording: func(dir string) muxer.Sink {
			return hls.NewRecorder(hls.RecordOptions{Dir: dir, Logger: log})
		},
	}
}

func openLiveKit(_ context.Context, url, token string, log *slog.Logger) (room.Room, error) {
	return nil, errors.New("livekit: not wired yet")
}
