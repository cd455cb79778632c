package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/textsafe"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/transfer"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sftpClient returns the session's SFTP client on its live connection,
// (re)creating it after a reconnect.
func (s *Session) sftpClient(ctx context.Context) (*sftp.Client, error) {
	for attempt := 0; ; attempt++ {
		c, err := s.conn(ctx)
		if err != nil {
			return nil, err
		}
		sc, err := s.sftpFor(ctx, c)
		if err != nil && isConnGone(err) && attempt < 1 {
			// The connection died before the session noticed: drop it and reconnect once.
			c.Close()
			waitConnGone(ctx, s, c)
			continue
		}
		return sc, err
	}
}

// sftpFor returns the SFTP client on connection c, starting one if needed.
func (s *Session) sftpFor(ctx context.Context, c *ssh.Client) (*sftp.Client, error) {
	s.mu.Lock()
	if s.sftp != nil && s.sftpOn == c {
		sc := s.sftp
		s.mu.Unlock()
		return sc, nil
	}
	s.mu.Unlock()
	// Past the server's MaxSessions the open fails ("open failed"): wait for
	// a free channel, as execs do.
	sc, err := retryBusy(ctx, func() (*sftp.Client, error) { return transfer.NewClient(c) })
	if err != nil {
		if isConnGone(err) {
			return nil, Wrap(CodeConnectionLost, err, "run it again; the session reconnects", "start SFTP on session %s", s.id)
		}
		return nil, Wrap(CodeConnectionLost, err, "check that the server has an sftp subsystem (Subsystem sftp in sshd_config)", "start SFTP on session %s", s.id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sftp != nil && s.sftpOn == c {
		sc.Close()
		return s.sftp, nil
	}
	if s.sftp != nil {
		s.sftp.Close()
	}
	s.sftp, s.sftpOn = sc, c
	s.h.removeLeftovers(s, sc)
	return sc, nil
}

// addLeftovers remembers remote temporary files a failed upload could not
// remove (its link died), to remove them once the session is connected again.
func (h *Holder) addLeftovers(s *Session, paths []string) {
	if len(paths) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leftovers[s] = append(h.leftovers[s], paths...)
}

// removeLeftovers removes the remembered temporary files of s through sc.
func (h *Holder) removeLeftovers(s *Session, sc *sftp.Client) {
	h.mu.Lock()
	paths := h.leftovers[s]
	delete(h.leftovers, s)
	h.mu.Unlock()
	var keep []string
	for _, p := range paths {
		if err := sc.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			keep = append(keep, p)
		}
	}
	if len(paths) > 0 {
		h.cfg.Logger.Info("removed temporary files left by a cut upload", "session", s.id, "removed", len(paths)-len(keep))
	}
	if len(keep) > 0 {
		h.addLeftovers(s, keep)
	}
}

// cleanLeftovers, when s still has temporary files on the host, connects
// (briefly) to remove them before the session closes.
func (h *Holder) cleanLeftovers(ctx context.Context, s *Session) {
	h.mu.Lock()
	n := len(h.leftovers[s])
	h.mu.Unlock()
	if n == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if sc, err := s.sftpClient(ctx); err == nil {
		h.removeLeftovers(s, sc)
	}
	h.mu.Lock()
	delete(h.leftovers, s)
	h.mu.Unlock()
}

// idempotent runs op, a read that is safe to repeat, on the session's SFTP
// client; when the connection proves dead under it (it dropped before the
// session noticed), op runs once more on a fresh connection.
func (s *Session) idempotent(ctx context.Context, op func(sc *sftp.Client) error) error {
	for attempt := 0; ; attempt++ {
		sc, err := s.sftpClient(ctx)
		if err != nil {
			return err
		}
		err = op(sc)
		if err == nil || attempt >= 1 || ctx.Err() != nil || !(errors.Is(err, transfer.ErrConnectionLost) || isConnGone(err)) {
			return err
		}
		s.mu.Lock()
		c := s.sftpOn
		if s.sftp != sc {
			c = nil
		}
		s.mu.Unlock()
		if c != nil {
			c.Close()
			waitConnGone(ctx, s, c)
		}
	}
}

// fileErr maps a transfer error to a contract error.
func fileErr(s *Session, err error) error { return fileErrSent(s, err, 0) }

// fileErrSent is fileErr for a transfer that had moved sent bytes when it failed.
func fileErrSent(s *Session, err error, sent int64) error {
	if err == nil {
		return nil
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return AsError(err)
	}
	code, hint := CodeInternal, "see the holder log"
	switch {
	case errors.Is(err, transfer.ErrConnectionLost):
		code, hint = CodeConnectionLost, "run it again; the session reconnects, and the destination was left untouched"
	case errors.Is(err, os.ErrNotExist):
		code, hint = CodeNotFound, "check the path (and the side it names)"
	case errors.Is(err, os.ErrPermission):
		code, hint = CodePermissionDenied, "check the file's owner and mode, or pick another path"
	case errors.Is(err, os.ErrExist):
		code, hint = CodeExists, "pass overwrite, or pick another destination"
	case errors.Is(err, transfer.ErrNoSpace):
		code, hint = CodeNoSpace, "free space on that side; the destination was left untouched"
	case errors.Is(err, transfer.ErrIsDir), errors.Is(err, transfer.ErrNotDir), errors.Is(err, transfer.ErrInvalid):
		code, hint = CodeInvalidArgument, "check the paths (use recursive for directories)"
	case isConnGone(err):
		code, hint = CodeConnectionLost, "run it again; the session reconnects"
	}
	msg := err.Error()
	var pe *transfer.PartialError
	if errors.As(err, &pe) {
		msg = fmt.Sprintf("%s (%d file(s) completed, %d bytes sent)", msg, len(pe.Done), pe.BytesSent)
	} else if code == CodeConnectionLost || sent > 0 {
		msg = fmt.Sprintf("%s (%d bytes sent before the failure)", msg, sent)
	}
	return &Error{Code: code, Message: msg, Hint: hint, Err: err}
}

// transferProgress returns a transfer's progress callback: it records the
// bytes moved in sent (for the error of a failed transfer) and reports them
// to the caller when it asked for progress.
func (c Caller) transferProgress(sent *atomic.Int64) func(done, total int64) {
	return func(done, total int64) {
		sent.Store(done)
		if c.Progress != nil {
			c.progress(ProgressUpdate{Done: done, Total: total})
		}
	}
}

// Upload copies a local file or tree to the host, atomically per file.
func (h *Holder) Upload(ctx context.Context, req UploadRequest) (UploadResult, error) {
	defer h.track()()
	start := time.Now()
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return UploadResult{}, err
	}
	if req.LocalPath == "" || req.RemotePath == "" {
		return UploadResult{}, Errf(CodeInvalidArgument, "pass local_path and remote_path", "upload needs a local and a remote path")
	}
	sc, err := s.sftpClient(ctx)
	if err != nil {
		return UploadResult{}, err
	}
	dest, err := transfer.ResolveRemote(sc, req.RemotePath)
	if err != nil {
		return UploadResult{}, fileErr(s, err)
	}
	var sent atomic.Int64
	st, err := transfer.Upload(ctx, sc, req.LocalPath, req.RemotePath, transfer.Options{Recursive: req.Recursive, Preserve: req.Preserve,
		Overwrite: req.Overwrite == nil || *req.Overwrite, Progress: CallerFrom(ctx).transferProgress(&sent)})
	if err != nil {
		h.addLeftovers(s, st.Leftovers)
		return UploadResult{Files: st.Files, Bytes: st.Bytes}, fileErrSent(s, err, sent.Load())
	}
	s.touch()
	return UploadResult{Files: st.Files, Bytes: st.Bytes, DurationMS: time.Since(start).Milliseconds(), RemotePath: dest}, nil
}

