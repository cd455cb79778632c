package tunnel

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"golang.org/x/crypto/ssh"
)

// The scenarios below take a ClientFunc so that they run both on loopClient
// (no sshd needed) and on a real OpenSSH sshd (sshd_test.go).

// echoSpecs returns, for an echo server at echoAddr, one forward of each kind
// with a connector for it.
type echoCase struct {
	name       string
	spec       Spec
	socksHost  string // dynamic only
	socksPortF func(echoPort int) int
}

func echoCases() []echoCase {
	same := func(p int) int { return p }
	return []echoCase{
		{name: "local", spec: Spec{Direction: Local}},
		{name: "remote", spec: Spec{Direction: Remote}},
		{name: "dynamic_ipv4", spec: Spec{Direction: Dynamic}, socksHost: "127.0.0.1", socksPortF: same},
		{name: "dynamic_domain", spec: Spec{Direction: Dynamic}, socksHost: "localhost", socksPortF: same},
	}
}

// openEcho opens the case's forward to the echo server at echoAddr.
func (c echoCase) open(t testing.TB, get ClientFunc, echoAddr string) (*Forward, connector) {
	t.Helper()
	host, port := mustSplit(t, echoAddr)
	spec := c.spec
	spec.ListenHost = "127.0.0.1"
	if spec.Direction != Dynamic {
		spec.TargetHost, spec.TargetPort = host, port
	}
	f := openForward(t, spec, get)
	sp := 0
	if c.socksPortF != nil {
		sp = c.socksPortF(port)
	}
	return f, dialForward(f, c.socksHost, sp)
}

func testEcho(t *testing.T, get ClientFunc) {
	echo := startEcho(t)
	for _, c := range echoCases() {
		t.Run(c.name, func(t *testing.T) {
			f, conn := c.open(t, get, echo)
			if f.Spec().ListenPort == 0 {
				t.Fatal("ListenPort not filled in")
			}
			payload := randomBytes(t, 1<<20+17)
			cn, err := conn(t)
			if err != nil {
				t.Fatal(err)
			}
			if err := roundTrip(t, cn, payload); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "connection to end", 10*time.Second, func() bool { return f.Stats().ActiveConns == 0 })
			st := f.Stats()
			want := Stats{ActiveConns: 0, TotalConns: 1, BytesIn: int64(len(payload)), BytesOut: int64(len(payload)), State: StateListening}
			if st != want {
				t.Fatalf("Stats = %+v, want %+v", st, want)
			}
		})
	}
}

// startReplyAfterEOF runs a server that reads until EOF and only then
// writes the sha256 of what it read and closes: it needs the forward to pass
// the client's half-close on.
func startReplyAfterEOF(t testing.TB) string {
	t.Helper()
	return serveTCP(t, func(c net.Conn) {
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			return
		}
		_, _ = fmt.Fprintf(c, "%x", h.Sum(nil))
	})
}

func testHalfClose(t *testing.T, get ClientFunc) {
	srv := startReplyAfterEOF(t)
	for _, c := range echoCases() {
		t.Run(c.name, func(t *testing.T) {
			_, conn := c.open(t, get, srv)
			cn, err := conn(t)
			if err != nil {
				t.Fatal(err)
			}
			defer cn.Close()
			payload := randomBytes(t, 300<<10)
			if _, err := cn.Write(payload); err != nil {
				t.Fatal(err)
			}
			if err := cn.(*net.TCPConn).CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if err := cn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(cn)
			if err != nil {
				t.Fatalf("read reply after CloseWrite: %v", err)
			}
			if want := fmt.Sprintf("%x", sha256.Sum256(payload)); string(got) != want {
				t.Fatalf("reply %q, want %q", got, want)
			}
		})
	}
}

