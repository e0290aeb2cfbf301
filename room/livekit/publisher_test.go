package livekit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"

	"github.com/roomcast/roomcast/room"
)

// TestPublisherH264Script publishes H.264 (from MP4, so through the Annex B
// filter) with a scripted camera mute, then a file that plays once.
func TestPublisherH264Script(t *testing.T) {
	srv := sharedServer(t)
	roomName := uniqueRoom("publish")
	srv.createRoom(t, roomName)
	_, evs, _ := startRecorder(t, Options{URL: srv.url(roomName), APIKey: devKey, APISecret: devSecret})

	startPublisher(t, srv, roomName, "erin", PublisherOptions{Media: mediaFileFor(t, camMP4), Loop: true,
		MuteVideoAt: 1500 * time.Millisecond, MuteVideoFor: time.Second})
	ev, _ := evs.wait(0, 10*time.Second, "erin's camera", isTrackAdded("erin", room.KindVideo, room.SourceRegular))
	if mime := ev.Track.Info().Codec.MimeType; mime != "video/H264" {
		t.Fatalf("camera codec %s, want video/H264", mime)
	}
	// An IDR picture arrives: NAL type 5, alone or in a STAP-A.
	idr := make(chan struct{})
	go func() {
		for {
			p, err := room.ReadRTP(ev.Track)
			if err != nil {
				return
			}
			var h codecs.H264Packet
			au, err := h.Unmarshal(p.Payload)
			if err != nil {
				continue
			}
			for i := 0; i+4 < len(au); i++ {
				if au[i] == 0 && au[i+1] == 0 && au[i+2] == 0 && au[i+3] == 1 && au[i+4]&0x1f == 5 {
					close(idr)
					for {
						if _, err := room.ReadRTP(ev.Track); err != nil {
							return
						}
					}
				}
			}
		}
	}()
	select {
	case <-idr:
	case <-time.After(8 * time.Second):
		t.Fatal("no H.264 IDR picture")
	}
	_, at := evs.wait(0, 5*time.Second, "scripted TrackMuted", isTrackEvent(room.TrackMuted, ev.Track.Info().ID))
	evs.wait(at, 5*time.Second, "scripted TrackUnmuted", isTrackEvent(room.TrackUnmuted, ev.Track.Info().ID))

	once := startPublisher(t, srv, roomName, "frank", PublisherOptions{Media: mediaFileFor(t, camWebM)})
	select {
	case <-once.Done():
		if err := once.Err(); err != nil {
			t.Fatalf("Err() = %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("a 3 s file without --loop did not finish")
	}
}

func TestPublisherRejects(t *testing.T) {
	srv := sharedServer(t)
	roomName := uniqueRoom("reject")
	srv.createRoom(t, roomName)
	tests := []struct {
		name     string
		opts     PublisherOptions
		newErr   string
		startErr error
	}{
		{name: "no media", opts: PublisherOptions{Identity: "x", APIKey: devKey, APISecret: devSecret}, newErr: "Media or PublisherOptions.Screen is required"},
		{name: "missing file", opts: PublisherOptions{Identity: "x", APIKey: devKey, APISecret: devSecret, Media: "/nonexistent.webm"}, newErr: "opening /nonexistent.webm"},
		{name: "aac", opts: PublisherOptions{Identity: "x", APIKey: devKey, APISecret: devSecret, Media: mediaFileFor(t, aacMP4)}, newErr: "not supported"},
		{name: "no identity", opts: PublisherOptions{APIKey: devKey, APISecret: devSecret, Media: mediaFileFor(t, camWebM)}, newErr: "Identity is required"},
		{name: "wrong secret", opts: PublisherOptions{Identity: "x", APIKey: devKey, APISecret: "wrong-secret-987654", Media: mediaFileFor(t, camWebM)}, startErr: ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.URL = srv.url(roomName)
			p, err := NewPublisher(tc.opts)
			if tc.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.newErr) {
					t.Fatalf("NewPublisher error = %v, want %q", err, tc.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = p.Start(ctx)
			if !errors.Is(err, tc.startErr) || strings.Contains(err.Error(), tc.opts.APISecret) {
				t.Fatalf("Start error = %v, want %v without the secret", err, tc.startErr)
			}
		})
	}
}

// TestPeerFiles opens the shared peer files, when the tree has them: each is
// one the Publisher can send, or one it refuses by name (AV1).
func TestPeerFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "peers", "*"))
	if len(files) == 0 {
		t.Skip("no testdata/peers files yet")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			switch filepath.Ext(f) {
			case ".webm", ".mkv", ".mp4":
			default:
				t.Skip("not a media file")
			}
			if st, err := os.Stat(f); err != nil || st.IsDir() {
				t.Skip()
			}
			m, err := openMedia(f)
			if err != nil {
				if strings.Contains(err.Error(), "is not supported") {
					t.Logf("refused: %v", err)
					return
				}
				t.Fatal(err)
			}
			defer m.close()
			if _, err := m.next(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
