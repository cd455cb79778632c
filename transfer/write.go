package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// DefaultFileMode is the mode of a file WriteFile creates without a mode.
const DefaultFileMode os.FileMode = 0o644

// appendChunk is the size of one append request; appends are sent one at a
// time so that they land in order on any server.
const appendChunk = 32 << 10

// WriteResult describes a finished WriteFile.
type WriteResult struct {
	// Path is the file written: the resolved path, or the file a symbolic
	// link pointed to.
	Path string
	// BytesWritten counts the bytes written.
	BytesWritten int64
	// Created reports that the file did not exist before.
	Created bool
}

// WriteFile writes what r yields to the remote file path. Without appendMode
// the file is replaced atomically (temporary file, then rename; see the
// package documentation): on any error the old content stays. With
// appendMode the bytes are appended in place (O_APPEND), and an error can
// leave a partial append. mode, when not nil, is applied (before the rename
// when replacing); without it, a replaced file keeps its mode and a new file
// gets DefaultFileMode. A directory is an error matching ErrIsDir; a missing
// parent directory is an error that names it.
func WriteFile(ctx context.Context, c *sftp.Client, path string, r io.Reader, appendMode bool, mode *os.FileMode) (WriteResult, error) {
	fail := func(err error) error { return fmt.Errorf("write %q: %w", path, err) }
	p, err := ResolveRemote(c, path)
	if err != nil {
		return WriteResult{}, fail(err)
	}
	if err := ctx.Err(); err != nil {
		return WriteResult{}, fail(err)
	}
	j := newJob(nil, newRemoteFS(c), Options{Overwrite: true})
	final, old, err := j.resolveTarget(p)
	if err != nil {
		return WriteResult{}, fail(err)
	}
	if old != nil {
		if old.IsDir() {
			return WriteResult{}, fail(pathErrorf("write", SideRemote, p, ErrIsDir, "is a directory"))
		}
		if !old.Mode().IsRegular() && old.Mode()&os.ModeSymlink == 0 {
			return WriteResult{}, fail(pathErrorf("write", SideRemote, p, nil, "not a regular file (%s)", typeName(old.Mode())))
		}
		if !old.Mode().IsRegular() {
			old = nil // a dangling link, replaced by a new file
		}
	}
	m := DefaultFileMode
	switch {
	case mode != nil:
		m = *mode
	case old != nil:
		m = old.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
	}
	var res WriteResult
	if appendMode {
		res, err = j.appendFile(ctx, c, final, r, old == nil, mode)
	} else {
		res, err = j.replaceFile(ctx, final, r, m, old != nil)
	}
	res.Created = old == nil
	if err != nil {
		return res, fail(err)
	}
	return res, nil
}

// replaceFile writes r to a temporary file with mode and renames it over
// final.
func (j *job) replaceFile(ctx context.Context, final string, r io.Reader, mode os.FileMode, replacing bool) (WriteResult, error) {
	res := WriteResult{Path: final}
	tmp := tempName(path.Dir(final), path.Base(final), "tmp")
	w, err := j.dst.createTemp(tmp, mode)
	if err != nil {
		return res, j.createError(final, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = j.dst.remove(tmp)
		}
	}()
	n, srcFailed, err := copyData(ctx, w, r, readerSize(r), j.meter)
	if err != nil {
		_ = w.Close()
		if srcFailed {
			return res, fmt.Errorf("read the content to write: %w", err)
		}
		return res, j.writeError("write", final, err)
	}
	if err := j.dst.flush(w, replacing); err != nil {
		_ = w.Close()
		return res, j.writeError("sync", final, err)
	}
	if err := w.Close(); err != nil {
		return res, j.writeError("close", final, err)
	}
	if err := ctx.Err(); err != nil {
		return res, newPathError("rename", SideRemote, final, err)
	}
	if err := j.commit(tmp, final); err != nil {
		return res, err
	}
	committed = true
	res.BytesWritten = n
	return res, nil
}

// appendFile appends r to final, creating it if needed, one request at a
// time.
func (j *job) appendFile(ctx context.Context, c *sftp.Client, final string, r io.Reader, created bool, mode *os.FileMode) (WriteResult, error) {
	res := WriteResult{Path: final}
	f, err := c.OpenFile(final, os.O_WRONLY|os.O_APPEND|os.O_CREATE)
	if err != nil {
		return res, j.createError(final, err)
	}
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	switch {
	case mode != nil:
		err = f.Chmod(*mode)
	case created:
		err = f.Chmod(DefaultFileMode)
	}
	if err != nil {
		return res, newPathError("chmod", SideRemote, final, err)
	}
	// OpenSSH ignores offsets on an O_APPEND handle; other servers may not,
	// so write from the current end.
	fi, err := f.Stat()
	if err != nil {
		return res, newPathError("stat", SideRemote, final, err)
	}
	if _, err := f.Seek(fi.Size(), io.SeekStart); err != nil {
		return res, newPathError("seek", SideRemote, final, err)
	}
	buf := make([]byte, appendChunk)
	for {
		if err := ctx.Err(); err != nil {
			return res, newPathError("append to", SideRemote, final, err)
		}
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			m, werr := f.Write(buf[:n])
			res.BytesWritten += int64(m)
			if werr != nil {
				return res, j.writeError("append to", final, werr)
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return res, fmt.Errorf("read the content to write: %w", rerr)
		}
	}
	cf := f
	f = nil
	if err := cf.Close(); err != nil {
		return res, j.writeError("close", final, err)
	}
	return res, nil
}

// readerSize returns the length of r when it tells, else -1.
func readerSize(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface{ Size() int64 }:
		return v.Size()
	case interface{ Stat() (os.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}
