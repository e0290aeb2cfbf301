package livekit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/roomcast/roomcast/room"
)

// TestRecorderFollowsRoom plays one meeting against a real livekit-server: a
// peer already publishing when the recorder joins, a viewer who must not see
// the recorder, mute and unmute, active speakers, name and metadata changes,
// a screen share, a peer who republishes under the same identity, and peers
// leaving.
func TestRecorderFollowsRoom(t *testing.T) {
	srv := sharedServer(t)
	roomName := uniqueRoom("standup")
	srv.createRoom(t, roomName)

	alice := startPublisher(t, srv, roomName, "alice", PublisherOptions{Media: mediaFileFor(t, camWebM), Loop: true})

	const botID = "roomcast-test-bot"
	began := time.Now()
	r, evs, joinTook := startRecorder(t, Options{URL: srv.url(roomName), APIKey: devKey, APISecret: devSecret, Identity: botID})

	// Alice first, then her tracks, as the contract's worker expects.
	_, joinedAt := evs.wait(0, 5*time.Second, "PeerJoined alice", isEvent(room.PeerJoined, "alice"))
	vev, vAt := evs.wait(0, 10*time.Second, "alice's camera", isTrackAdded("alice", room.KindVideo, room.SourceRegular))
	aev, aAt := evs.wait(0, 10*time.Second, "alice's microphone", isTrackAdded("alice", room.KindAudio, room.SourceRegular))
	if joinedAt > vAt || joinedAt > aAt {
		t.Fatalf("PeerJoined (#%d) after TrackAdded (#%d, #%d)", joinedAt, vAt, aAt)
	}
	video, audio := vev.Track, aev.Track
	vr, ar := readTrack(video, began), readTrack(audio, began)

	t.Run("track info", func(t *testing.T) {
		tests := []struct {
			tr      room.Track
			want    room.TrackInfo
			channel uint16
		}{
			{video, room.TrackInfo{ID: alice.TrackID(room.SourceRegular, room.KindVideo), PeerID: "alice", Kind: room.KindVideo, Source: room.SourceRegular,
				Codec: room.Codec{MimeType: "video/VP8", ClockRate: 90000}}, 0},
			{audio, room.TrackInfo{ID: alice.TrackID(room.SourceRegular, room.KindAudio), PeerID: "alice", Kind: room.KindAudio, Source: room.SourceRegular,
				Codec: room.Codec{MimeType: "audio/opus", ClockRate: 48000}}, 2},
		}
		for _, tc := range tests {
			got := tc.tr.Info()
			if got.ID != tc.want.ID || got.PeerID != tc.want.PeerID || got.Kind != tc.want.Kind || got.Source != tc.want.Source ||
				got.Codec.MimeType != tc.want.Codec.MimeType || got.Codec.ClockRate != tc.want.Codec.ClockRate || got.Codec.Channels != tc.channel ||
				got.Codec.PayloadType == 0 || got.Muted {
				t.Errorf("Info() = %+v, want %+v (channels %d, a payload type, unmuted)", got, tc.want, tc.channel)
			}
		}
	})

	// Real VP8 flows: a keyframe of the file's size.
	vs := vr.waitFor(t, 10*time.Second, "VP8 keyframe", func(s readStats) bool { return s.keyframes > 0 })
	if vs.width != 320 || vs.height != 240 {
		t.Fatalf("keyframe is %dx%d, want 320x240", vs.width, vs.height)
	}
	as := ar.waitFor(t, 5*time.Second, "audio RTP", func(s readStats) bool { return s.packets > 0 })
	t.Logf("start latency: New+Start took %s (join); first RTP after %s (video) / %s (audio) from New",
		joinTook.Round(time.Millisecond), vs.firstAt.Round(time.Millisecond), as.firstAt.Round(time.Millisecond))

	t.Run("sender reports", func(t *testing.T) {
		vr.waitFor(t, 8*time.Second, "video sender report", func(s readStats) bool { return s.srs > 0 })
		ar.waitFor(t, 8*time.Second, "audio sender report", func(s readStats) bool { return s.srs > 0 })
	})

	t.Run("keyframe request reaches the publisher", func(t *testing.T) {
		plis, kfs := alice.PLIs(), vr.snapshot().keyframes
		deadline := time.Now().Add(5 * time.Second)
		// The SFU throttles keyframe requests, so ask again until one gets
		// through.
		for alice.PLIs() == plis {
			if time.Now().After(deadline) {
				t.Fatal("RequestKeyframe never reached the publisher")
			}
			if err := video.RequestKeyframe(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		vr.waitFor(t, 3*time.Second, "a keyframe after the request", func(s readStats) bool { return s.keyframes > kfs })
	})

	t.Run("active speakers", func(t *testing.T) {
		ev, _ := evs.wait(0, 8*time.Second, "alice among active speakers", func(ev room.Event) bool {
			return ev.Type == room.ActiveSpeakers && len(ev.Speakers) > 0 && ev.Speakers[0].PeerID == "alice"
		})
		if sp := ev.Speakers[0]; sp.TrackID != audio.Info().ID || sp.Level < 1 || sp.Level > 100 {
			t.Fatalf("speaker = %+v, want alice's microphone %s at level 1..100", sp, audio.Info().ID)
		}
	})

	t.Run("hidden from other participants", func(t *testing.T) {
		wsURL, _, _ := ParseURL(srv.url(roomName))
		bob, err := lksdk.ConnectToRoom(wsURL, lksdk.ConnectInfo{APIKey: devKey, APISecret: devSecret, RoomName: roomName, ParticipantIdentity: "bob"},
			nil, lksdk.WithAutoSubscribe(false))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bob.Disconnect)
		evs.wait(0, 5*time.Second, "PeerJoined bob", isEvent(room.PeerJoined, "bob"))
		// Give the server time to send any participant update it would.
		time.Sleep(time.Second)
		var ids []string
		for _, p := range bob.GetRemoteParticipants() {
			ids = append(ids, p.Identity())
		}
		if !slices.Contains(ids, "alice") || slices.Contains(ids, botID) {
			t.Fatalf("bob sees %v: want alice and not %s", ids, botID)
		}

		// Name and metadata changes, made by the room's backend.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := srv.api().UpdateParticipant(ctx, &lkproto.UpdateParticipantRequest{
			Room: roomName, Identity: "bob", Name: "Bob B.", Metadata: `{"team":"video"}`, Attributes: map[string]string{"role": "host"},
		}); err != nil {
			t.Fatal(err)
		}
		evs.wait(0, 5*time.Second, "PeerUpdated bob", func(ev room.Event) bool {
			return ev.Type == room.PeerUpdated && ev.Peer == room.Peer{ID: "bob", Name: "Bob B.", Role: "host", Metadata: `{"team":"video"}`}
		})
		bob.Disconnect()
		evs.wait(0, 5*time.Second, "PeerLeft bob", isEvent(room.PeerLeft, "bob"))
	})

	t.Run("mute and unmute", func(t *testing.T) {
		from := evs.len()
		if err := alice.SetMuted(room.SourceRegular, room.KindVideo, true); err != nil {
			t.Fatal(err)
		}
		_, at := evs.wait(from, 5*time.Second, "TrackMuted", isTrackEvent(room.TrackMuted, video.Info().ID))
		if err := alice.SetMuted(room.SourceRegular, room.KindVideo, false); err != nil {
			t.Fatal(err)
		}
		evs.wait(at, 5*time.Second, "TrackUnmuted", isTrackEvent(room.TrackUnmuted, video.Info().ID))
		// Media resumes with a keyframe.
		kfs := vr.snapshot().keyframes
		vr.waitFor(t, 5*time.Second, "keyframe after unmute", func(s readStats) bool { return s.keyframes > kfs })
	})

	t.Run("screen share", func(t *testing.T) {
		// A screen share with its audio, as a browser tab share gives.
		carol := startPublisher(t, srv, roomName, "carol", PublisherOptions{Screen: mediaFileFor(t, camWebM), Loop: true})
		ev, _ := evs.wait(0, 10*time.Second, "carol's screen share", isTrackAdded("carol", room.KindVideo, room.SourceScreen))
		sa, _ := evs.wait(0, 10*time.Second, "carol's screen-share audio", isTrackAdded("carol", room.KindAudio, room.SourceScreen))
		if sa.Track.Info().Codec.MimeType != "audio/opus" {
			t.Fatalf("screen audio codec %s", sa.Track.Info().Codec.MimeType)
		}
		sr := readTrack(ev.Track, time.Now())
		sr.waitFor(t, 8*time.Second, "screen keyframe", func(s readStats) bool { return s.keyframes > 0 })
		if err := r.SetVideoSize(ev.Track.Info().ID, 320, 180); err != nil {
			t.Fatal(err)
		}
		if err := r.SetVideoSize(sa.Track.Info().ID, 320, 180); err == nil {
			t.Fatal("SetVideoSize on audio: no error")
		}
		// The user stops sharing: the track goes, the peer stays.
		if err := carol.Unpublish(room.SourceScreen, room.KindVideo); err != nil {
			t.Fatal(err)
		}
		_, at := evs.wait(0, 5*time.Second, "screen TrackRemoved", isTrackEvent(room.TrackRemoved, ev.Track.Info().ID))
		sr.waitEOF(t, 3*time.Second)
		if err := r.SetVideoSize(ev.Track.Info().ID, 320, 180); err == nil {
			t.Fatal("SetVideoSize on a removed track: no error")
		}
		_ = carol.Close()
		_, left := evs.wait(at, 5*time.Second, "PeerLeft carol", isEvent(room.PeerLeft, "carol"))
		if _, removed := evs.wait(at, 0, "screen audio TrackRemoved", isTrackEvent(room.TrackRemoved, sa.Track.Info().ID)); removed > left {
			t.Fatal("TrackRemoved after PeerLeft")
		}
	})

	outer := t
	t.Run("republish under the same identity", func(t *testing.T) {
		// Alice's client comes back (a page reload): the server drops the old
		// session for the new one. She stays the same peer; her tracks are
		// replaced.
		from := evs.len()
		// Owned by the whole test: she is the one who leaves below.
		alice2 := startPublisherFor(t, outer, srv, roomName, "alice", PublisherOptions{Media: mediaFileFor(t, camWebM), Loop: true})
		evs.wait(from, 8*time.Second, "old camera removed", isTrackEvent(room.TrackRemoved, video.Info().ID))
		vr.waitEOF(t, 3*time.Second)
		ar.waitEOF(t, 3*time.Second)
		ev, _ := evs.wait(from, 10*time.Second, "new camera", func(ev room.Event) bool {
			return isTrackAdded("alice", room.KindVideo, room.SourceRegular)(ev) && ev.Track.Info().ID != video.Info().ID
		})
		if ev.Track.Info().ID != alice2.TrackID(room.SourceRegular, room.KindVideo) {
			t.Fatalf("new camera is %s, want %s", ev.Track.Info().ID, alice2.TrackID(room.SourceRegular, room.KindVideo))
		}
		nr := readTrack(ev.Track, time.Now())
		nr.waitFor(t, 8*time.Second, "keyframe on the new camera", func(s readStats) bool { return s.keyframes > 0 })
		video = ev.Track
		vr = nr
		_ = alice.Close()
		alice = alice2
	})

	t.Run("peer leaves", func(t *testing.T) {
		from := evs.len()
		_ = alice.Close()
		_, left := evs.wait(from, 5*time.Second, "PeerLeft alice", isEvent(room.PeerLeft, "alice"))
		_, removed := evs.wait(from, 0, "camera TrackRemoved", isTrackEvent(room.TrackRemoved, video.Info().ID))
		if removed > left {
			t.Fatal("TrackRemoved after PeerLeft")
		}
		vr.waitEOF(t, 3*time.Second)
	})

	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	evs.waitClosed(3 * time.Second)
	if err := r.Err(); err != nil {
		t.Fatalf("Err after Close = %v, want nil", err)
	}
	if err := video.RequestKeyframe(); err == nil {
		t.Fatal("RequestKeyframe on an ended track: no error")
	}
}

