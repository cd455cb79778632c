package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"
)

// loopClient is a Client that dials and listens on this machine: it stands
// in for an SSH connection in tests that need no sshd.
type loopClient struct{}

func (loopClient) Dial(network, addr string) (net.Conn, error) { return net.Dial(network, addr) }
func (loopClient) Listen(network, addr string) (net.Listener, error) {
	return net.Listen(network, addr)
}

func loopGet(ctx context.Context) (Client, error) { return loopClient{}, nil }

// testLogger writes log lines into the test log.
func testLogger(t testing.TB) *log.Logger {
	l := log.NewWithOptions(tWriter{t}, log.Options{Level: log.DebugLevel})
	return l
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// serveTCP listens on 127.0.0.1 and runs handle on each connection (which
// it closes afterwards) until the test ends; it returns "127.0.0.1:port".
func serveTCP(tb testing.TB, handle func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// startEcho runs an echo server on 127.0.0.1 that half-closes its write side
// when the client half-closes; it returns "127.0.0.1:port".
func startEcho(t testing.TB) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		if _, err := io.CopyBuffer(c, c, buf); err == nil {
			_ = c.(*net.TCPConn).CloseWrite()
		}
		// Wait for the client to close.
		_, _ = io.Copy(io.Discard, c)
	})
}

// mustSplit splits "host:port".
func mustSplit(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort returns a loopback port where nothing listens.
func closedPort(t testing.TB) int { return freePort(t) }

// socksConnect runs the client side of a SOCKS5 CONNECT on c. host may be an
// IP address (sent as IPv4/IPv6) or a name (sent as a domain name). It
// returns the reply code.
func socksConnect(c net.Conn, host string, port int) (byte, error) {
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return 0, err
	}
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, fmt.Errorf("read method choice: %w", err)
	}
	if b != [2]byte{5, 0} {
		return 0, fmt.Errorf("method choice % x", b)
	}
	req := []byte{5, 1, 0}
	if ip := net.ParseIP(host); ip != nil {
		if v4 := ip.To4(); v4 != nil {
			req = append(append(req, 1), v4...)
		} else {
			req = append(append(req, 4), ip.To16()...)
		}
	} else {
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, fmt.Errorf("read reply: %w", err)
	}
	n := 4
	if hdr[3] == 4 {
		n = 16
	}
	rest := make([]byte, n+2)
	if _, err := io.ReadFull(c, rest); err != nil {
		return 0, fmt.Errorf("read reply address: %w", err)
	}
	return hdr[1], nil
}

// connector opens a client connection to a forward and, for dynamic
// forwards, runs the SOCKS handshake to target.
type connector func(t testing.TB) (net.Conn, error)

// dialForward returns a connector for f whose connections reach target
// (for dynamic forwards; local and remote have a fixed target).
func dialForward(f *Forward, socksHost string, socksPort int) connector {
	return func(t testing.TB) (net.Conn, error) {
		c, err := net.DialTimeout("tcp", f.Spec().Listen(), 10*time.Second)
		if err != nil {
			return nil, err
		}
		if f.Spec().Direction == Dynamic {
			rep, err := socksConnect(c, socksHost, socksPort)
			if err != nil {
				c.Close()
				return nil, err
			}
			if rep != 0 {
				c.Close()
				return nil, fmt.Errorf("socks reply %#x", rep)
			}
		}
		return c, nil
	}
}

// roundTrip sends payload, half-closes, reads the echo to EOF and checks it.
func roundTrip(t testing.TB, c net.Conn, payload []byte) error {
	t.Helper()
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if werr := <-errc; werr != nil {
		return fmt.Errorf("write: %w", werr)
	}
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", n, err)
	}
	if n != int64(len(payload)) {
		return fmt.Errorf("echo: got %d bytes, sent %d", n, len(payload))
	}
	want := sha256.Sum256(payload)
	if !bytes.Equal(h.Sum(nil), want[:]) {
		return errors.New("echo: sha256 differs")
	}
	return nil
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openForward opens a forward and closes it at cleanup.
func openForward(t testing.TB, spec Spec, get ClientFunc) *Forward {
	t.Helper()
	f, err := Open(context.Background(), spec, get, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", spec, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// execLookPath and runCommand wrap os/exec for the tests that drive
// OpenSSH's own client or curl.
func execLookPath(name string) (string, error) { return exec.LookPath(name) }

func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", name, err, stderr.String())
	}
	return string(out), nil
}
