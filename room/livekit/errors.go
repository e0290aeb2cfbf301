package livekit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"

	lkproto "github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/livekit/server-sdk-go/v2/signalling"
)

// Why a room could not be joined or why it ended. Errors returned by Start
// and Err wrap one of these (or, when the caller's context ended the room,
// the context's error), so the worker can tell them apart with errors.Is;
// their text never holds a secret.
var (
	ErrUnauthorized      = errors.New("livekit: the server rejected the credentials")
	ErrRoomNotFound      = errors.New("livekit: the room does not exist")
	ErrUnreachable       = errors.New("livekit: cannot reach the server")
	ErrJoinTimeout       = errors.New("livekit: timed out joining the room")
	ErrRoomClosed        = errors.New("livekit: the room was closed")
	ErrRemoved           = errors.New("livekit: the recorder was removed from the room")
	ErrDuplicateIdentity = errors.New("livekit: another participant joined with the recorder's identity")
	ErrConnectionLost    = errors.New("livekit: connection to the server lost and not recovered")
	ErrDisconnected      = errors.New("livekit: disconnected by the server")
)

// joinError maps the SDK's join errors onto ours, scrubbed. An error the
// SDK's text says enough about becomes one of our sentinels; any other is
// wrapped as it is, unless its text held a secret (the server echoes a
// rejected token), in which case only its scrubbed text is kept: whoever
// unwrapped it could print the secret.
func joinError(err error, red *redactor, roomName, wsURL string) error {
	msg := red.string(err.Error())
	var kind error
	switch {
	case errors.Is(err, ErrJoinTimeout), errors.Is(err, lksdk.ErrConnectionTimeout):
		kind = ErrJoinTimeout
	case errors.Is(err, context.Canceled):
		kind = context.Canceled
	case strings.HasPrefix(msg, "unauthorized"):
		kind = ErrUnauthorized
	case msg == "not found":
		kind = ErrRoomNotFound
	case errors.Is(err, signalling.ErrCannotDialSignal), errors.Is(err, lksdk.ErrCannotConnectSignal), isDialError(err):
		kind = ErrUnreachable
	}
	switch kind {
	case nil:
		return fmt.Errorf("livekit: joining room %q at %s: %w", roomName, wsURL, red.error(err))
	case ErrRoomNotFound:
		return fmt.Errorf("%w: room %q at %s (the server does not create rooms on join)", kind, roomName, wsURL)
	case ErrUnauthorized:
		return fmt.Errorf("%w: joining room %q at %s: %s", kind, roomName, wsURL, msg)
	case context.Canceled:
		return fmt.Errorf("livekit: joining room %q at %s: %w", roomName, wsURL, kind)
	case ErrUnreachable:
		return fmt.Errorf("%w: room %q at %s: %w", kind, roomName, wsURL, red.error(err))
	default:
		return fmt.Errorf("%w: room %q at %s", kind, roomName, wsURL)
	}
}

// isDialError reports whether err says that nothing answered: since v2.19
// the SDK reports the failed HTTP validation that follows a failed dial, a
// *url.Error around the *net.OpError, rather than a sentinel of its own.
func isDialError(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &dns) || (errors.As(err, &op) && op.Op == "dial")
}

// disconnectError says why the server ended the session: reason is the
// SDK's coarse reason, raw the server's own, which tells apart what the SDK
// folds into "other reasons" (a deleted room among them). nil means we left.
func disconnectError(reason lksdk.DisconnectionReason, raw lkproto.DisconnectReason, roomName string) error {
	if reason == lksdk.OtherReason {
		switch raw {
		case lkproto.DisconnectReason_ROOM_DELETED, lkproto.DisconnectReason_ROOM_CLOSED:
			reason = lksdk.RoomClosed
		case lkproto.DisconnectReason_UNKNOWN_REASON:
		default:
			reason = lksdk.DisconnectionReason(strings.ToLower(raw.String()))
		}
	}
	var err error
	switch reason {
	case lksdk.LeaveRequested:
		return nil
	case lksdk.RoomClosed:
		err = ErrRoomClosed
	case lksdk.ParticipantRemoved:
		err = ErrRemoved
	case lksdk.DuplicateIdentity:
		err = ErrDuplicateIdentity
	case lksdk.Failed:
		err = ErrConnectionLost
	default:
		err = fmt.Errorf("%w (%s)", ErrDisconnected, reason)
	}
	return fmt.Errorf("%w: room %q", err, roomName)
}

// contextError is why the caller's context ended the room: its error
// (context.Canceled or DeadlineExceeded) and the cause it was given, if any.
func contextError(ctx context.Context, roomName string) error {
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		return fmt.Errorf("livekit: room %q: %w: %w", roomName, ctx.Err(), cause)
	}
	return fmt.Errorf("livekit: room %q: %w", roomName, ctx.Err())
}

// jwtRE matches anything shaped like a JWT, so a token we did not mint
// ourselves (one the server echoes back, say) is also hidden.
var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)

// redactor removes secrets from text bound for logs and errors. It is used
// from the SDK's goroutines while a rejoin adds a freshly minted token.
type redactor struct {
	mu      sync.RWMutex
	secrets []string
}

func newRedactor(secrets ...string) *redactor {
	r := &redactor{}
	for _, s := range secrets {
		// Very short strings would blank out ordinary words.
		if len(s) >= 6 {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

func (r *redactor) add(s string) {
	if len(s) >= 6 {
		r.mu.Lock()
		r.secrets = append(r.secrets, s)
		r.mu.Unlock()
	}
}

func (r *redactor) string(s string) string {
	r.mu.RLock()
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	r.mu.RUnlock()
	return jwtRE.ReplaceAllString(s, "[token]")
}

// error returns err with its text scrubbed. A scrubbed error does not unwrap
// to the original: whoever unwrapped it could print the secret. Callers that
// need errors.Is wrap a sentinel of their own around the result.
func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.string(err.Error())
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