func testConcurrent(t *testing.T, get ClientFunc) {
	const conns = 100
	echo := startEcho(t)
	for _, c := range echoCases() {
		if c.name == "dynamic_domain" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			f, conn := c.open(t, get, echo)
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				sent int64
				errs []error
			)
			for i := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					payload := randomBytes(t, 10_000+i*1_337)
					cn, err := conn(t)
					if err == nil {
						err = roundTrip(t, cn, payload)
					}
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, fmt.Errorf("conn %d: %w", i, err))
					}
					sent += int64(len(payload))
				}()
			}
			wg.Wait()
			if len(errs) > 0 {
				t.Fatalf("%d of %d connections failed, first: %v", len(errs), conns, errs[0])
			}
			waitFor(t, "connections to end", 10*time.Second, func() bool { return f.Stats().ActiveConns == 0 })
			st := f.Stats()
			if st.TotalConns != conns || st.BytesOut != sent || st.BytesIn != sent {
				t.Fatalf("Stats = %+v, want %d conns and %d bytes each way", st, conns, sent)
			}
		})
	}
}

func testCloseFreesPort(t *testing.T, get ClientFunc) {
	echo := startEcho(t)
	for _, c := range echoCases()[:3] {
		t.Run(c.name, func(t *testing.T) {
			f, conn := c.open(t, get, echo)
			// One idle connection stays open across Close.
			cn, err := conn(t)
			if err != nil {
				t.Fatal(err)
			}
			defer cn.Close()
			if _, err := cn.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(cn, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			addr := f.Spec().Listen()
			if err := f.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if !sshdtest.PortRefuses(addr) {
				t.Fatalf("dial %s right after Close: accepted, want connection refused", addr)
			}
			if c.spec.Direction != Remote {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Fatalf("listen on %s right after Close: %v", addr, err)
				}
				ln.Close()
			}
			if err := cn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, err := cn.Read(make([]byte, 1)); err == nil {
				t.Fatalf("active connection still open after Close (read %d bytes)", n)
			}
			if st := f.Stats(); st.State != StateClosed || st.ActiveConns != 0 {
				t.Fatalf("Stats after Close = %+v", st)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := f.Rebind(context.Background()); c.spec.Direction == Remote && !errors.Is(err, ErrClosed) {
				t.Fatalf("Rebind after Close: %v, want ErrClosed", err)
			}
		})
	}
}

func testPortInUse(t *testing.T, get ClientFunc) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, dir := range []Direction{Local, Dynamic} {
		spec := Spec{Direction: dir, ListenHost: "127.0.0.1", ListenPort: port, TargetHost: "127.0.0.1", TargetPort: 9}
		if dir == Dynamic {
			spec.TargetHost, spec.TargetPort = "", 0
		}
		f, err := Open(context.Background(), spec, get, testLogger(t))
		if err == nil {
			f.Close()
			t.Fatalf("%s: Open on a port in use succeeded", dir)
		}
		if !errors.Is(err, ErrPortInUse) {
			t.Fatalf("%s: err = %v, want ErrPortInUse", dir, err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(port)) {
			t.Errorf("%s: error %q does not name the address", dir, err)
		}
		var te *Error
		if !errors.As(err, &te) || !strings.Contains(te.Hint(), strconv.Itoa(port)) {
			t.Errorf("%s: error %v has no hint naming the port", dir, err)
		}
		t.Logf("%s: %v (hint: %s)", dir, err, te.Hint())
	}
}

func testRefusedTarget(t *testing.T, get ClientFunc) {
	t.Run("local", func(t *testing.T) {
		// A port that is closed now and listened on later.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		host, port := mustSplit(t, addr)
		f := openForward(t, Spec{Direction: Local, TargetHost: host, TargetPort: port}, get)
		cn, err := net.Dial("tcp", f.Spec().Listen())
		if err != nil {
			t.Fatal(err)
		}
		if err := cn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if n, err := cn.Read(make([]byte, 1)); err == nil {
			t.Fatalf("read %d bytes from a refused target", n)
		} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("connection to a refused target not closed: %v", err)
		}
		cn.Close()
		if st := f.Stats(); st.State != StateListening {
			t.Fatalf("state after a refused target = %q", st.State)
		}
		// The target comes up: the same forward works.
		ln2, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("cannot listen on %s again: %v", addr, err)
		}
		go func() {
			c, err := ln2.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
		defer ln2.Close()
		cn2, err := net.Dial("tcp", f.Spec().Listen())
		if err != nil {
			t.Fatal(err)
		}
		if err := roundTrip(t, cn2, []byte("hello again")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("dynamic", func(t *testing.T) {
		echo := startEcho(t)
		_, echoPort := mustSplit(t, echo)
		f := openForward(t, Spec{Direction: Dynamic}, get)
		cn, err := net.Dial("tcp", f.Spec().Listen())
		if err != nil {
			t.Fatal(err)
		}
		rep, err := socksConnect(cn, "127.0.0.1", closedPort(t))
		cn.Close()
		if err != nil || rep != socksReplyConnectionRefused {
			t.Fatalf("SOCKS to a closed port: reply %#x, %v; want 0x05", rep, err)
		}
		cn, err = dialForward(f, "127.0.0.1", echoPort)(t)
		if err != nil {
			t.Fatal(err)
		}
		if err := roundTrip(t, cn, []byte("still up")); err != nil {
			t.Fatal(err)
		}
	})
}

// testSlowReader pushes data from a fast writer to a reader that takes
// 1 MiB/s, both ways, and checks that the heap does not grow with it.
func testSlowReader(t *testing.T, get ClientFunc, d time.Duration) {
	// A server that writes as fast as it can (download) and one that reads
	// 1 MiB/s (upload).
	ctx, cancel := context.WithCancel(context.Background())
	chunk := randomBytes(t, 256<<10)
	addr := serveTCP(t, func(c net.Conn) {
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		var mode [1]byte
		if _, err := io.ReadFull(c, mode[:]); err != nil {
			return
		}
		if mode[0] == 'w' {
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}
		slowRead(ctx, c)
	})
	t.Cleanup(cancel) // runs before serveTCP's cleanup waits for the handlers
	host, port := mustSplit(t, addr)
	f := openForward(t, Spec{Direction: Local, TargetHost: host, TargetPort: port}, get)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	down, err := net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	up, err := net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	if _, err := down.Write([]byte("w")); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write([]byte("r")); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, d)
	var wg sync.WaitGroup
	defer func() { rcancel(); wg.Wait() }() // both goroutines end with rctx
	wg.Add(2)
	go func() {
		defer wg.Done()
		for rctx.Err() == nil {
			if _, err := up.Write(chunk); err != nil {
				return
			}
		}
	}()
	var peak uint64
	sampled := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(sampled)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak {
					peak = m.HeapInuse
				}
			}
		}
	}()
	got := slowRead(rctx, down)
	<-sampled
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	peak = max(peak, after.HeapInuse)
	growth := int64(peak) - int64(before.HeapInuse)
	st := f.Stats()
	t.Logf("slow reader read %d bytes in %v; forward: %+v; heap in use before %d MiB, peak %d MiB, growth %d MiB",
		got, d, st, before.HeapInuse>>20, peak>>20, growth>>20)
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d MiB with a slow reader, want < 64 MiB", growth>>20)
	}
	if got < int64(d/time.Second)<<20/2 {
		t.Fatalf("slow reader got only %d bytes", got)
	}
}