// Download copies a remote file or tree here, atomically per file.
func (h *Holder) Download(ctx context.Context, req DownloadRequest) (DownloadResult, error) {
	defer h.track()()
	start := time.Now()
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return DownloadResult{}, err
	}
	if req.LocalPath == "" || req.RemotePath == "" {
		return DownloadResult{}, Errf(CodeInvalidArgument, "pass remote_path and local_path", "download needs a remote and a local path")
	}
	sc, err := s.sftpClient(ctx)
	if err != nil {
		return DownloadResult{}, err
	}
	var sent atomic.Int64
	st, err := transfer.Download(ctx, sc, req.RemotePath, req.LocalPath, transfer.Options{Recursive: req.Recursive, Preserve: req.Preserve,
		Overwrite: req.Overwrite == nil || *req.Overwrite, Progress: CallerFrom(ctx).transferProgress(&sent)})
	if err != nil {
		for _, p := range st.Leftovers {
			os.Remove(p) // local: the link's death does not stop us
		}
		return DownloadResult{Files: st.Files, Bytes: st.Bytes}, fileErrSent(s, err, sent.Load())
	}
	s.touch()
	return DownloadResult{Files: st.Files, Bytes: st.Bytes, DurationMS: time.Since(start).Milliseconds(), LocalPath: req.LocalPath}, nil
}

