package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// fsys is one side of a transfer: the local file system or the remote one
// behind an SFTP client. Paths use "/" on both sides.
type fsys interface {
	side() string
	stat(p string) (os.FileInfo, error)
	lstat(p string) (os.FileInfo, error)
	readDir(ctx context.Context, p string) ([]os.FileInfo, error)
	// realPath resolves every symbolic link in p.
	realPath(p string) (string, error)
	mkdir(p string, perm os.FileMode) error
	chmod(p string, mode os.FileMode) error
	chtimes(p string, atime, mtime time.Time) error
	readLink(p string) (string, error)
	symlink(target, p string) error
	remove(p string) error
	openRead(p string) (io.ReadCloser, error)
	// createTemp creates p exclusively, with mode, for writing.
	createTemp(p string, mode os.FileMode) (io.WriteCloser, error)
	// flush makes a written file durable before it is closed and renamed;
	// replacing says that it will replace an existing file.
	flush(w io.WriteCloser, replacing bool) error
	// replace renames tmp over target atomically.
	replace(tmp, target string) error
	// install renames tmp to target, failing with os.ErrExist if target
	// exists.
	install(tmp, target string) error
	// newMode is the mode of a new file or directory whose source has perm.
	newMode(perm os.FileMode) os.FileMode
	// spaceExhausted reports whether the file system holding dir is full.
	spaceExhausted(dir string) bool
	// identity names the directory p for loop detection.
	identity(p string, fi os.FileInfo) string
	atime(fi os.FileInfo) time.Time
}

// localFS is the local file system.
type localFS struct {
	umask os.FileMode
}

func newLocalFS() *localFS { return &localFS{umask: localUmask()} }