// slowRead reads about 1 MiB/s from c until ctx ends or c fails.
func slowRead(ctx context.Context, c net.Conn) int64 {
	buf := make([]byte, 64<<10)
	var n int64
	tick := time.NewTicker(time.Second / 16)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
		if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			return n
		}
		m, err := io.ReadFull(c, buf)
		n += int64(m)
		if err != nil && !errors.Is(err, syscall.ETIMEDOUT) {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return n
			}
		}
	}
}

// testClientFuncError checks that a failing ClientFunc only closes the one
// connection.
func testClientFuncError(t *testing.T) {
	var fail sync.Map
	get := func(ctx context.Context) (Client, error) {
		if _, ok := fail.Load("yes"); ok {
			return nil, errors.New("session is reconnecting")
		}
		return loopClient{}, nil
	}
	echo := startEcho(t)
	host, port := mustSplit(t, echo)
	f := openForward(t, Spec{Direction: Local, TargetHost: host, TargetPort: port}, get)
	fail.Store("yes", true)
	cn, err := net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(cn); err != nil {
		t.Logf("read: %v", err)
	}
	cn.Close()
	fail.Delete("yes")
	cn, err = net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(t, cn, []byte("after reconnect")); err != nil {
		t.Fatal(err)
	}
}

func TestLoopEcho(t *testing.T)           { testEcho(t, loopGet) }
func TestLoopHalfClose(t *testing.T)      { testHalfClose(t, loopGet) }
func TestLoopConcurrent(t *testing.T)     { testConcurrent(t, loopGet) }
func TestLoopCloseFreesPort(t *testing.T) { testCloseFreesPort(t, loopGet) }
func TestLoopPortInUse(t *testing.T)      { testPortInUse(t, loopGet) }
func TestLoopRefusedTarget(t *testing.T)  { testRefusedTarget(t, loopGet) }
func TestLoopClientFuncError(t *testing.T) {
	testClientFuncError(t)
}