// ReadFile reads a window of a remote text file; binary content is reported, not returned.
func (h *Holder) ReadFile(ctx context.Context, req ReadFileRequest) (ReadFileResult, error) {
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return ReadFileResult{}, err
	}
	if req.Offset < 0 || req.Limit < 0 {
		return ReadFileResult{}, Errf(CodeInvalidArgument, "offsets and limits are byte counts from 0", "offset %d / limit %d is negative", req.Offset, req.Limit)
	}
	if req.Limit == 0 {
		req.Limit = 65536
	}
	var r transfer.ReadResult
	err = s.idempotent(ctx, func(sc *sftp.Client) (err error) {
		r, err = transfer.ReadFile(ctx, sc, req.RemotePath, req.Offset, req.Limit)
		return err
	})
	if err != nil {
		return ReadFileResult{}, fileErr(s, err)
	}
	text, lossy := textsafe.ValidUTF8(r.Content)
	return ReadFileResult{Content: text, Size: r.Size, Offset: r.Offset, BytesRead: r.BytesRead, Truncated: r.Truncated, Binary: r.Binary,
		Encoding: textsafe.Encoding(lossy), TypeGuess: r.TypeGuess}, nil
}

// WriteFile writes (atomically) or appends text to a remote file.
func (h *Holder) WriteFile(ctx context.Context, req WriteFileRequest) (WriteFileResult, error) {
	defer h.track()()
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return WriteFileResult{}, err
	}
	var mode *os.FileMode
	if req.Mode != "" {
		m, err := strconv.ParseUint(strings.TrimPrefix(req.Mode, "0o"), 8, 32)
		if err != nil || m > 0o7777 {
			return WriteFileResult{}, Errf(CodeInvalidArgument, "give octal permissions such as 0644 or 0600", "mode %q is not an octal permission", req.Mode)
		}
		fm := os.FileMode(m)
		mode = &fm
	}
	sc, err := s.sftpClient(ctx)
	if err != nil {
		return WriteFileResult{}, err
	}
	r, err := transfer.WriteFile(ctx, sc, req.RemotePath, strings.NewReader(req.Content), req.Append, mode)
	if err != nil {
		return WriteFileResult{}, fileErr(s, err)
	}
	return WriteFileResult{RemotePath: r.Path, BytesWritten: r.BytesWritten, Created: r.Created}, nil
}

// ListDir lists a remote directory.
func (h *Holder) ListDir(ctx context.Context, req ListDirRequest) (ListDirResult, error) {
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return ListDirResult{}, err
	}
	var p string
	var entries []transfer.Entry
	err = s.idempotent(ctx, func(sc *sftp.Client) (err error) {
		p, entries, err = transfer.ListDir(ctx, sc, req.RemotePath, req.All)
		return err
	})
	if err != nil {
		return ListDirResult{}, fileErr(s, err)
	}
	res := ListDirResult{Path: p, Entries: make([]DirEntry, 0, len(entries))}
	for _, e := range entries {
		res.Entries = append(res.Entries, DirEntry{Name: e.Name, Type: e.Type, Size: e.Size, Mode: octalMode(e.Mode),
			MTime: e.ModTime.UTC(), LinkTarget: e.LinkTarget})
	}
	return res, nil
}

// octalMode renders permissions with setuid, setgid and sticky bits as "0755".
func octalMode(m os.FileMode) string {
	v := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		v |= 0o1000
	}
	return fmt.Sprintf("%04o", v)
}