func (l *localFS) side() string                             { return SideLocal }
func (l *localFS) stat(p string) (os.FileInfo, error)       { return os.Stat(p) }
func (l *localFS) lstat(p string) (os.FileInfo, error)      { return os.Lstat(p) }
func (l *localFS) realPath(p string) (string, error)        { return filepath.EvalSymlinks(p) }
func (l *localFS) chmod(p string, mode os.FileMode) error   { return os.Chmod(p, mode) }
func (l *localFS) readLink(p string) (string, error)        { return os.Readlink(p) }
func (l *localFS) symlink(target, p string) error           { return os.Symlink(target, p) }
func (l *localFS) remove(p string) error                    { return os.Remove(p) }
func (l *localFS) openRead(p string) (io.ReadCloser, error) { return os.Open(p) }
func (l *localFS) replace(tmp, target string) error         { return os.Rename(tmp, target) }
func (l *localFS) newMode(perm os.FileMode) os.FileMode     { return perm &^ l.umask }
func (l *localFS) chtimes(p string, a, m time.Time) error   { return os.Chtimes(p, a, m) }
func (l *localFS) mkdir(p string, perm os.FileMode) error   { return os.Mkdir(p, perm) }
func (l *localFS) createTempFile(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

func (l *localFS) readDir(ctx context.Context, p string) ([]os.FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var infos []os.FileInfo
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch, err := f.Readdir(1024)
		infos = append(infos, batch...)
		if errors.Is(err, io.EOF) {
			return infos, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (l *localFS) createTemp(p string, mode os.FileMode) (io.WriteCloser, error) {
	f, err := l.createTempFile(p)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(p)
		return nil, err
	}
	return f, nil
}

func (l *localFS) flush(w io.WriteCloser, replacing bool) error {
	if f, ok := w.(*os.File); ok {
		return f.Sync()
	}
	return nil
}

// install links tmp to target (link(2) never replaces) and removes tmp. On
// file systems without hard links it falls back to a check and a rename.
func (l *localFS) install(tmp, target string) error {
	err := os.Link(tmp, target)
	if err == nil {
		_ = os.Remove(tmp)
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(target); serr == nil {
		return &os.PathError{Op: "rename", Path: target, Err: os.ErrExist}
	}
	return os.Rename(tmp, target)
}

func (l *localFS) spaceExhausted(dir string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return uint64(st.Bavail)*uint64(st.Bsize) < lowSpace || st.Ffree == 0
}

func (l *localFS) identity(p string, fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
	}
	if rp, err := filepath.EvalSymlinks(p); err == nil {
		return rp
	}
	return p
}

func (l *localFS) atime(fi os.FileInfo) time.Time {
	if t, ok := statAtime(fi); ok {
		return t
	}
	return fi.ModTime()
}

// lowSpace is the free space under which a generic write failure is taken to
// mean that the file system is full.
const lowSpace = 1 << 20

// remoteFS is the remote file system behind an SFTP client.
type remoteFS struct {
	c           *sftp.Client
	posixRename bool // posix-rename@openssh.com is advertised
	statVFS     bool // statvfs@openssh.com is advertised
	fsync       bool // fsync@openssh.com is advertised
}

// newRemoteFS inspects the server's extensions once.
func newRemoteFS(c *sftp.Client) *remoteFS {
	r := &remoteFS{c: c}
	_, r.posixRename = c.HasExtension("posix-rename@openssh.com")
	_, r.statVFS = c.HasExtension("statvfs@openssh.com")
	_, r.fsync = c.HasExtension("fsync@openssh.com")
	return r
}

func (r *remoteFS) side() string                        { return SideRemote }
func (r *remoteFS) stat(p string) (os.FileInfo, error)  { return r.c.Stat(p) }
func (r *remoteFS) lstat(p string) (os.FileInfo, error) { return r.c.Lstat(p) }
func (r *remoteFS) realPath(p string) (string, error)   { return r.c.RealPath(p) }
func (r *remoteFS) chmod(p string, m os.FileMode) error { return r.c.Chmod(p, m) }
func (r *remoteFS) readLink(p string) (string, error)   { return r.c.ReadLink(p) }
func (r *remoteFS) symlink(target, p string) error      { return r.c.Symlink(target, p) }
func (r *remoteFS) remove(p string) error               { return r.c.Remove(p) }
func (r *remoteFS) newMode(perm os.FileMode) os.FileMode {
	return perm &^ 0o022
}

func (r *remoteFS) chtimes(p string, a, m time.Time) error { return r.c.Chtimes(p, a, m) }

func (r *remoteFS) readDir(ctx context.Context, p string) ([]os.FileInfo, error) {
	return r.c.ReadDirContext(ctx, p)
}

func (r *remoteFS) mkdir(p string, perm os.FileMode) error {
	if err := r.c.Mkdir(p); err != nil {
		return err
	}
	return r.c.Chmod(p, perm)
}

func (r *remoteFS) openRead(p string) (io.ReadCloser, error) { return r.c.Open(p) }

// createTemp opens p with O_EXCL and sets its mode on the handle before any
// data is written, so that a private file is never readable by others, not
// even while it is being written.
func (r *remoteFS) createTemp(p string, mode os.FileMode) (io.WriteCloser, error) {
	f, err := r.c.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		_ = r.c.Remove(p)
		return nil, err
	}
	return f, nil
}

// flush asks the server to fsync (fsync@openssh.com) a file that will
// replace another, so that a crash of the server after the rename cannot
// lose both the old and the new content. New files are not synced (as by
// OpenSSH's sftp without -f): it made uploads of many small files 4 times
// slower, and a crash then loses nothing that existed before.
func (r *remoteFS) flush(w io.WriteCloser, replacing bool) error {
	if f, ok := w.(*sftp.File); ok && r.fsync && replacing {
		return f.Sync()
	}
	return nil
}

func (r *remoteFS) replace(tmp, target string) error {
	if r.posixRename {
		return r.c.PosixRename(tmp, target)
	}
	return r.replaceFallback(tmp, target)
}

// replaceFallback replaces target without posix-rename@openssh.com: SFTP's
// own rename refuses an existing target, so the old file is renamed aside
// first, and renamed back if the new one cannot be put in place.
func (r *remoteFS) replaceFallback(tmp, target string) error {
	err := r.c.Rename(tmp, target)
	if err == nil {
		return nil
	}
	if _, serr := r.c.Lstat(target); serr != nil {
		return err // the target is absent: the rename failed for another reason
	}
	aside := tempName(path.Dir(target), path.Base(target), "old")
	if err := r.c.Rename(target, aside); err != nil {
		return fmt.Errorf("move the old file aside: %w", err)
	}
	if err := r.c.Rename(tmp, target); err != nil {
		if rerr := r.c.Rename(aside, target); rerr != nil {
			return fmt.Errorf("%w (and the old file could not be put back from %q: %v)", err, aside, rerr)
		}
		return err
	}
	_ = r.c.Remove(aside)
	return nil
}

// install uses SFTP's plain rename, which must not replace an existing
// target (OpenSSH links and unlinks). If the server replaced it anyway we
// cannot tell; if it failed, an existing target means os.ErrExist.
func (r *remoteFS) install(tmp, target string) error {
	err := r.c.Rename(tmp, target)
	if err == nil {
		return nil
	}
	if _, serr := r.c.Lstat(target); serr == nil {
		return &os.PathError{Op: "rename", Path: target, Err: os.ErrExist}
	}
	return err
}

func (r *remoteFS) spaceExhausted(dir string) bool {
	if !r.statVFS {
		return false
	}
	st, err := r.c.StatVFS(dir)
	if err != nil {
		return false
	}
	return st.Bavail*st.Frsize < lowSpace || st.Favail == 0
}

func (r *remoteFS) identity(p string, fi os.FileInfo) string {
	if rp, err := r.c.RealPath(p); err == nil {
		return rp
	}
	return p
}

func (r *remoteFS) atime(fi os.FileInfo) time.Time {
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		return time.Unix(int64(st.Atime), 0)
	}
	return fi.ModTime()
}
