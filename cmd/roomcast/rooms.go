package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	roomcast "github.com/roomcast/roomcast"
	"github.com/roomcast/roomcast/config"
	"github.com/roomcast/roomcast/internal/mediaclock"
	"github.com/roomcast/roomcast/room"
	"github.com/roomcast/roomcast/room/file"
	"github.com/roomcast/roomcast/room/janus"
	"github.com/roomcast/roomcast/worker"
)

// roomOptions are the connectors' settings from the command line.
type roomOptions struct {
	token string // a ready LiveKit token, if one was given
	trim  bool   // file rooms: cut the spans without media (--trim)
	root  string // file rooms: their media must lie in this folder (serve's --rooms-dir)
}

// roomOpener picks the connector from the meetingUrl's scheme.
func roomOpener(o roomOptions) worker.RoomOpener {
	return func(ctx context.Context, meetingURL string, clk mediaclock.Clock, log *slog.Logger) (room.Room, error) {
		return openRoom(ctx, meetingURL, o, clk, log)
	}
}

func openRoom(ctx context.Context, meetingURL string, o roomOptions, clk mediaclock.Clock, log *slog.Logger) (room.Room, error) {
	kind, rest, err := config.ParseMeetingURL(meetingURL)
	if err != nil {
		return nil, err
	}
	switch kind {
	case config.RoomDemo:
		dir, err := extractDemo()
		if err != nil {
			return nil, err
		}
		r, err := file.Open(filepath.Join(dir, "rooms", "demo.yaml"), file.Options{Clock: clk, Logger: log})
		if err != nil {
			return nil, err
		}
		return &cleanupRoom{Room: r, cleanup: func() { os.RemoveAll(dir) }}, nil
	case config.RoomFile:
		return file.Open(rest, file.Options{Clock: clk, Logger: log, Trim: o.trim, Root: o.root})
	case config.RoomLiveKit:
		return openLiveKit(ctx, rest, o.token, log)
	case config.RoomJanus:
		return janus.New(janus.Options{
			URL:    rest,
			PIN:    os.Getenv(envJanusPIN),
			Token:  os.Getenv(envJanusToken),
			Logger: log,
			// As for LiveKit: the output keeps flowing while Janus is
			// retried for this long; then the job stops with the reason.
			ReconnectTimeout: 60 * time.Second,
		})
	}
	return nil, fmt.Errorf("meetingUrl: no connector for %q", meetingURL)
}

// extractDemo writes the demo room embedded in the binary to a temporary
// folder, so that `demo:` works from any directory and in the container.
func extractDemo() (string, error) {
	dir, err := os.MkdirTemp("", "roomcast-demo-")
	if err != nil {
		return "", fmt.Errorf("demo room: %w", err)
	}
	src := roomcast.DemoRoom()
	err = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("demo room: %w", err)
	}
	return dir, nil
}

// cleanupRoom removes the extracted demo once the room is closed.
type cleanupRoom struct {
	room.Room
	cleanup func()
}

func (c *cleanupRoom) Close() error {
	err := c.Room.Close()
	c.cleanup()
	return err
}

// Epoch passes the file room's timeline through, so that its exact
// NTP-to-job-time mapping is still used.
func (c *cleanupRoom) Epoch() time.Time {
	return c.Room.(room.Timeline).Epoch()
}

// The Janus secrets' environment variables. --janus-pin and --janus-token
// set them, so that they reach the connector the way the environment does,
// in this process and in the job processes serve starts.
const (
	envJanusPIN   = "JANUS_ROOM_PIN"
	envJanusToken = "JANUS_TOKEN"
)

// envFlag is a flag that sets an environment variable. It never prints its
// value: the flag's default in --help stays empty.
type envFlag string

func (e envFlag) String() string { return "" }
func (e envFlag) Type() string   { return "string" }
func (e envFlag) Set(v string) error {
	return os.Setenv(string(e), v)
}
