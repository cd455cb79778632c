package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// sink is a TCP server on loopback that forwarded connections reach. The
// first byte of a connection picks the mode:
//
//	'u'     read to EOF, then answer the byte count (8 bytes, big endian)
//	'd' N   write N bytes (N: 8 bytes, big endian), then close
//	'e'     answer one byte and close (connection setup latency)
//	'i'     answer one byte, then hold the connection until the peer closes
type sink struct {
	ln net.Listener
	wg sync.WaitGroup
}

// startSink starts a sink, stopped at cleanup.
func startSink(tb testing.TB) *sink {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &sink{ln: ln}
	s.wg.Add(1)
	go s.serve()
	tb.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// port is the sink's port.
func (s *sink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *sink) serve() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		conns.Go(func() {
			defer c.Close()
			s.handle(c)
		})
	}
}

func (s *sink) handle(c net.Conn) {
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:1]); err != nil {
		return
	}
	switch hdr[0] {
	case 'u':
		n, err := io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
		if err != nil {
			return
		}
		binary.BigEndian.PutUint64(hdr[1:], uint64(n))
		_, _ = c.Write(hdr[1:])
	case 'd':
		if _, err := io.ReadFull(c, hdr[1:]); err != nil {
			return
		}
		_ = writeN(c, int64(binary.BigEndian.Uint64(hdr[1:])))
	case 'e':
		_, _ = c.Write([]byte{'k'})
	case 'i':
		if _, err := c.Write([]byte{'k'}); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c)
	}
}

// up sends n bytes through addr to the sink and checks its count.
func up(addr string, n int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'u'}); err != nil {
		return err
	}
	if err := writeN(c, n); err != nil {
		return err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	var cnt [8]byte
	if _, err := io.ReadFull(c, cnt[:]); err != nil {
		return fmt.Errorf("read count: %w", err)
	}
	if got := int64(binary.BigEndian.Uint64(cnt[:])); got != n {
		return fmt.Errorf("sink got %d bytes, sent %d", got, n)
	}
	return nil
}

// down reads n bytes from the sink through addr.
func down(addr string, n int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var hdr [9]byte
	hdr[0] = 'd'
	binary.BigEndian.PutUint64(hdr[1:], uint64(n))
	if _, err := c.Write(hdr[:]); err != nil {
		return err
	}
	got, err := io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("got %d bytes, want %d", got, n)
	}
	return nil
}

// roundTrip dials addr, asks for one byte ('e' or 'i') and reads it. With
// 'i' the connection is returned open.
func roundTrip(addr string, mode byte) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{mode}); err != nil {
		c.Close()
		return nil, err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if mode == 'e' {
		c.Close()
		return nil, nil
	}
	return c, nil
}

// sshForward starts `ssh -N -L PORT:127.0.0.1:TARGET` (its own connection,
// same cipher) and returns its listen address once it accepts, and its pid.
func (bd *bed) sshForward(target int) (string, int) {
	bd.tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		bd.tb.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := bd.command(ctx, "ssh", bd.sshArgs([]string{"-N", "-o", "ControlMaster=no", "-o", "ControlPath=none",
		"-o", "ExitOnForwardFailure=yes", "-L", listen + ":127.0.0.1:" + strconv.Itoa(target)})...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Start(); err != nil {
		cancel()
		bd.tb.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	bd.tb.Cleanup(func() { cancel(); <-exited })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			return listen, cmd.Process.Pid
		}
		select {
		case <-exited:
			bd.tb.Fatal("ssh -L exited before it listened")
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			bd.tb.Fatal("ssh -L not listening after 30s")
		}
	}
}

// ourForward opens `mcp-remote-ssh forward S -L 0:127.0.0.1:TARGET` and
// returns its listen address.
func (bd *bed) ourForward(target string, port int) string {
	bd.tb.Helper()
	out := bd.mrs("forward", target, "-L", "0:127.0.0.1:"+strconv.Itoa(port), "--json")
	var res session.ForwardResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Listen == "" {
		bd.tb.Fatalf("forward --json printed %q: %v", out, err)
	}
	return res.Listen
}

// delta formats a signed change of memory.
func delta(n int64) string { return fmt.Sprintf("%+.1f MiB", float64(n)/(1<<20)) }

