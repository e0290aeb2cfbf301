package janus

import (
	"errors"
	"fmt"
	"strings"
)

// Why a room could not be joined or why it ended. Errors returned by Start
// and Err wrap one of these (or the error of Start's context); their text
// never holds the PIN or the token.
var (
	ErrUnauthorized      = errors.New("janus: the server rejected the API token")
	ErrRoomNotFound      = errors.New("janus: the room does not exist")
	ErrWrongPIN          = errors.New("janus: the room's PIN is wrong or missing (--janus-pin, JANUS_ROOM_PIN)")
	ErrRequiresPrivateID = errors.New("janus: the room requires a private_id (require_pvtid): only a visible publisher may subscribe there, so a hidden recorder cannot")
	ErrUnreachable       = errors.New("janus: cannot reach the server")
	ErrJoinTimeout       = errors.New("janus: timed out joining the room")
	ErrRoomClosed        = errors.New("janus: the room was destroyed")
	ErrConnectionLost    = errors.New("janus: connection to the server lost and not recovered")
	ErrNegotiation       = errors.New("janus: WebRTC negotiation with the server failed")
)

// Janus's own error codes (janus.h) and VideoRoom's (janus_videoroom.c)
// that say something the caller can act on.
const (
	codeUnauthorized      = 403
	codeSessionNotFound   = 458
	codeHandleNotFound    = 459
	vrNoSuchRoom          = 426
	vrUnauthorized        = 433
	vrNoSuchFeed          = 428
	vrAlreadyJoined       = 425
	vrInvalidElement      = 431
	vrMissingElement      = 429
	vrNotPublished        = 435
	vrNoSuchRoomPublisher = 427
)

// apiError is an error Janus answered with, at the transport level
// ("janus":"error") or the plugin's.
type apiError struct {
	what   string
	code   int
	reason string
	plugin bool
}

func (e *apiError) Error() string {
	return fmt.Sprintf("janus: %s: %s (code %d)", e.what, e.reason, e.code)
}

// classify maps an apiError onto a sentinel, when one fits.
func classify(err error, roomName id) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case !ae.plugin && ae.code == codeUnauthorized:
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case ae.plugin && ae.code == vrNoSuchRoom:
		return fmt.Errorf("%w: room %s", ErrRoomNotFound, roomName)
	case ae.plugin && ae.code == vrUnauthorized && strings.Contains(ae.reason, "private_id"):
		return fmt.Errorf("%w: room %s", ErrRequiresPrivateID, roomName)
	case ae.plugin && ae.code == vrUnauthorized:
		return fmt.Errorf("%w: room %s: %w", ErrWrongPIN, roomName, err)
	}
	return err
}

// redactor removes secrets from text bound for logs and errors.
type redactor struct{ secrets []string }

func newRedactor(secrets ...string) *redactor {
	r := &redactor{}
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

func (r *redactor) string(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}

// error scrubs err; a scrubbed error no longer unwraps to the original,
// whose text held the secret, so the sentinel is wrapped again.
func (r *redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.string(err.Error())
	if msg == err.Error() {
		return err
	}
	for _, s := range []error{ErrUnauthorized, ErrRoomNotFound, ErrWrongPIN, ErrRequiresPrivateID, ErrUnreachable, ErrJoinTimeout, ErrRoomClosed, ErrConnectionLost, ErrNegotiation} {
		if errors.Is(err, s) {
			return fmt.Errorf("%w: %s", s, msg)
		}
	}
	return errors.New(msg)
}
