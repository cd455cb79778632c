package termbuf

import (
	"bytes"
	"sync"
	"unicode/utf8"
)

// DefaultCapacity is the shell buffer size used when New is given no
// positive capacity: 512 KiB, the contract's default.
const DefaultCapacity = 512 << 10

// Buffer is a bounded rolling byte buffer for a shell's output, addressed by
// absolute offsets: offset 0 is the first byte the shell ever printed. It
// keeps the last capacity bytes; older bytes are dropped and reported as such
// by [Buffer.Read].
//
// A Buffer is safe for concurrent use by one writer (the shell's output pump)
// and any number of readers and waiters. Memory use stays below 1.25 times
// the capacity however much is written.
type Buffer struct {
	mu       sync.Mutex
	capacity int
	mem      []byte // held bytes are mem[off : off+n]; len(mem) <= capacity+capacity/4
	off, n   int
	end      int64 // absolute offset just past the last byte written
	exited   bool
	status   int
	changed  chan struct{} // closed at the next Write or Close; nil until asked for
	done     chan struct{} // closed; returned by Changed after Close
}

// New returns an empty Buffer that keeps the last capacity bytes. A capacity
// <= 0 means [DefaultCapacity].
func New(capacity int) *Buffer {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	return &Buffer{capacity: capacity}
}

// Capacity returns the number of bytes the Buffer keeps.
func (b *Buffer) Capacity() int { return b.capacity }

// Write appends p, dropping the oldest bytes past the capacity, and wakes the
// waiters. It never fails and always returns len(p), nil.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.end += int64(n)
	if len(p) >= b.capacity {
		p = p[len(p)-b.capacity:]
		b.off, b.n = 0, 0
	}
	if over := b.n + len(p) - b.capacity; over > 0 {
		b.off += over
		b.n -= over
	}
	if need := b.n + len(p); b.off+need > len(b.mem) {
		if size := b.capacity + b.capacity/4; len(b.mem) < size && need > len(b.mem)/2 {
			// Grow: double, but never past 1.25 times the capacity (100
			// shells that printed a lot hold ~64 MiB, not ~100).
			mem := make([]byte, min(size, max(2*need, 2*len(b.mem), 4096)))
			copy(mem, b.mem[b.off:b.off+b.n])
			b.mem = mem
		} else {
			// Compact: at most capacity bytes moved per capacity/4 written.
			copy(b.mem, b.mem[b.off:b.off+b.n])
		}
		b.off = 0
	}
	copy(b.mem[b.off+b.n:], p)
	b.n += len(p)
	b.wakeLocked()
	return n, nil
}

// End returns the offset just past the last byte written.
func (b *Buffer) End() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.end
}

// Start returns the offset of the oldest byte still held.
func (b *Buffer) Start() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.end - int64(b.n)
}

// Read returns a copy of up to limit bytes starting at offset since (all held
// bytes when limit <= 0). When since < Start(), the bytes before Start() are
// gone: dropped is Start()-since and data begins at Start(). A since beyond
// End() is clamped to End(), and a negative one to 0. next is the offset just
// after data.
//
// When limit cuts the data, the cut moves back to the start of a UTF-8
// sequence or of an escape sequence it would split (one begun within the
// last 256 bytes), unless that would return nothing, so that consecutive
// reads each clean well.
func (b *Buffer) Read(since int64, limit int) (data []byte, next int64, dropped int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	held, from, dropped := b.heldLocked(since)
	if limit > 0 && len(held) > limit {
		held = held[:safeCut(held, limit)]
	}
	return append([]byte(nil), held...), from + int64(len(held)), dropped
}

// safeCut returns where to cut b to keep at most n bytes (0 < n < len(b))
// without splitting a UTF-8 sequence or a recent escape sequence.
func safeCut(b []byte, n int) int {
	cut := runeCut(b, n)
	lo := max(cut-256, 0)
	e := bytes.LastIndexByte(b[lo:cut], 0x1b)
	if e < 0 {
		return cut
	}
	e += lo
	if e == 0 {
		return cut
	}
	var p parser
	for i := e; i < cut; {
		_, i = p.next(b[:cut], i)
	}
	if p.st != stGround {
		return e
	}
	return cut
}

// runeCut returns where to cut b to keep at most n bytes without splitting a
// UTF-8 sequence; it is n when no sequence is split or when moving back would
// leave nothing.
func runeCut(b []byte, n int) int {
	for i := n - 1; i > 0 && i >= n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:n]) {
				return i
			}
			break
		}
	}
	return n
}

// heldLocked returns the held bytes from since on, the offset they start
// at and how many bytes before it were dropped. b.mu must be held.
func (b *Buffer) heldLocked(since int64) (held []byte, from, dropped int64) {
	start := b.end - int64(b.n)
	since = min(max(since, 0), b.end)
	if since < start {
		dropped = start - since
		since = start
	}
	rel := int(since - start)
	return b.mem[b.off+rel : b.off+b.n], since, dropped
}

// Close marks the shell as exited with status (its exit code, or -1 when
// unknown) and wakes the waiters. Only the first call counts. Call it after
// the last Write.
func (b *Buffer) Close(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exited {
		return
	}
	b.exited, b.status = true, status
	b.wakeLocked()
}

// Exited reports whether [Buffer.Close] was called, and with which status.
func (b *Buffer) Exited() (exited bool, status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exited, b.status
}

// Changed returns a channel that is closed at the next Write or Close. Get a
// fresh one after each wake-up. After Close it returns a closed channel.
func (b *Buffer) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changedLocked()
}

func (b *Buffer) changedLocked() chan struct{} {
	if b.exited {
		if b.done == nil {
			b.done = make(chan struct{})
			close(b.done)
		}
		return b.done
	}
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.changed
}

func (b *Buffer) wakeLocked() {
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
}
