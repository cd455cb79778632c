package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
)

// Sides of a transfer, as named in error messages and PathError.Side.
const (
	SideLocal  = "local"
	SideRemote = "remote"
)

var (
	// ErrNoSpace reports a full file system or an exhausted quota.
	ErrNoSpace = errors.New("no space left on device")
	// ErrIsDir reports a directory where a file was expected.
	ErrIsDir = errors.New("is a directory")
	// ErrNotDir reports a file where a directory was expected.
	ErrNotDir = errors.New("not a directory")
	// ErrConnectionLost reports that the SFTP connection ended mid-operation.
	ErrConnectionLost = errors.New("connection lost")
	// ErrInvalid reports a bad argument, such as an empty path, a path with a
	// NUL byte or a negative offset.
	ErrInvalid = errors.New("invalid argument")
)

// PathError is a failed file-system operation on one side of a transfer. It
// matches, with errors.Is, the class of the failure (os.ErrNotExist,
// os.ErrPermission, os.ErrExist, ErrNoSpace, ErrIsDir, ErrNotDir,
// ErrConnectionLost or ErrInvalid) when one is known, and the underlying
// error.
type PathError struct {
	// Op is the step that failed: "open", "create", "write", "rename", ….
	Op string
	// Side is SideLocal or SideRemote.
	Side string
	// Path is the path the step was about, as the caller knows it (a
	// destination, never a temporary name).
	Path string
	// Kind is the class of the failure, or nil when it fits none.
	Kind error
	// Err is the underlying error.
	Err error

	msg string // replaces the generic text of Kind or Err when set
}

// Error returns e.g. `create remote "/srv/x": permission denied`.
func (e *PathError) Error() string {
	var reason string
	switch {
	case e.msg != "":
		reason = e.msg
	case e.Kind != nil:
		reason = kindText(e.Kind)
	case e.Err != nil:
		reason = describe(e.Err)
	default:
		reason = "failed"
	}
	return fmt.Sprintf("%s %s %q: %s", e.Op, e.Side, e.Path, reason)
}

// Unwrap returns the class of the failure and the underlying error.
func (e *PathError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// PartialError reports a recursive transfer that stopped part way. The files
// in Done were transferred completely (each atomically); nothing was written
// for the rest, except that the failed file's temporary copy may remain on a
// remote side whose connection was lost.
type PartialError struct {
	// Done lists the destination paths completed before the failure, sorted.
	Done []string
	// Failed is the path the transfer failed on: a destination, or a source
	// that could not be read.
	Failed string
	// BytesSent counts the bytes moved, including those of files that did not
	// complete.
	BytesSent int64
	// Err is the failure.
	Err error
}

// Error says how many files were done and why the transfer stopped.
func (e *PartialError) Error() string {
	return fmt.Sprintf("stopped after %d file(s) at %q: %v", len(e.Done), e.Failed, e.Err)
}

// Unwrap returns the failure.
func (e *PartialError) Unwrap() error { return e.Err }

// newPathError builds a PathError, classifying err.
func newPathError(op, side, p string, err error) *PathError {
	var pe *PathError
	if errors.As(err, &pe) && pe.Side == side && pe.Path == p {
		// Already described for this path; keep it, but adopt the step.
		cp := *pe
		if cp.Op == "" {
			cp.Op = op
		}
		return &cp
	}
	kind := classify(err)
	if kind == nil && side == SideRemote && linkBroken(err) {
		kind = ErrConnectionLost
	}
	return &PathError{Op: op, Side: side, Path: p, Kind: kind, Err: err}
}

// linkBroken reports errors that an SFTP request gets when the SSH channel or
// connection under it is gone: pkg/sftp then fails to send with io.EOF (a
// closed channel) or the network error of the connection.
func linkBroken(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// pathErrorf builds a PathError with an explicit reason.
func pathErrorf(op, side, p string, kind error, format string, args ...any) *PathError {
	return &PathError{Op: op, Side: side, Path: p, Kind: kind, msg: fmt.Sprintf(format, args...)}
}

// classify maps an error to one of the classes callers test with errors.Is,
// or returns nil.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range []error{ErrNoSpace, ErrIsDir, ErrNotDir, ErrConnectionLost, ErrInvalid} {
		if errors.Is(err, k) {
			return k
		}
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ErrNoSpace
	case errors.Is(err, syscall.EISDIR):
		return ErrIsDir
	case errors.Is(err, syscall.ENOTDIR):
		return ErrNotDir
	case errors.Is(err, os.ErrNotExist):
		return os.ErrNotExist
	case errors.Is(err, os.ErrPermission):
		return os.ErrPermission
	case errors.Is(err, os.ErrExist):
		return os.ErrExist
	case errors.Is(err, sftp.ErrSSHFxConnectionLost), errors.Is(err, sftp.ErrSSHFxNoConnection),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe):
		return ErrConnectionLost
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		switch se.FxCode() {
		case sftp.ErrSSHFxNoSuchFile:
			return os.ErrNotExist
		case sftp.ErrSSHFxPermissionDenied:
			return os.ErrPermission
		case sftp.ErrSSHFxConnectionLost, sftp.ErrSSHFxNoConnection:
			return ErrConnectionLost
		case sftp.ErrSSHFxOpUnsupported:
			return errors.ErrUnsupported
		}
		// Last resort: servers other than OpenSSH may say what went wrong
		// only in the status message.
		msg := strings.ToLower(se.Error())
		switch {
		case strings.Contains(msg, "no space"), strings.Contains(msg, "quota"), strings.Contains(msg, "disk full"):
			return ErrNoSpace
		case strings.Contains(msg, "file exists"), strings.Contains(msg, "already exists"):
			return os.ErrExist
		case strings.Contains(msg, "is a directory"):
			return ErrIsDir
		case strings.Contains(msg, "not a directory"):
			return ErrNotDir
		}
	}
	return nil
}

// isFailure reports whether err is the generic SSH_FX_FAILURE status, which
// OpenSSH uses for every errno it has no code for (ENOSPC, EEXIST, EISDIR…).
func isFailure(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure
}

// kindText renders a class of failure the way file tools say it.
func kindText(kind error) string {
	switch kind {
	case os.ErrNotExist:
		return "no such file or directory"
	case os.ErrPermission:
		return "permission denied"
	case os.ErrExist:
		return "already exists"
	case errors.ErrUnsupported:
		return "operation not supported by the server"
	}
	return kind.Error()
}

// describe renders an unclassified error without library prefixes.
func describe(err error) string {
	var se *sftp.StatusError
	if errors.As(err, &se) {
		switch se.FxCode() {
		case sftp.ErrSSHFxFailure:
			return "the server reported a failure (SSH_FX_FAILURE)"
		case sftp.ErrSSHFxBadMessage:
			return "the server rejected the request (SSH_FX_BAD_MESSAGE)"
		}
		return se.Error()
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}
