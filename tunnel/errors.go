package tunnel

import "errors"

// ErrPortInUse reports that the listen address of a forward is already taken
// (EADDRINUSE). It maps to the contract's port_in_use code.
var ErrPortInUse = errors.New("port already in use")

// ErrForwardRefused reports that the SSH server refused a remote listen
// (sshd's AllowTcpForwarding, PermitListen, a port taken on the server, or a
// privileged port for a non-root login), or forbids a local forward's target
// (AllowTcpForwarding, PermitOpen). It maps to the contract's forward_refused
// code.
var ErrForwardRefused = errors.New("forward refused by the server")

// ErrPrivilegedPort reports that a local listen on a port below 1024 was
// denied because the process may not bind it. It maps to the contract's
// permission_denied code.
var ErrPrivilegedPort = errors.New("ports below 1024 need root")

// ErrInvalidSpec reports a malformed forward spec. It maps to the contract's
// invalid_argument code.
var ErrInvalidSpec = errors.New("invalid forward spec")

// ErrClosed is returned by operations on a forward that has been closed.
var ErrClosed = errors.New("forward closed")

// Error is a forward that could not be set up. It names what failed and
// where, and carries a hint saying what to do next. errors.Is matches both its
// Kind (for example [ErrPortInUse]) and the underlying error.
//
// Error() does not include the hint: callers that render the contract's
// {code, message, hint} take the hint from [Error.Hint].
type Error struct {
	// Op is what failed: "listen" (here), "remote listen" (on the server)
	// or "forward to" (a local forward's target, forbidden by the server).
	Op string
	// Addr is the address involved, "host:port".
	Addr string
	// Kind classifies the failure: ErrPortInUse, ErrForwardRefused,
	// ErrPrivilegedPort, or nil when it is none of those.
	Kind error
	// Err is the underlying error.
	Err error
	// HintText says what to do next; it may be empty.
	HintText string
}

// Error returns "op addr: kind: cause".
func (e *Error) Error() string {
	msg := e.Op + " " + e.Addr
	if e.Kind != nil {
		msg += ": " + e.Kind.Error()
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the kind and the underlying error, so that errors.Is works
// with either.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Hint says what to do next, for the hint field of the contract's errors.
func (e *Error) Hint() string { return e.HintText }
