package session

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// Frame types of an upgraded stream (streamed exec, shell attach).
const (
	// client -> holder
	FrameStdin    byte = 'i'
	FrameStdinEOF byte = 'e'
	FrameResize   byte = 'r'
	FrameCancel   byte = 'c'
	// holder -> client
	FrameStdout   byte = 'o'
	FrameStderr   byte = 'E'
	FramePrompt   byte = 'p'
	FrameProgress byte = 'g'
	FrameResult   byte = 'R'
	FrameError    byte = 'X'
)

// MaxFrame is the largest frame payload accepted.
const MaxFrame = 1 << 20

// WriteFrame writes one frame: a type byte, a big-endian uint32 length, the payload.
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > MaxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), MaxFrame)
	}
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := w.Write(payload)
	return err
}

// ReadFrame reads one frame into buf (grown as needed, never past MaxFrame).
func ReadFrame(r io.Reader, buf []byte) (typ byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds %d", n, MaxFrame)
	}
	if cap(buf) >= int(n) {
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return 0, nil, unexpected(err)
		}
		return hdr[0], buf, nil
	}
	// Grow with the bytes that actually arrive, so that a header promising a
	// large payload the stream does not carry costs little.
	buf = buf[:0]
	for len(buf) < int(n) {
		chunk := min(int(n)-len(buf), max(frameChunk, len(buf)))
		if cap(buf)-len(buf) < chunk {
			nb := make([]byte, len(buf), len(buf)+chunk)
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+m]
		if err != nil {
			return 0, nil, unexpected(err)
		}
	}
	return hdr[0], buf, nil
}

// frameChunk is the first allocation for a payload larger than the caller's buffer.
const frameChunk = 64 << 10

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameWriter writes frames of one type, serialised with the others on the same stream.
type frameWriter struct {
	mu  *sync.Mutex
	w   io.Writer
	typ byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		chunk := p
		if len(chunk) > 256<<10 {
			chunk = chunk[:256<<10]
		}
		f.mu.Lock()
		err := WriteFrame(f.w, f.typ, chunk)
		f.mu.Unlock()
		if err != nil {
			return n - len(p), err
		}
		p = p[len(chunk):]
	}
	return n, nil
}
