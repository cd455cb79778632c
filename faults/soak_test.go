//go:build linux

package faults

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// A slow reader (1 MiB/s for 20 s) behind a local forward, fed by a writer as
// fast as it can go: SSH window back-pressure keeps the holder's memory
// bounded (growth < 64 MiB), and the data arrives intact.
func TestSoakSlowReaderForward(t *testing.T) {
	requireScale(t)
	b := newBed(t)
	ctx := ctxT(t, 2*time.Minute)
	h := b.holder(t, session.HolderConfig{})
	id := b.connect(t, ctx, h, b.srv.Addr)

	// The target reads 1 MiB a second.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const rate, secs = 1 << 20, 20
	got := make(chan int64, 1)
	go func() {
		// Open probes the target once with an empty connection: skip it.
		var c net.Conn
		for {
			var err error
			if c, err = ln.Accept(); err != nil {
				got <- -1
				return
			}
			one := make([]byte, 1)
			if _, err := c.Read(one); err == nil {
				break
			}
			c.Close()
		}
		defer c.Close()
		n := int64(1)
		buf := make([]byte, 64<<10)
		tick := time.NewTicker(time.Second / 16)
		defer tick.Stop()
		deadline := time.Now().Add(secs * time.Second)
		for time.Now().Before(deadline) {
			<-tick.C
			m, err := io.ReadFull(c, buf[:rate/16])
			n += int64(m)
			if err != nil {
				break
			}
		}
		got <- n
	}()
	fw, err := h.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, RemotePort: ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	c, err := net.Dial("tcp", fw.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sent int64
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		chunk := make([]byte, 256<<10)
		for {
			m, err := c.Write(chunk)
			sent += int64(m)
			if err != nil {
				return
			}
		}
	}()
	var peak uint64
	for end := time.Now().Add(secs * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapInuse)
	}
	n := <-got
	c.Close()
	<-writerDone
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("slow reader: %d MiB read in %ds, writer pushed %d MiB, heap growth %d MiB", n>>20, secs, sent>>20, growth>>20)
	if n < (secs-2)*rate {
		t.Errorf("reader got only %d bytes", n)
	}
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MiB while a slow reader was fed", growth>>20)
	}
}
