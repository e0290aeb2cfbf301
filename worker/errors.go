package worker

import (
	"errors"
	"fmt"
)

// Error codes carried in state and in API answers.
const (
	CodeInvalidConfig  = "INVALID_CONFIG"
	CodeAlreadyRunning = "ALREADY_RUNNING"
	CodeNotFound       = "NOT_FOUND"
	CodeRoomJoin       = "ROOM_JOIN_FAILED"
	CodeRoomEnded      = "ROOM_ENDED"
	CodeOutput         = "OUTPUT_FAILED"
	CodeRTMP           = "RTMP_FAILED"
	CodeRecording      = "RECORDING_FAILED"
	CodeHLS            = "HLS_FAILED"
	CodeInternal       = "INTERNAL"
)

// ErrEnded is the cause of the error a request to a job that has ended (or
// is ending) gets.
var ErrEnded = errors.New("worker: the job has ended")

// ErrStopped is the cause of the error Start returns when Stop came first.
var ErrStopped = errors.New("worker: the job was stopped while it started")

// Error is the contract's error object. Cause is what went wrong underneath,
// for errors.Is and errors.As (an API maps it to a status code); it is not
// part of the contract's JSON, whose message already says it in words.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Cause   error  `json:"-"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// errorf makes an *Error whose message is fmt.Sprintf(format, a...) and
// whose cause is what a %w verb wrapped, so the cause is never flattened.
func errorf(code, format string, a ...any) *Error {
	err := fmt.Errorf(format, a...)
	e := &Error{Code: code, Message: err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		e.Cause = u.Unwrap()
	case interface{ Unwrap() []error }:
		e.Cause = err
	}
	return e
}

// asError returns err as the contract's *Error, keeping it as the cause of a
// new INTERNAL one if it is something else.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return errorf(CodeInternal, "%w", err)
}

func errString(e *Error) string {
	if e == nil {
		return ""
	}
	return e.Error()
}
