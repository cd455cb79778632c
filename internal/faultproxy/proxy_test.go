package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			go func() {
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg string) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
	return time.Since(start)
}

func TestForwardAndDelay(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p)
	roundTrip(t, c, "hello")
	p.SetDelay(50*time.Millisecond, 30*time.Millisecond)
	if d := roundTrip(t, c, "slow"); d < 80*time.Millisecond {
		t.Errorf("round trip took %v with 80ms of added delay", d)
	}
	p.SetDelay(0, 0)
	// A large transfer keeps its bytes in order.
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	go c.Write(big)
	got := make([]byte, len(big))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("1 MiB echo: %v, equal %v", err, bytes.Equal(got, big))
	}
	if p.Accepted() != 1 || p.Active() != 1 {
		t.Errorf("accepted %d, active %d", p.Accepted(), p.Active())
	}
	if cs := p.Conns(); len(cs) != 1 || !cs[0].Open || cs[0].Up != int64(len(big))+9 || cs[0].Down != int64(len(big))+9 {
		t.Errorf("conns %+v, want one open with %d bytes each way", cs, len(big)+9)
	}
}

func TestStallAndResume(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p)
	roundTrip(t, c, "a")
	p.Stall()
	c.Write([]byte("held"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4)
	if n, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during a stall: %d %q %v", n, buf[:n], err)
	}
	// A connection made during the stall is held too.
	c2 := dial(t, p)
	c2.Write([]byte("new"))
	p.Resume()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after resume: %q %v", buf, err)
	}
	b2 := make([]byte, 3)
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c2, b2); err != nil || string(b2) != "new" {
		t.Fatalf("held connection after resume: %q %v", b2, err)
	}
}

func TestCutAndReset(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p)
	roundTrip(t, c, "x")
	p.Cut()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after Cut: %v, want EOF", err)
	}
	c2 := dial(t, p)
	roundTrip(t, c2, "y")
	p.Reset()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read after Reset: %v, want ECONNRESET", err)
	}
	// The proxy still accepts.
	roundTrip(t, dial(t, p), "z")
}

func TestRate(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p)
	p.SetRate(256 << 10)
	msg := bytes.Repeat([]byte{'r'}, 64<<10)
	start := time.Now()
	go c.Write(msg)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	// 64 KiB at 256 KiB/s each way: at least ~250 ms.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("64 KiB at 256 KiB/s took only %v", d)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	target := echoServer(t)
	before := runtime.NumGoroutine()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "q")
	}
	p.Stall()
	p.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+5 && time.Now().Before(deadline) { // the echo server's own conns may linger briefly
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+5 {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
	if _, err := net.DialTimeout("tcp", p.Addr, time.Second); err == nil {
		t.Errorf("a closed proxy still accepts")
	}
}