// TestContextEndsRoom checks that Start's ctx bounds the room's whole life:
// its end after the join (a cancel, a cancel with a cause, a deadline) ends
// the room as Close would (Events closes, tracks end), with Err telling why,
// and leaves no goroutine behind.
func TestContextEndsRoom(t *testing.T) {
	stopped := errors.New("job stopped")
	tests := []struct {
		name string
		// ctx returns Start's context and what ends it, nil for its deadline.
		ctx  func() (context.Context, func())
		want []error
	}{
		{"cancelled", func() (context.Context, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			return ctx, cancel
		}, []error{context.Canceled}},
		{"cancelled with a cause", func() (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(context.Background())
			return ctx, func() { cancel(stopped) }
		}, []error{context.Canceled, stopped}},
		{"deadline", func() (context.Context, func()) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
			context.AfterFunc(ctx, cancel)
			return ctx, nil
		}, []error{context.DeadlineExceeded}},
	}
	srv := sharedServer(t)
	mediaFileFor(t, camWebM) // made before counting: its cache stays
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roomName := uniqueRoom("ctx")
			srv.createRoom(t, roomName)
			base := quietGoroutines()
			alice := startPublisher(t, srv, roomName, "alice", PublisherOptions{Media: mediaFileFor(t, camWebM), Loop: true})

			log, _ := newTestLogger(t, slog.LevelInfo)
			r, err := New(Options{URL: srv.url(roomName), APIKey: devKey, APISecret: devSecret, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			ctx, end := tc.ctx()
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
			evs := collect(t, r)
			ev, _ := evs.wait(0, 10*time.Second, "alice's camera", isTrackAdded("alice", room.KindVideo, room.SourceRegular))
			vr := readTrack(ev.Track, time.Now())
			vr.waitFor(t, 3*time.Second, "video RTP", func(s readStats) bool { return s.packets > 0 })

			if end != nil {
				end()
			} else {
				<-ctx.Done()
			}
			ended := time.Now()
			evs.waitClosed(3 * time.Second)
			t.Logf("Events closed %s after the context ended", time.Since(ended).Round(time.Millisecond))
			vr.waitEOF(t, time.Second)
			err = r.Err()
			for _, want := range tc.want {
				if !errors.Is(err, want) || !strings.HasPrefix(err.Error(), "livekit: ") {
					t.Fatalf("Err() = %v, want a livekit error wrapping %v", err, want)
				}
			}
			if err := ev.Track.RequestKeyframe(); !errors.Is(err, io.EOF) {
				t.Fatalf("RequestKeyframe on an ended track = %v, want io.EOF", err)
			}
			if err := r.Close(); err != nil || !errors.Is(r.Err(), tc.want[0]) {
				t.Fatalf("Close after the context ended: %v, Err() = %v", err, r.Err())
			}

			// The publisher's goroutines must go too, then, or the count says
			// nothing about the recorder's.
			if err := alice.Close(); err != nil {
				t.Fatal(err)
			}
			closeIdleConnections()
			// pion's goroutines take a moment to wind down after a session closed.
			deadline := time.Now().Add(15 * time.Second)
			for runtime.NumGoroutine() > base {
				if time.Now().After(deadline) {
					var stacks strings.Builder
					_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
					t.Fatalf("%d goroutines 15 s after the room ended, %d before it started:\n%s", runtime.NumGoroutine(), base, stacks.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("goroutines back to %d (baseline %d) %s after the context ended", runtime.NumGoroutine(), base, time.Since(ended).Round(time.Millisecond))
		})
	}
}

// quietGoroutines is the goroutine count once the API calls' keep-alive
// connections are closed: they go idle a moment after the call returns,
// and are not the room's to wait for.
func quietGoroutines() int {
	n := runtime.NumGoroutine()
	for range 10 {
		closeIdleConnections()
		time.Sleep(50 * time.Millisecond)
		n = min(n, runtime.NumGoroutine())
	}
	return n
}

func closeIdleConnections() { http.DefaultTransport.(*http.Transport).CloseIdleConnections() }
