package session

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// maxSocketPath is the longest unix socket path the kernel accepts (sun_path less its NUL).
const maxSocketPath = 107

// SocketPath returns where the holder listens: $MCP_REMOTE_SSH_SOCKET, else
// $XDG_RUNTIME_DIR/mcp-remote-ssh/holder.sock, else a per-user dir under the cache dir.
func SocketPath() (string, error) {
	if p := os.Getenv("MCP_REMOTE_SSH_SOCKET"); p != "" {
		return filepath.Abs(p)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "mcp-remote-ssh", "holder.sock"), nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	return filepath.Join(cache, "mcp-remote-ssh-"+strconv.Itoa(os.Getuid()), "holder.sock"), nil
}

// StateDir returns $XDG_STATE_HOME/mcp-remote-ssh (else ~/.local/state/mcp-remote-ssh), created 0700.
func StateDir() (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("state dir: %w", err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	d := filepath.Join(base, "mcp-remote-ssh")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("create state dir %s: %w", d, err)
	}
	return d, nil
}

// checkSocketLen refuses a path too long for a unix socket.
func checkSocketLen(path string) error {
	if len(path) > maxSocketPath {
		return Errf(CodeInvalidArgument, "set MCP_REMOTE_SSH_SOCKET (or XDG_RUNTIME_DIR) to a shorter path",
			"socket path %s is %d bytes long; unix sockets allow at most %d", path, len(path), maxSocketPath)
	}
	return nil
}

// checkSocketPath validates the socket path's length and prepares its
// directory: created 0700 when missing. An existing one must be a real
// directory owned by us that nobody else can write to; it is refused, never
// chmod-ed (it may be a directory of the user's, such as $HOME).
func checkSocketPath(path string) error {
	if err := checkSocketLen(path); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Wrap(CodeHolderUnavailable, err, "check the parent directory's permissions", "create socket directory %s", dir)
	}
	return checkSocketDir(dir)
}

// checkSocketDir refuses a socket directory that is not ours alone. A
// missing one is fine (nothing can be listening in it).
func checkSocketDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return Wrap(CodeHolderUnavailable, err, "", "socket directory %s", dir)
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	const elsewhere = "remove it, or point MCP_REMOTE_SSH_SOCKET elsewhere"
	switch {
	case st.Mode()&os.ModeSymlink != 0:
		return Errf(CodePermissionDenied, elsewhere, "socket directory %s is a symlink; refusing to use it", dir)
	case !st.IsDir():
		return Errf(CodePermissionDenied, elsewhere, "socket directory %s is not a directory", dir)
	case sys != nil && int(sys.Uid) != os.Getuid():
		return Errf(CodePermissionDenied, elsewhere, "socket directory %s is owned by uid %d, not by us (uid %d); refusing to use it", dir, sys.Uid, os.Getuid())
	case st.Mode().Perm()&0o022 != 0:
		// Others could plant files beside the socket (its lock, a fake socket).
		return Errf(CodePermissionDenied, "run: chmod 700 "+dir+" (or point MCP_REMOTE_SSH_SOCKET at a private directory)",
			"socket directory %s is writable by others (mode %04o); refusing to use it", dir, st.Mode().Perm())
	}
	return nil
}

// CheckSocket reports whether a holder answers on path, refusing, as
// [EnsureHolder] does, a path that is not ours: too long, a symlink or another
// kind of file, a socket or directory of another user, a directory others can
// write to. It creates nothing and starts nothing.
func CheckSocket(path string) (live bool, err error) {
	if err := checkSocketLen(path); err != nil {
		return false, err
	}
	if err := checkSocketDir(filepath.Dir(path)); err != nil {
		return false, err
	}
	live, _, err = inspectSocket(path)
	return live, err
}

// inspectSocket tells what is at path: nothing, our live holder, our stale
// socket, or something we must not touch (symlink, other file, other owner).
func inspectSocket(path string) (live bool, stale bool, err error) {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, Wrap(CodeHolderUnavailable, err, "", "inspect socket %s", path)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return false, false, Errf(CodePermissionDenied, "remove it yourself if it is safe", "%s is a symlink, not our socket; refusing to use or delete it", path)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return false, false, Errf(CodePermissionDenied, "remove it yourself if it is safe", "%s exists and is not a socket; refusing to use or delete it", path)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return false, false, Errf(CodePermissionDenied, "remove it yourself if it is safe, or set MCP_REMOTE_SSH_SOCKET", "socket %s is owned by uid %d, not by us (uid %d); refusing to use it", path, sys.Uid, os.Getuid())
	}
	c, derr := net.DialTimeout("unix", path, 2*time.Second)
	switch {
	case derr == nil:
		c.Close()
		return true, false, nil
	case errors.Is(derr, syscall.ECONNREFUSED):
		// Nobody listens: the socket of a holder that died.
		return false, true, nil
	case errors.Is(derr, syscall.EAGAIN):
		// A full backlog: a holder listens but is busy.
		return true, false, nil
	}
	// Anything else (a timeout, ...) is not proof that the holder is gone:
	// never remove a socket a live holder may still serve.
	return false, false, Wrap(CodeHolderUnavailable, derr, "run the command again; if it persists, stop the holder (mcp-remote-ssh holder stop) or kill it",
		"the holder socket %s exists but does not answer", path)
}

// Listen prepares the socket directory and listens on path with mode 0600.
// A live holder already there is an error; a stale socket of ours is replaced.
func Listen(path string) (net.Listener, error) {
	if err := checkSocketPath(path); err != nil {
		return nil, err
	}
	live, stale, err := inspectSocket(path)
	if err != nil {
		return nil, err
	}
	if live {
		return nil, Errf(CodeHolderUnavailable, "use it, or stop it first", "a holder is already listening on %s", path)
	}
	if stale {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, Wrap(CodeHolderUnavailable, err, "", "remove stale socket %s", path)
		}
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, Wrap(CodeHolderUnavailable, err, "", "listen on %s", path)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, Wrap(CodeHolderUnavailable, err, "", "chmod socket %s", path)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	return ln, nil
}
