package llamette

/*
#include "llamette.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
)

// Status is the outcome of a C call (LlametteStatus). The numbers are stable.
type Status int

// The library's status codes.
const (
	StatusOK             Status = C.LLAMETTE_OK
	StatusNullArgument   Status = C.LLAMETTE_ERR_NULL_ARGUMENT
	StatusInvalid        Status = C.LLAMETTE_ERR_INVALID_ARGUMENT
	StatusBadFile        Status = C.LLAMETTE_ERR_BAD_FILE
	StatusUnsupported    Status = C.LLAMETTE_ERR_UNSUPPORTED
	StatusIO             Status = C.LLAMETTE_ERR_IO
	StatusBufferTooSmall Status = C.LLAMETTE_ERR_BUFFER_TOO_SMALL
	StatusContextFull    Status = C.LLAMETTE_ERR_CONTEXT_FULL
	StatusBadToken       Status = C.LLAMETTE_ERR_BAD_TOKEN
	StatusBadChat        Status = C.LLAMETTE_ERR_BAD_CHAT
	StatusAllocation     Status = C.LLAMETTE_ERR_ALLOCATION
	StatusAborted        Status = C.LLAMETTE_ERR_ABORTED
	StatusPanic          Status = C.LLAMETTE_ERR_PANIC
	StatusBadState       Status = C.LLAMETTE_ERR_BAD_STATE
	StatusBadGrammar     Status = C.LLAMETTE_ERR_BAD_GRAMMAR // a grammar, schema or regex that cannot be used
	StatusConstraint     Status = C.LLAMETTE_ERR_CONSTRAINT  // the grammar allows no token (sampling alone)
)

// String returns the library's English description of the status.
func (s Status) String() string {
	return C.GoString(C.llamette_status_message(C.LlametteStatus(s)))
}

// Error is a failed llamette call: the operation, the status code and the library's detailed
// message (llamette_last_error).
//
// errors.Is(err, llamette.ErrIO) (and the other Err* values) matches on the status alone.
type Error struct {
	Op      string // the Go method, e.g. "Load"
	Status  Status
	Message string // llamette_last_error(), or a message of the binding's own
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("llamette: %s: %v (status %d)", e.Op, e.Status, int(e.Status))
	}
	return fmt.Sprintf("llamette: %s: %s (%v, status %d)", e.Op, e.Message, e.Status, int(e.Status))
}

// Is reports whether target is an *Error with the same status and no Op or Message (one of the
// Err* sentinels), or the very same error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	if t == e {
		return true
	}
	return t.Op == "" && t.Message == "" && t.Status == e.Status
}

// Sentinels for errors.Is.
var (
	ErrNullArgument   = &Error{Status: StatusNullArgument}
	ErrInvalid        = &Error{Status: StatusInvalid}
	ErrBadFile        = &Error{Status: StatusBadFile}
	ErrUnsupported    = &Error{Status: StatusUnsupported}
	ErrIO             = &Error{Status: StatusIO}
	ErrBufferTooSmall = &Error{Status: StatusBufferTooSmall}
	ErrContextFull    = &Error{Status: StatusContextFull}
	ErrBadToken       = &Error{Status: StatusBadToken}
	ErrBadChat        = &Error{Status: StatusBadChat}
	ErrAllocation     = &Error{Status: StatusAllocation}
	ErrPanic          = &Error{Status: StatusPanic}
	ErrBadState       = &Error{Status: StatusBadState}
	ErrBadGrammar     = &Error{Status: StatusBadGrammar}
	ErrConstraint     = &Error{Status: StatusConstraint}
)

// ErrClosed is returned (wrapped) by methods called on a handle after its Close.
var ErrClosed = errors.New("llamette: use of a closed handle")

// call runs f, which makes one C call and returns its status, with the goroutine locked to its
// OS thread so that llamette_last_error (thread-local in C) is read on the thread that failed.
func call(op string, f func() uint32) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.LLAMETTE_OK {
		return nil
	}
	return &Error{Op: op, Status: Status(st), Message: C.GoString(C.llamette_last_error())}
}

// callSized is call for the two-step "ask the size, then fill" calls: fill(cap) returns the
// status and the size the library wrote; on LLAMETTE_ERR_BUFFER_TOO_SMALL it is retried with
// the needed size. Returns the final size.
func callSized(op string, guess int, fill func(cap int) (uint32, int)) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := guess
	for attempt := 0; ; attempt++ {
		st, need := fill(n)
		switch {
		case st == C.LLAMETTE_OK:
			return need, nil
		case st == C.LLAMETTE_ERR_BUFFER_TOO_SMALL && attempt < 3 && need > n:
			n = need
		default:
			return 0, &Error{Op: op, Status: Status(st), Message: C.GoString(C.llamette_last_error())}
		}
	}
}

func closedError(op string) error {
	return fmt.Errorf("llamette: %s: %w", op, ErrClosed)
}