func TestLoopRebind(t *testing.T) {
	echo := startEcho(t)
	host, port := mustSplit(t, echo)
	f := openForward(t, Spec{Direction: Remote, TargetHost: host, TargetPort: port}, loopGet)
	before := f.Spec()
	for i := range 2 {
		if err := f.Rebind(context.Background()); err != nil {
			t.Fatalf("Rebind %d: %v", i, err)
		}
		if f.Spec() != before {
			t.Fatalf("spec changed by Rebind: %+v -> %+v", before, f.Spec())
		}
		if st := f.Stats(); st.State != StateListening {
			t.Fatalf("state after Rebind = %q", st.State)
		}
		cn, err := net.Dial("tcp", f.Spec().Listen())
		if err != nil {
			t.Fatal(err)
		}
		if err := roundTrip(t, cn, []byte("rebound")); err != nil {
			t.Fatal(err)
		}
	}
	// Local forwards: no-op.
	lf := openForward(t, Spec{Direction: Local, TargetHost: host, TargetPort: port}, loopGet)
	if err := lf.Rebind(context.Background()); err != nil {
		t.Fatalf("Rebind on a local forward: %v", err)
	}
}

func TestOpenInvalid(t *testing.T) {
	t.Parallel()
	_, err := Open(context.Background(), Spec{Direction: Local, TargetHost: "h"}, loopGet, nil)
	if !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("err = %v, want ErrInvalidSpec", err)
	}
	_, err = Open(context.Background(), Spec{Direction: Dynamic}, nil, nil)
	if err == nil {
		t.Fatal("Open with a nil ClientFunc succeeded")
	}
}

