package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/worker"
)

func sinkFactory(w config.Worker, log *slog.Logger) worker.SinkFactory { return worker.SinkFactory{} }

func openLiveKit(_ context.Context, url, token string, log *slog.Logger) (room.Room, error) {
	return nil, errors.New("livekit: not wired yet")
}