// BenchmarkForward: 256 MiB up and down through our `-L` vs `ssh -L` to the
// same loopback sink, same cipher (goal >= 1.0x); connection setup latency
// through the tunnel (dial, one byte each way); memory with 100 idle
// forwarded connections (holder vs the ssh -L process).
func BenchmarkForward(b *testing.B) {
	bd := newBed(b)
	snk := startSink(b)
	bd.connect("--name", "fw")
	pid := bd.holder()
	ours := bd.ourForward("fw", snk.port())
	theirs, sshPID := bd.sshForward(snk.port())
	size := pick(int64(256<<20), int64(64<<20))

	for _, dir := range []string{"up", "down"} {
		b.Run(dir, func(b *testing.B) {
			move := func(addr string) error {
				if dir == "up" {
					return up(addr, size)
				}
				return down(addr, size)
			}
			run := func(b *testing.B, addr string) (best float64) {
				b.SetBytes(size * int64(reps()))
				b.ReportAllocs()
				for b.Loop() {
					for range reps() {
						start := time.Now()
						if err := move(addr); err != nil {
							b.Fatal(err)
						}
						best = max(best, float64(size)/time.Since(start).Seconds())
					}
				}
				b.ReportMetric(best/1e6, "best-MB/s")
				return best
			}
			var base float64
			b.Run("openssh", func(b *testing.B) { base = run(b, theirs) })
			b.Run("ours", func(b *testing.B) {
				rate := run(b, ours)
				if base == 0 {
					return
				}
				r := rate / base
				b.ReportMetric(r, "ratio_vs_openssh")
				summary{Name: "forward -L " + dir, Ours: mbps(rate), Base: "ssh -L " + mbps(base), Ratio: r,
					Goal: ">= 1.0x", Met: r >= 1.0, Note: fmt.Sprintf("%d MiB, best of %d, %s both", size>>20, reps(), cipher)}.log(b)
			})
		})
	}

	b.Run("setup", func(b *testing.B) {
		rounds := pick(200, 20)
		run := func(b *testing.B, addr string) samples {
			b.ReportAllocs()
			var s samples
			for b.Loop() {
				for range rounds {
					start := time.Now()
					if _, err := roundTrip(addr, 'e'); err != nil {
						b.Fatal(err)
					}
					s = append(s, time.Since(start))
				}
			}
			reportLatency(b, s)
			return s
		}
		var base samples
		b.Run("openssh", func(b *testing.B) { base = run(b, theirs) })
		b.Run("ours", func(b *testing.B) {
			s := run(b, ours)
			if len(base) == 0 {
				return
			}
			r := msf(s.median()) / msf(base.median())
			b.ReportMetric(r, "ratio_vs_openssh")
			summary{Name: "forward -L connection setup (median)", Ours: ms(s.median()), Base: "ssh -L " + ms(base.median()),
				Ratio: r, Note: fmt.Sprintf("dial + 1 byte each way; p95 ours %s vs %s", ms(s.p95()), ms(base.p95()))}.log(b)
		})
	})

	b.Run("idle-100", func(b *testing.B) {
		const n = 100
		hold := func(b *testing.B, addr string, pid int) (before, after int64) {
			b.ReportAllocs()
			for b.Loop() {
				before = rss(b, pid)
				var conns []net.Conn
				for range n {
					c, err := roundTrip(addr, 'i')
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, c)
				}
				after = rss(b, pid)
				var errs []error
				for _, c := range conns {
					errs = append(errs, c.Close())
				}
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(after)/(1<<20), "rss-MiB")
			b.ReportMetric(float64(after-before)/n/1024, "KiB/conn")
			return before, after
		}
		var sshBefore, sshAfter int64
		b.Run("openssh", func(b *testing.B) { sshBefore, sshAfter = hold(b, theirs, sshPID) })
		b.Run("ours", func(b *testing.B) {
			before, after := hold(b, ours, pid)
			summary{Name: "forward -L, 100 idle connections", Ours: fmt.Sprintf("holder %s (%s)", mib(after), delta(after-before)),
				Base: fmt.Sprintf("ssh -L %s (%s)", mib(sshAfter), delta(sshAfter-sshBefore)),
				Note: "RSS of the process holding the tunnel; the holder also holds its sessions"}.log(b)
		})
	})
}
