package tunnel

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchSize is what one benchmark op moves through the forward.
const benchSize = 64 << 20

// startBulkServer serves two modes: 'u' reads to EOF and answers with the
// 8-byte count; 'd' + an 8-byte length writes that many bytes and closes.
func startBulkServer(tb testing.TB) string {
	tb.Helper()
	block := make([]byte, 1<<20)
	return serveTCP(tb, func(c net.Conn) {
		var hdr [9]byte
		if _, err := io.ReadFull(c, hdr[:1]); err != nil {
			return
		}
		switch hdr[0] {
		case 'u':
			buf := make([]byte, 256<<10)
			n, err := io.CopyBuffer(io.Discard, readerOnly{c}, buf)
			if err != nil {
				return
			}
			binary.BigEndian.PutUint64(hdr[1:], uint64(n))
			_, _ = c.Write(hdr[1:])
		case 'd':
			if _, err := io.ReadFull(c, hdr[1:]); err != nil {
				return
			}
			left := int64(binary.BigEndian.Uint64(hdr[1:]))
			for left > 0 {
				n := min(left, int64(len(block)))
				if _, err := c.Write(block[:n]); err != nil {
					return
				}
				left -= n
			}
		}
	})
}

// bulkUp sends n bytes to addr and waits for the server's count.
func bulkUp(addr string, block []byte, n int64) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{'u'}); err != nil {
		return err
	}
	for left := n; left > 0; {
		m := min(left, int64(len(block)))
		if _, err := c.Write(block[:m]); err != nil {
			return err
		}
		left -= m
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	var cnt [8]byte
	if _, err := io.ReadFull(c, cnt[:]); err != nil {
		return fmt.Errorf("read count: %w", err)
	}
	if got := int64(binary.BigEndian.Uint64(cnt[:])); got != n {
		return fmt.Errorf("server got %d bytes, sent %d", got, n)
	}
	return nil
}

// bulkDown asks addr for n bytes and reads them.
func bulkDown(addr string, buf []byte, n int64) error {
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
	got, err := io.CopyBuffer(io.Discard, readerOnly{c}, buf)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("got %d bytes, want %d", got, n)
	}
	return nil
}

// benchBulk runs the up and down transfers through listen. It records each
// direction's MB/s in rates and, when base holds the baseline's, reports the
// ratio as "x-openssh".
//
// cpu returns the CPU time used so far by the processes on the client side
// of the SSH connection (this test process and, for the baseline, ssh); its
// growth per op is reported as cpu-ms/op, which a busy machine disturbs less
// than MB/s.
func benchBulk(b *testing.B, listen string, cpu func() time.Duration, rates, base map[string]float64) {
	block := make([]byte, 1<<20)
	for _, dir := range []string{"up", "down"} {
		b.Run(dir, func(b *testing.B) {
			b.SetBytes(benchSize)
			b.ReportAllocs()
			cpu0 := cpu()
			for b.Loop() {
				var err error
				if dir == "up" {
					err = bulkUp(listen, block, benchSize)
				} else {
					err = bulkDown(listen, block, benchSize)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpu()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
			rate := float64(benchSize) * float64(b.N) / b.Elapsed().Seconds()
			rates[dir] = rate
			if r, ok := base[dir]; ok && r > 0 {
				b.ReportMetric(rate/r, "x-openssh")
			}
		})
	}
}

// BenchmarkLocalForward moves 64 MiB per op up and down through a local
// forward over a real sshd: "openssh" is the same transfer through
// `ssh -N -L` against the same server (the baseline, run first), "tunnel" is
// this package on x/crypto/ssh and reports its ratio to the baseline as
// x-openssh.
func BenchmarkLocalForward(b *testing.B) {
	bed := newSSHBed(b)
	target := startBulkServer(b)
	host, port := mustSplit(b, target)
	base := map[string]float64{}

	b.Run("openssh", func(b *testing.B) {
		listen, pid := startOpenSSHForward(b, bed, target)
		benchBulk(b, listen, func() time.Duration { return selfCPU(b) + procCPU(b, pid) }, base, nil)
	})
	b.Run("tunnel", func(b *testing.B) {
		f, err := Open(context.Background(), Spec{Direction: Local, TargetHost: host, TargetPort: port}, bed.get, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		benchBulk(b, f.Spec().Listen(), func() time.Duration { return selfCPU(b) }, map[string]float64{}, base)
	})
}

// startOpenSSHForward runs `ssh -N -L` to target against the bed's sshd and
// returns its listen address, once it accepts connections, and its pid.
func startOpenSSHForward(tb testing.TB, bed *sshBed, target string) (string, int) {
	tb.Helper()
	sshPath, err := exec.LookPath("ssh")
	if err != nil {
		tb.Skip("OpenSSH client not installed")
	}
	_, sshdPort := mustSplit(tb, bed.srv.Addr)
	lport := freePort(tb)
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(lport))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, sshPath, "-N", "-F", "/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ExitOnForwardFailure=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+bed.knownHosts,
		"-i", bed.user.KeyPath, "-p", strconv.Itoa(sshdPort),
		"-L", listen+":"+target, bed.user.Name+"@127.0.0.1")
	cmd.Env = append(os.Environ(), "HOME="+tb.TempDir())
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() { cancel(); <-exited })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return listen, cmd.Process.Pid
		}
		select {
		case err := <-exited:
			tb.Fatalf("ssh -L exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ssh -L did not listen on %s within 10s", listen)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// selfCPU is this process's user+system CPU time.
func selfCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the user+system CPU time of process pid, from /proc.
func procCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		tb.Fatalf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTicks
}
