package transfer

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
)

// progressInterval is the least time between two progress reports while
// bytes move.
const progressInterval = 250 * time.Millisecond

// meter counts the bytes of a transfer and reports them, serialized and at
// most every progressInterval, to an Options.Progress callback.
type meter struct {
	fn       func(done, total int64)
	interval time.Duration
	total    int64
	done     atomic.Int64
	last     atomic.Int64 // UnixNano of the last report
	mu       sync.Mutex   // serializes calls to fn
}

func newMeter(fn func(done, total int64)) *meter {
	m := &meter{fn: fn, interval: progressInterval}
	m.last.Store(time.Now().UnixNano())
	return m
}

func (m *meter) add(n int64) {
	if n <= 0 {
		return
	}
	m.done.Add(n)
	if m.fn == nil {
		return
	}
	now := time.Now().UnixNano()
	last := m.last.Load()
	if now-last < int64(m.interval) || !m.last.CompareAndSwap(last, now) {
		return
	}
	m.report()
}

// report calls the callback now.
func (m *meter) report() {
	if m.fn == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fn(m.done.Load(), m.total)
}

// sideError marks an error of a reader or writer wrapped by copyData, so
// that the failure is put on the right side.
type sideError struct {
	source bool
	err    error
}

func (e *sideError) Error() string { return e.err.Error() }
func (e *sideError) Unwrap() error { return e.err }

// meterReader checks for cancellation before each read and counts bytes.
type meterReader struct {
	ctx   context.Context
	r     io.Reader
	m     *meter
	count bool
}

func (r *meterReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := r.r.Read(p)
	if r.count {
		r.m.add(int64(n))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = &sideError{source: true, err: err}
	}
	return n, err
}

// meterWriter checks for cancellation before each write and counts bytes.
type meterWriter struct {
	ctx   context.Context
	w     io.Writer
	m     *meter
	count bool
}

func (w *meterWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	if w.count {
		w.m.add(int64(n))
	}
	if err != nil {
		err = &sideError{err: err}
	}
	return n, err
}

// copyBufferSize is the buffer of local-to-local copies.
const copyBufferSize = 256 << 10

// maxConcurrency caps the pipelined requests asked for one upload; the
// client's MaxConcurrentRequestsPerFile caps it further.
const maxConcurrency = 64

// copyData copies src to dst with pipelined SFTP requests when one side is
// remote: (*sftp.File).ReadFromWithConcurrency for uploads and
// (*sftp.File).WriteTo for downloads. size is the expected length, or -1
// (for the concurrency of uploads). It returns the bytes copied and whether a failure
// came from the source.
func copyData(ctx context.Context, dst io.Writer, src io.Reader, size int64, m *meter) (n int64, srcFailed bool, err error) {
	switch {
	case isSFTPFile(dst):
		// Concurrent writes are safe here whatever the client's settings:
		// the file is a temporary one, discarded on any error.
		conc := maxConcurrency // size unknown
		if size >= 0 {
			conc = int(min(size/(32<<10)+1, maxConcurrency))
		}
		r := &meterReader{ctx: ctx, r: src, m: m, count: true}
		n, err = dst.(*sftp.File).ReadFromWithConcurrency(r, conc)
	case isSFTPFile(src):
		w := &meterWriter{ctx: ctx, w: dst, m: m, count: true}
		n, err = src.(*sftp.File).WriteTo(w)
		if err != nil && ctx.Err() == nil && !errors.As(err, new(*sideError)) {
			srcFailed = true // an error of the remote file itself
		}
	default:
		r := &meterReader{ctx: ctx, r: src, m: m}
		w := &meterWriter{ctx: ctx, w: dst, m: m, count: true}
		n, err = io.CopyBuffer(w, r, make([]byte, copyBufferSize))
	}
	if err == nil {
		return n, false, nil
	}
	if ce := ctx.Err(); ce != nil {
		return n, false, ce
	}
	var se *sideError
	if errors.As(err, &se) {
		return n, se.source, se.err
	}
	return n, srcFailed, err
}

func isSFTPFile(v any) bool {
	_, ok := v.(*sftp.File)
	return ok
}
