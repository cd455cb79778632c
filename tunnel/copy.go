package tunnel

import (
	"io"
	"net"
	"sync/atomic"
)

// closeWriter is implemented by *net.TCPConn and by the connections
// *ssh.Client.Dial returns (CloseWrite sends the channel's EOF).
type closeWriter interface {
	CloseWrite() error
}

// readerOnly hides a WriteTo method so that io.CopyBuffer uses our buffer.
type readerOnly struct{ r io.Reader }

func (r readerOnly) Read(p []byte) (int, error) { return r.r.Read(p) }

// countingWriter adds the bytes written to n; it has no ReadFrom, so that
// io.CopyBuffer uses our buffer.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// pipe copies client->target and target->client at once and returns when
// both directions have ended. The caller closes both connections.
func (f *Forward) pipe(client, target net.Conn) {
	done := make(chan struct{})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer close(done)
		f.copyHalf(target, client, &f.bytesOut)
	}()
	f.copyHalf(client, target, &f.bytesIn)
	<-done
}

// copyHalf copies src to dst until src's EOF, then closes dst's write half
// so that the peer sees EOF while the other direction goes on. On an error,
// or when dst cannot half-close, it closes both connections, which ends the
// other direction too.
func (f *Forward) copyHalf(dst, src net.Conn, n *atomic.Int64) {
	bp := f.bufs.Get().(*[]byte)
	_, err := io.CopyBuffer(countingWriter{dst, n}, readerOnly{src}, *bp)
	f.bufs.Put(bp)
	if err == nil {
		if cw, ok := dst.(closeWriter); ok && cw.CloseWrite() == nil {
			return
		}
	} else if f.ctx.Err() == nil {
		f.logger.Debug("forward: copy ended", "listen", f.spec.Listen(), "err", err)
	}
	_ = src.Close()
	_ = dst.Close()
}
