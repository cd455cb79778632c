package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an operation failure. The codes and their meaning are fixed
// by the project contract; the CLI maps them to exit codes, the socket to HTTP
// statuses and the MCP server to isError results.
type Code string

// The error codes of the contract.
const (
	CodeInvalidArgument   Code = "invalid_argument"
	CodeNotFound          Code = "not_found"
	CodeInputRequired     Code = "input_required"
	CodeAuthFailed        Code = "auth_failed"
	CodeHostKeyUnknown    Code = "host_key_unknown"
	CodeHostKeyMismatch   Code = "host_key_mismatch"
	CodeHostKeyRevoked    Code = "host_key_revoked"
	CodeConnectionFailed  Code = "connection_failed"
	CodeConnectionLost    Code = "connection_lost"
	CodeTimeout           Code = "timeout"
	CodeCanceled          Code = "canceled"
	CodePermissionDenied  Code = "permission_denied"
	CodeNoSpace           Code = "no_space"
	CodeExists            Code = "exists"
	CodePortInUse         Code = "port_in_use"
	CodeForwardRefused    Code = "forward_refused"
	CodePolicyDenied      Code = "policy_denied"
	CodeShellExited       Code = "shell_exited"
	CodeHolderUnavailable Code = "holder_unavailable"
	CodeVersionMismatch   Code = "version_mismatch"
	CodeInternal          Code = "internal"
)

var codeStatus = map[Code]int{
	CodeInvalidArgument:   http.StatusBadRequest,
	CodeNotFound:          http.StatusNotFound,
	CodeInputRequired:     http.StatusPreconditionRequired,
	CodeAuthFailed:        http.StatusUnauthorized,
	CodeHostKeyUnknown:    http.StatusForbidden,
	CodeHostKeyMismatch:   http.StatusForbidden,
	CodeHostKeyRevoked:    http.StatusForbidden,
	CodeConnectionFailed:  http.StatusBadGateway,
	CodeConnectionLost:    http.StatusBadGateway,
	CodeTimeout:           http.StatusGatewayTimeout,
	CodeCanceled:          499,
	CodePermissionDenied:  http.StatusForbidden,
	CodeNoSpace:           http.StatusInsufficientStorage,
	CodeExists:            http.StatusConflict,
	CodePortInUse:         http.StatusConflict,
	CodeForwardRefused:    http.StatusBadGateway,
	CodePolicyDenied:      http.StatusForbidden,
	CodeShellExited:       http.StatusGone,
	CodeHolderUnavailable: http.StatusServiceUnavailable,
	CodeVersionMismatch:   http.StatusServiceUnavailable,
	CodeInternal:          http.StatusInternalServerError,
}

// HTTPStatus is the status the holder's socket answers with for c.
func (c Code) HTTPStatus() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an operation failure: a code, a message naming what failed (with
// host, path or id), and a hint saying what to do next. It is what crosses the
// socket and what MCP tool results carry.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	// Err is the underlying cause, kept in-process only.
	Err error `json:"-"`
}

// Error renders "message (hint)" style text without the code.
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Message
	}
	return e.Message + " — " + e.Hint
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, &Error{Code: X}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Errf builds an *Error with a formatted message.
func Errf(code Code, hint string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Hint: hint}
}

// Wrap builds an *Error around cause; the message is msg plus the cause's text.
func Wrap(code Code, cause error, hint string, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return &Error{Code: code, Message: msg, Hint: hint, Err: cause}
}

// ErrCode is a matcher for errors.Is: errors.Is(err, session.ErrCode(session.CodeNotFound)).
func ErrCode(c Code) error { return &Error{Code: c} }

// AsError returns err as an *Error, classifying errors that are not one yet
// (context cancellation and deadlines; anything else is internal).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: err.Error(), Hint: "raise the timeout, or check that the host is responsive", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Code: CodeCanceled, Message: err.Error(), Err: err}
	}
	return &Error{Code: CodeInternal, Message: err.Error(), Hint: "this is a bug in mcp-remote-ssh; the holder log has details", Err: err}
}

// CodeOf returns the code of err ("" for nil).
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	return AsError(err).Code
}
