package worker

import (
	"errors"
	"fmt"
)

// ErrEnded is the cause of the error a request to a job that has ended (or
// is ending) gets.
var ErrEnded = errors.New("worker: the job has ended")

// ErrStopped is the cause of the error Start returns when Stop came first.
var ErrStopped = errors.New("worker: the job was stopped while it started")

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
