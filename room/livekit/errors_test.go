package livekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/livekit/server-sdk-go/v2/signalling"

	"github.com/roomcast/roomcast/room"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in, ws, room, err string
	}{
		{in: "livekit://127.0.0.1:7880/standup", ws: "ws://127.0.0.1:7880", room: "standup"},
		{in: "livekit+ws://lk.local:7880/standup/", ws: "ws://lk.local:7880", room: "standup"},
		{in: "livekit+https://lk.example.com/standup", ws: "wss://lk.example.com", room: "standup"},
		{in: "livekit+wss://lk.example.com/rtc-proxy/daily%20sync", ws: "wss://lk.example.com/rtc-proxy", room: "daily sync"},
		{in: "livekit://127.0.0.1:7880/", err: "no room name"},
		{in: "livekit:///standup", err: "no host"},
		{in: "rtmp://127.0.0.1/standup", err: "scheme"},
		{in: "livekit://user:hunter22@127.0.0.1/standup", err: "must not carry credentials"},
		{in: "livekit://127.0.0.1/standup?token=abc", err: "query"},
		{in: "livekit://[::1", err: "not a valid URL"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ws, rn, err := ParseURL(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter22") {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if err != nil || ws != tc.ws || rn != tc.room {
				t.Fatalf("= %q, %q, %v; want %q, %q", ws, rn, err, tc.ws, tc.room)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	const secret = "s3cr3t-value-never-shown"
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no credentials", Options{URL: "livekit://h:1/r"}, "Options.Token or Options.APIKey"},
		{"key without secret", Options{URL: "livekit://h:1/r", APIKey: "k"}, "Options.APISecret is required"},
		{"secret without key", Options{URL: "livekit://h:1/r", APISecret: secret}, "Options.APIKey is required"},
		{"bad url", Options{URL: "http://h/r", APIKey: "k", APISecret: secret}, "Options.URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error leaks the secret: %v", err)
			}
		})
	}
	r, err := New(Options{URL: "livekit://h:1/r", APIKey: "k", APISecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.identity, "roomcast-recorder-") {
		t.Fatalf("default identity %q", r.identity)
	}
	// Close before Start closes Events.
	_ = r.Close()
	if _, ok := <-r.Events(); ok {
		t.Fatal("Events open after Close")
	}
}

// TestStartFails checks that a join that cannot work fails fast, says why,
// and neither the error nor the log holds a secret or a token.
func TestStartFails(t *testing.T) {
	srv := sharedServer(t)
	roomName := uniqueRoom("errors")
	srv.createRoom(t, roomName)
	const wrongSecret = "wrong-secret-0123456789"
	// A well-formed token signed with another secret: the server rejects it
	// and echoes it in its error body.
	foreign, err := recorderToken(devKey, wrongSecret, roomName, "intruder")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := freeTCPPort(t)
	tests := []struct {
		name string
		opts Options
		want error
	}{
		{"wrong secret", Options{URL: srv.url(roomName), APIKey: devKey, APISecret: wrongSecret}, ErrUnauthorized},
		{"unknown key", Options{URL: srv.url(roomName), APIKey: "nokey", APISecret: wrongSecret}, ErrUnauthorized},
		{"foreign token", Options{URL: srv.url(roomName), Token: foreign}, ErrUnauthorized},
		{"room does not exist", Options{URL: srv.url("no-such-room"), APIKey: devKey, APISecret: devSecret}, ErrRoomNotFound},
		{"nothing listening", Options{URL: fmt.Sprintf("livekit://127.0.0.1:%d/%s", deadPort, roomName), APIKey: devKey, APISecret: devSecret}, ErrUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, logged := newTestLogger(t, slog.LevelDebug-4)
			tc.opts.Logger = log
			r, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			began := time.Now()
			err = r.Start(ctx)
			took := time.Since(began)
			t.Logf("Start: %v (after %s)", err, took.Round(time.Millisecond))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Start error = %v, want %v", err, tc.want)
			}
			if took > 5*time.Second {
				t.Fatalf("Start took %s, want under 5 s", took)
			}
			for what, s := range map[string]string{"secret": wrongSecret, "token": foreign, "minted token": r.token} {
				if strings.Contains(err.Error(), s) || strings.Contains(logged.String(), s) {
					t.Fatalf("the %s leaks into the error or the log", what)
				}
			}
			if strings.Contains(err.Error(), "eyJ") || strings.Contains(logged.String(), "eyJ") {
				t.Fatal("something token-shaped leaks into the error or the log")
			}
			if _, ok := <-r.Events(); ok {
				t.Fatal("Events open after a failed Start")
			}
			if !errors.Is(r.Err(), tc.want) {
				t.Fatalf("Err() = %v", r.Err())
			}
		})
	}
}

