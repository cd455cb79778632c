package termbuf

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
)

var _ io.Writer = (*Buffer)(nil)

// pattern returns the n bytes a test writer emits from offset off on.
func pattern(off int64, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((off + int64(i)) % 251)
	}
	return p
}

func TestBufferOffsets(t *testing.T) {
	t.Parallel()
	type read struct {
		since   int64
		max     int
		data    string
		next    int64
		dropped int64
	}
	tests := []struct {
		name       string
		capacity   int
		writes     []string
		start, end int64
		reads      []read
	}{
		{
			name: "empty", capacity: 8,
			reads: []read{{0, 0, "", 0, 0}, {5, 0, "", 0, 0}, {-3, 0, "", 0, 0}},
		},
		{
			name: "fits", capacity: 8, writes: []string{"abc", "def"}, start: 0, end: 6,
			reads: []read{
				{0, 0, "abcdef", 6, 0},
				{2, 0, "cdef", 6, 0},
				{2, 3, "cde", 5, 0},
				{6, 0, "", 6, 0},
				{99, 0, "", 6, 0},
			},
		},
		{
			name: "drops oldest", capacity: 8, writes: []string{"abcdef", "ghijk"}, start: 3, end: 11,
			reads: []read{
				{0, 0, "defghijk", 11, 3},
				{1, 2, "de", 5, 2},
				{3, 0, "defghijk", 11, 0},
				{10, 0, "k", 11, 0},
			},
		},
		{
			name: "write larger than capacity", capacity: 4, writes: []string{"ab", "0123456789"}, start: 8, end: 12,
			reads: []read{{0, 0, "6789", 12, 8}, {9, 0, "789", 12, 0}},
		},
		{
			name: "exactly capacity", capacity: 4, writes: []string{"ab", "cd", "ef"}, start: 2, end: 6,
			reads: []read{{2, 0, "cdef", 6, 0}, {0, 1, "c", 3, 2}},
		},
		{
			name: "max does not split a rune", capacity: 64, writes: []string{"a世界"}, start: 0, end: 7,
			reads: []read{
				{0, 2, "a", 1, 0},
				{0, 3, "a", 1, 0},
				{0, 4, "a世", 4, 0},
				{1, 1, "\xe4", 2, 0}, // a lone lead byte still moves forward
			},
		},
		{
			name: "max does not split an escape sequence", capacity: 64, writes: []string{"ab\x1b[31mcd\x1b]0;title\x07ef"}, start: 0, end: 21,
			reads: []read{
				{0, 5, "ab", 2, 0},
				{0, 7, "ab\x1b[31m", 7, 0},
				{2, 3, "\x1b[3", 5, 0}, // nothing else to return
				{7, 10, "cd", 9, 0},
				{7, 12, "cd\x1b]0;title\x07", 19, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := New(tt.capacity)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if b.Start() != tt.start || b.End() != tt.end {
				t.Errorf("Start, End = %d, %d; want %d, %d", b.Start(), b.End(), tt.start, tt.end)
			}
			for _, r := range tt.reads {
				data, next, dropped := b.Read(r.since, r.max)
				if string(data) != r.data || next != r.next || dropped != r.dropped {
					t.Errorf("Read(%d, %d) = %q, %d, %d; want %q, %d, %d",
						r.since, r.max, data, next, dropped, r.data, r.next, r.dropped)
				}
			}
		})
	}
}

func TestBufferDefaultCapacity(t *testing.T) {
	t.Parallel()
	for _, c := range []int{0, -1} {
		if got := New(c).Capacity(); got != DefaultCapacity {
			t.Errorf("New(%d).Capacity() = %d, want %d", c, got, DefaultCapacity)
		}
	}
}

func TestBufferBoundedMemory(t *testing.T) {
	t.Parallel()
	const (
		capacity = 512 << 10
		total    = 50 << 20
	)
	b := New(capacity)
	sizes := []int{1, 4099, 65536, 7, capacity + 13, 300000, 12345}
	var off int64
	for i := 0; off < total; i++ {
		n := int(min(int64(sizes[i%len(sizes)]), total-off))
		b.Write(pattern(off, n))
		off += int64(n)
		if c := cap(b.mem); c > 2*capacity {
			t.Fatalf("after %d bytes cap(mem) = %d, want <= %d", off, c, 2*capacity)
		}
	}
	if b.End() != total || b.Start() != total-capacity {
		t.Fatalf("Start, End = %d, %d; want %d, %d", b.Start(), b.End(), total-capacity, total)
	}
	for _, since := range []int64{0, 1000, total - capacity - 1, total - capacity, total - 10} {
		t.Run(fmt.Sprint(since), func(t *testing.T) {
			data, next, dropped := b.Read(since, 0)
			from := max(since, total-capacity)
			if want := max(total-capacity-since, 0); dropped != want {
				t.Errorf("dropped = %d, want %d", dropped, want)
			}
			if next != total {
				t.Errorf("next = %d, want %d", next, total)
			}
			if !bytes.Equal(data, pattern(from, int(total-from))) {
				t.Errorf("data from %d differs from what was written", from)
			}
		})
	}
}

func TestBufferCloseAndChanged(t *testing.T) {
	t.Parallel()
	b := New(16)
	if exited, _ := b.Exited(); exited {
		t.Fatal("new buffer reports exited")
	}
	ch := b.Changed()
	if b.Changed() != ch {
		t.Error("Changed() returned a new channel with no write in between")
	}
	select {
	case <-ch:
		t.Fatal("Changed() closed before any write")
	default:
	}
	b.Write(nil)
	select {
	case <-ch:
		t.Fatal("empty Write woke waiters")
	default:
	}
	b.Write([]byte("x"))
	<-ch // closed by Write
	ch = b.Changed()
	b.Close(7)
	<-ch // closed by Close
	b.Close(9)
	if exited, status := b.Exited(); !exited || status != 7 {
		t.Errorf("Exited() = %v, %d; want true, 7", exited, status)
	}
	<-b.Changed() // closed at once after Close
	b.Write([]byte("late"))
	<-b.Changed()
	if data, _, _ := b.Read(0, 0); string(data) != "xlate" {
		t.Errorf("Read after Close = %q", data)
	}
}

func TestBufferConcurrentReaders(t *testing.T) {
	t.Parallel()
	const (
		capacity = 4096
		total    = 4 << 20
		readers  = 4
	)
	b := New(capacity)
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for r := range readers {
		wg.Go(func() {
			var since, seen int64
			for {
				ch := b.Changed()
				exited, _ := b.Exited()
				data, next, dropped := b.Read(since, 1000+r*500)
				if next != since+dropped+int64(len(data)) {
					errs <- fmt.Errorf("reader %d: Read(%d) next %d, dropped %d, len %d", r, since, next, dropped, len(data))
					return
				}
				if !bytes.Equal(data, pattern(since+dropped, len(data))) {
					errs <- fmt.Errorf("reader %d: wrong bytes at %d", r, since+dropped)
					return
				}
				seen += dropped + int64(len(data))
				since = next
				if len(data) > 0 {
					continue
				}
				if exited {
					if seen != total {
						errs <- fmt.Errorf("reader %d: accounted for %d bytes, want %d", r, seen, total)
					}
					return
				}
				<-ch
			}
		})
	}
	for off := int64(0); off < total; {
		n := int(min(int64(1+off%3000), total-off))
		b.Write(pattern(off, n))
		off += int64(n)
	}
	b.Close(0)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkBufferWrite(b *testing.B) {
	for _, size := range []int{64, 4096, 65536} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			buf := New(DefaultCapacity)
			p := pattern(0, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf.Write(p)
			}
		})
	}
}
