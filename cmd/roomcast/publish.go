package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/roomcast/roomcast/room/janus"
	"github.com/roomcast/roomcast/room/livekit"
)

// publisher is what publish runs: LiveKit's or Janus's.
type publisher interface {
	Start(ctx context.Context) error
	Done() <-chan struct{}
	Err() error
	Close() error
}

// newPublishCmd is `roomcast publish`: join a LiveKit or Janus room as a
// normal participant and publish a media file's tracks, for smoke tests and
// as the tests' sender.
func newPublishCmd() *cobra.Command {
	var (
		opts      livekit.PublisherOptions
		muteAt    time.Duration
		simulcast []string
	)
	cmd := &cobra.Command{
		Use:   "publish --room livekit://HOST:PORT/ROOM --identity NAME --media FILE",
		Short: "Publish a media file into a LiveKit or Janus room as a participant",
		Long: `Publish joins a LiveKit room or a Janus VideoRoom room as a normal participant
and publishes a media file's first video stream as its camera and first audio
stream as its microphone (VP8, VP9 or H.264 video, AV1 too for Janus; Opus
audio: a WebM, say), in real time. --screen publishes another file as a
screen share.

LiveKit credentials come from LIVEKIT_API_KEY and LIVEKIT_API_SECRET, or a
ready token from --token or LIVEKIT_TOKEN. For Janus (janus://HOST:PORT/ROOM,
janus+https://HOST/PATH/ROOM), --identity is the display name, and the room's
PIN and the API token come from --janus-pin (JANUS_ROOM_PIN) and
--janus-token (JANUS_TOKEN). It runs until the files have played (forever
with --loop) or until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.URL == "" {
				return errors.New("--room is required")
			}
			opts.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			var (
				p   publisher
				err error
			)
			if strings.HasPrefix(opts.URL, "janus") {
				if muteAt > 0 {
					return errors.New("--mute-video-at is for LiveKit rooms only")
				}
				if len(simulcast) != 0 && len(simulcast) != 3 {
					return errors.New("--simulcast takes three video files, high, middle and low: --simulcast H.webm,M.webm,L.webm")
				}
				p, err = janus.NewPublisher(janus.PublisherOptions{
					URL: opts.URL, PIN: os.Getenv(envJanusPIN), Token: os.Getenv(envJanusToken),
					Display: displayName(opts), Media: opts.Media, Screen: opts.Screen, Simulcast: simulcast, Loop: opts.Loop, Logger: opts.Logger,
				})
			} else {
				if len(simulcast) > 0 {
					return errors.New("--simulcast is for Janus rooms only")
				}
				if opts.Token == "" {
					opts.Token = os.Getenv("LIVEKIT_TOKEN")
				}
				opts.APIKey = os.Getenv("LIVEKIT_API_KEY")
				opts.APISecret = os.Getenv("LIVEKIT_API_SECRET")
				opts.MuteVideoAt = muteAt
				p, err = livekit.NewPublisher(opts)
			}
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := p.Start(ctx); err != nil {
				_ = p.Close()
				return &exitError{code: exitFailed, err: err}
			}
			opts.Logger.Info("publishing", "room", opts.URL, "identity", opts.Identity)
			select {
			case <-ctx.Done():
			case <-p.Done():
			}
			_ = p.Close()
			if err := p.Err(); err != nil {
				return &exitError{code: exitFailed, err: err}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.URL, "room", "", "the room: livekit://HOST:PORT/ROOM, livekit+https://HOST/ROOM, livekit+wss://HOST/ROOM, janus://HOST:PORT/ROOM or janus+https://HOST/PATH/ROOM")
	fl.StringVar(&opts.Identity, "identity", "", "participant identity (required unless the token names it); Janus: the display name")
	fl.StringVar(&opts.Name, "name", "", "display name (default: the identity)")
	fl.StringVar(&opts.Media, "media", "", "file to publish as camera and microphone")
	fl.StringVar(&opts.Screen, "screen", "", "file to publish as a screen share")
	fl.StringSliceVar(&simulcast, "simulcast", nil, "Janus: three video files of one camera, high, middle and low, sent as simulcast layers")
	fl.BoolVar(&opts.Loop, "loop", false, "replay the files forever")
	fl.StringVar(&opts.Token, "token", "", "a ready LiveKit access token (or LIVEKIT_TOKEN)")
	fl.Var(envFlag(envJanusPIN), "janus-pin", "the Janus room's PIN (or "+envJanusPIN+")")
	fl.Var(envFlag(envJanusToken), "janus-token", "the Janus API token (or "+envJanusToken+")")
	fl.DurationVar(&muteAt, "mute-video-at", 0, "mute the camera this long after joining (a test script; LiveKit only)")
	fl.DurationVar(&opts.MuteVideoFor, "mute-for", 0, "with --mute-video-at: unmute after this long (0: stay muted)")
	return cmd
}

// displayName is a Janus publisher's display: --name, else --identity.
func displayName(o livekit.PublisherOptions) string {
	if o.Name != "" {
		return o.Name
	}
	return o.Identity
}