// TestRoomEnds checks that the server ending the recorder's session closes
// Events with a reason.
func TestRoomEnds(t *testing.T) {
	srv := sharedServer(t)
	var alice *Publisher
	tests := []struct {
		name string
		// withPeer: a publisher is in the room, and the room closes 1 s after
		// the last such peer leaves.
		withPeer bool
		end      func(ctx context.Context, roomName, botID string) error
		want     error
	}{
		{"room deleted", false, func(ctx context.Context, roomName, _ string) error {
			_, err := srv.api().DeleteRoom(ctx, &lkproto.DeleteRoomRequest{Room: roomName})
			return err
		}, ErrRoomClosed},
		{"recorder removed", false, func(ctx context.Context, roomName, botID string) error {
			_, err := srv.api().RemoveParticipant(ctx, &lkproto.RoomParticipantIdentity{Room: roomName, Identity: botID})
			return err
		}, ErrRemoved},
		// The recorder does not keep a room open: LiveKit closes it its
		// departure timeout after the last real peer left (20 s by default).
		{"last peer left", true, func(context.Context, string, string) error {
			return alice.Close()
		}, ErrRoomClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roomName := uniqueRoom("ends")
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			if _, err := srv.api().CreateRoom(ctx, &lkproto.CreateRoomRequest{Name: roomName, DepartureTimeout: 1}); err != nil {
				t.Fatal(err)
			}
			if tc.withPeer {
				alice = startPublisher(t, srv, roomName, "alice", PublisherOptions{Media: mediaFileFor(t, camWebM), Loop: true})
			}
			botID := "bot-" + randomSuffix()
			r, evs, _ := startRecorder(t, Options{URL: srv.url(roomName), APIKey: devKey, APISecret: devSecret, Identity: botID})
			if tc.withPeer {
				evs.wait(0, 5*time.Second, "PeerJoined alice", isEvent(room.PeerJoined, "alice"))
			}
			if err := tc.end(ctx, roomName, botID); err != nil {
				t.Fatal(err)
			}
			evs.waitClosed(6 * time.Second)
			if !errors.Is(r.Err(), tc.want) {
				t.Fatalf("Err() = %v, want %v", r.Err(), tc.want)
			}
			if err := r.Close(); err != nil || !errors.Is(r.Err(), tc.want) {
				t.Fatalf("after Close: %v, Err() = %v", err, r.Err())
			}
		})
	}
}