func TestOpenRemoteCanceled(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	get := func(ctx context.Context) (Client, error) { return blockingClient{block}, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Open(ctx, Spec{Direction: Remote, TargetHost: "127.0.0.1", TargetPort: 9}, get, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

// blockingClient blocks every call until its channel is closed.
type blockingClient struct{ c chan struct{} }

func (b blockingClient) Dial(network, addr string) (net.Conn, error) {
	<-b.c
	return nil, errors.New("closed")
}

func (b blockingClient) Listen(network, addr string) (net.Listener, error) {
	<-b.c
	return nil, errors.New("closed")
}

// TestCloseDuringDial checks that Close does not wait for a dial that hangs.
func TestCloseDuringDial(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	get := func(ctx context.Context) (Client, error) { return blockingClient{block}, nil }
	f, err := Open(context.Background(), Spec{Direction: Dynamic}, get, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	cn, err := net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	socksDone := make(chan error, 1)
	go func() {
		_, err := socksConnect(cn, "127.0.0.1", 9)
		socksDone <- err
	}()
	waitFor(t, "the connection to be accepted", 5*time.Second, func() bool { return f.Stats().ActiveConns == 1 })
	done := make(chan struct{})
	go func() { f.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging dial")
	}
	if err := <-socksDone; err == nil {
		t.Fatal("SOCKS request succeeded on a closed forward")
	}
}

// TestOpenLocalProbe checks Open's test connection for local forwards.
func TestOpenLocalProbe(t *testing.T) {
	t.Parallel()
	prohibit := func(ctx context.Context) (Client, error) { return prohibitClient{}, nil }
	_, err := Open(context.Background(), Spec{Direction: Local, TargetHost: "127.0.0.1", TargetPort: 9}, prohibit, nil)
	if !errors.Is(err, ErrForwardRefused) {
		t.Fatalf("err = %v, want ErrForwardRefused", err)
	}
	down := func(ctx context.Context) (Client, error) { return nil, errors.New("no route to server") }
	_, err = Open(context.Background(), Spec{Direction: Local, TargetHost: "127.0.0.1", TargetPort: 9}, down, nil)
	if err == nil || !strings.Contains(err.Error(), "no route to server") {
		t.Fatalf("err = %v, want the ClientFunc's error", err)
	}
	// A hanging target does not hold Open past the probe timeout.
	block := make(chan struct{})
	defer close(block)
	hang := func(ctx context.Context) (Client, error) { return blockingClient{block}, nil }
	start := time.Now()
	f, err := Open(context.Background(), Spec{Direction: Local, TargetHost: "127.0.0.1", TargetPort: 9}, hang, nil)
	if err != nil {
		t.Fatalf("Open with a hanging target: %v", err)
	}
	f.Close()
	if d := time.Since(start); d > probeTimeout+2*time.Second {
		t.Fatalf("Open took %v", d)
	}
}

// prohibitClient answers every dial as a server that forbids forwarding.
type prohibitClient struct{}

func (prohibitClient) Dial(network, addr string) (net.Conn, error) {
	return nil, &ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "administratively prohibited: open failed"}
}

func (prohibitClient) Listen(network, addr string) (net.Listener, error) {
	return nil, errors.New("ssh: tcpip-forward request denied by peer")
}

func TestNonLoopbackWarning(t *testing.T) {
	t.Parallel()
	buf := &lockedBuffer{}
	logger := testLogger(t)
	logger.SetOutput(buf)
	f, err := Open(context.Background(), Spec{Direction: Dynamic, ListenHost: "0.0.0.0"}, loopGet, logger)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !strings.Contains(buf.String(), "reachable from") {
		t.Fatalf("no warning for a 0.0.0.0 listen; log: %q", buf.String())
	}
}

// lockedBuffer is a strings.Builder safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestOpenRemoteErrors(t *testing.T) {
	t.Parallel()
	spec := Spec{Direction: Remote, TargetHost: "127.0.0.1", TargetPort: 9}
	_, err := Open(context.Background(), spec, func(context.Context) (Client, error) { return prohibitClient{}, nil }, nil)
	if !errors.Is(err, ErrForwardRefused) {
		t.Fatalf("denied listen: err = %v, want ErrForwardRefused", err)
	}
	_, err = Open(context.Background(), spec, func(context.Context) (Client, error) { return eofClient{}, nil }, nil)
	if err == nil || errors.Is(err, ErrForwardRefused) || !errors.Is(err, io.EOF) {
		t.Fatalf("dead connection: err = %v, want io.EOF and not ErrForwardRefused", err)
	}
}

// eofClient is a dead SSH connection.
type eofClient struct{}

func (eofClient) Dial(network, addr string) (net.Conn, error)       { return nil, io.EOF }
func (eofClient) Listen(network, addr string) (net.Listener, error) { return nil, io.EOF }

func TestPrivilegedPort(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root may bind any port")
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n <= 1 {
			t.Skip("net.ipv4.ip_unprivileged_port_start lets anyone bind port 1")
		}
	}
	_, err := Open(context.Background(), Spec{Direction: Dynamic, ListenPort: 1}, loopGet, nil)
	if !errors.Is(err, ErrPrivilegedPort) {
		t.Fatalf("err = %v, want ErrPrivilegedPort", err)
	}
}

// TestNoGoroutineLeak checks that closing forwards ends all their
// goroutines, with connections active at Close.
func TestNoGoroutineLeak(t *testing.T) {
	echo := startEcho(t)
	host, port := mustSplit(t, echo)
	base := runtime.NumGoroutine()
	var fs []*Forward
	var conns []net.Conn
	for _, spec := range []Spec{
		{Direction: Local, TargetHost: host, TargetPort: port},
		{Direction: Remote, TargetHost: host, TargetPort: port},
		{Direction: Dynamic},
	} {
		f, err := Open(context.Background(), spec, loopGet, nil)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
		for range 3 {
			c, err := dialForward(f, host, port)(t)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
	}
	for _, f := range fs {
		f.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "goroutines to end", 10*time.Second, func() bool { return runtime.NumGoroutine() <= base })
}
