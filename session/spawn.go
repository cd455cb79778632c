package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// EnsureHolder makes sure a holder answers on path, calling start to launch
// one when none does. Racing callers are serialised by a lock file beside the
// socket, so exactly one holder starts. replaced reports that a stale socket
// (a holder that died) was found: its sessions are gone.
func EnsureHolder(ctx context.Context, path string, start func() error) (started, replaced bool, err error) {
	if err := checkSocketPath(path); err != nil {
		return false, false, err
	}
	live, _, err := inspectSocket(path)
	if err != nil || live {
		return false, false, err
	}
	unlock, err := lockFile(ctx, holderLockPath(path))
	if err != nil {
		return false, false, err
	}
	defer unlock()
	live, stale, err := inspectSocket(path)
	if err != nil || live {
		return false, false, err
	}
	if err := start(); err != nil {
		return false, stale, Wrap(CodeHolderUnavailable, err, "", "start the holder")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if live, _, err := inspectSocket(path); err == nil && live {
			return true, stale, nil
		}
		select {
		case <-ctx.Done():
			return false, stale, AsError(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return false, stale, Errf(CodeHolderUnavailable, "see the holder log in ~/.local/state/mcp-remote-ssh/holder.log (or $XDG_STATE_HOME)",
		"the holder did not start listening on %s within 10s", path)
}

// lockFile takes an exclusive flock on path, waiting up to 15 s.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, Wrap(CodeHolderUnavailable, err, "remove it if it is not ours", "open lock %s", path)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, Errf(CodePermissionDenied, "remove it if it is safe", "lock %s is not a regular file; refusing to use it", path)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, Wrap(CodeHolderUnavailable, err, "another mcp-remote-ssh may be stuck starting the holder; try again", "lock %s", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, AsError(ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// holderLockPath is the lock serialising holder start-up for the socket at
// path: in the state dir ($XDG_STATE_HOME/mcp-remote-ssh/, as the contract
// puts state), named after the socket so two sockets never share a lock;
// beside the socket when the state dir cannot be made.
func holderLockPath(path string) string {
	dir, err := StateDir()
	if err != nil {
		return path + ".lock"
	}
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(dir, "holder-"+hex.EncodeToString(sum[:4])+".lock")
}