// TestErrorsKeepTheirCause checks that every kind of error Start and Err
// return unwraps, with errors.Is, to its sentinel and, where there is one
// that holds no secret, to its cause.
func TestErrorsKeepTheirCause(t *testing.T) {
	const secret = "s3cr3t-value-never-shown"
	red := newRedactor(secret)
	cause := errors.New("tls: handshake failure")
	secretCause := errors.New("websocket: bad handshake: token " + secret + " rejected")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// What the SDK reports when nothing listens: its HTTP validation failed.
	refused := &url.Error{Op: "Get", URL: "http://h/rtc/validate", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	stopped := errors.New("job stopped")
	withCause, cancelCause := context.WithCancelCause(context.Background())
	cancelCause(stopped)
	deadline, cancelDeadline := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelDeadline()
	tests := []struct {
		name    string
		err     error
		is      []error // errors.Is must hold for each
		isNot   []error
		hasText string
	}{
		{"join timeout", joinError(ErrJoinTimeout, red, "r", "ws://h"), []error{ErrJoinTimeout}, nil, `room "r"`},
		{"sdk connection timeout", joinError(lksdk.ErrConnectionTimeout, red, "r", "ws://h"), []error{ErrJoinTimeout}, nil, ""},
		{"join cancelled", joinError(context.Canceled, red, "r", "ws://h"), []error{context.Canceled}, []error{ErrJoinTimeout}, "livekit: joining room"},
		{"unauthorized", joinError(errors.New("unauthorized: invalid token "+secret), red, "r", "ws://h"), []error{ErrUnauthorized}, nil, "[redacted]"},
		{"not found", joinError(errors.New("not found"), red, "r", "ws://h"), []error{ErrRoomNotFound}, nil, ""},
		{"unreachable", joinError(fmt.Errorf("dial: %w", signalling.ErrCannotDialSignal), red, "r", "ws://h"), []error{ErrUnreachable}, nil, ""},
		{"nothing listening", joinError(refused, red, "r", "ws://h"), []error{ErrUnreachable, syscall.ECONNREFUSED}, nil, "connection refused"},
		{"other cause", joinError(cause, red, "r", "ws://h"), []error{cause}, nil, "handshake failure"},
		{"other cause with a secret", joinError(secretCause, red, "r", "ws://h"), nil, []error{secretCause}, "[redacted]"},
		{"room closed", disconnectError(lksdk.RoomClosed, lkproto.DisconnectReason_ROOM_CLOSED, "r"), []error{ErrRoomClosed}, nil, `room "r"`},
		{"room deleted", disconnectError(lksdk.OtherReason, lkproto.DisconnectReason_ROOM_DELETED, "r"), []error{ErrRoomClosed}, nil, ""},
		{"removed", disconnectError(lksdk.ParticipantRemoved, lkproto.DisconnectReason_PARTICIPANT_REMOVED, "r"), []error{ErrRemoved}, nil, ""},
		{"duplicate identity", disconnectError(lksdk.DuplicateIdentity, lkproto.DisconnectReason_DUPLICATE_IDENTITY, "r"), []error{ErrDuplicateIdentity}, nil, ""},
		{"failed", disconnectError(lksdk.Failed, lkproto.DisconnectReason_SIGNAL_CLOSE, "r"), []error{ErrConnectionLost}, nil, ""},
		{"other reason", disconnectError(lksdk.OtherReason, lkproto.DisconnectReason_SERVER_SHUTDOWN, "r"), []error{ErrDisconnected}, nil, "server_shutdown"},
		{"rejoin failed", fmt.Errorf("%w: rejoining: %w", ErrConnectionLost, joinError(errors.New("not found"), red, "r", "ws://h")), []error{ErrConnectionLost, ErrRoomNotFound}, nil, ""},
		{"context cancelled", contextError(ctx, "r"), []error{context.Canceled}, []error{context.DeadlineExceeded}, `livekit: room "r": context canceled`},
		{"context cancelled with a cause", contextError(withCause, "r"), []error{context.Canceled, stopped}, nil, "context canceled: job stopped"},
		{"context deadline", contextError(deadline, "r"), []error{context.DeadlineExceeded}, nil, "deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, want := range tc.is {
				if !errors.Is(tc.err, want) {
					t.Errorf("errors.Is(%q, %q) = false", tc.err, want)
				}
			}
			for _, not := range tc.isNot {
				if errors.Is(tc.err, not) {
					t.Errorf("errors.Is(%q, %q) = true", tc.err, not)
				}
			}
			if !strings.Contains(tc.err.Error(), tc.hasText) {
				t.Errorf("%q does not say %q", tc.err, tc.hasText)
			}
			if strings.Contains(tc.err.Error(), secret) {
				t.Errorf("%q leaks the secret", tc.err)
			}
		})
	}
	if err := disconnectError(lksdk.LeaveRequested, lkproto.DisconnectReason_CLIENT_INITIATED, "r"); err != nil {
		t.Errorf("leaving ourselves: %v, want nil", err)
	}
}
