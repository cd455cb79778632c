package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
)

// sshBed is a real OpenSSH sshd with one user, and a ClientFunc that keeps
// one live *ssh.Client, dialing a new one after the old one died.
type sshBed struct {
	srv  *sshdtest.Server
	user *sshdtest.User
	cfg  *ssh.ClientConfig
	// knownHosts is the known_hosts file the client checks host keys against.
	knownHosts string

	mu     sync.Mutex
	client *ssh.Client
	dials  int
}

func newSSHBed(tb testing.TB, sshdConfig ...string) *sshBed {
	tb.Helper()
	sshdtest.Require(tb)
	u := sshdtest.NewUser(tb)
	srv := sshdtest.Start(tb, sshdtest.WithUsers(u), sshdtest.WithConfig(sshdConfig...))
	kh := filepath.Join(tb.TempDir(), "known_hosts")
	srv.WriteKnownHosts(tb, kh)
	hostKeys, err := knownhosts.New(kh)
	if err != nil {
		tb.Fatal(err)
	}
	pem, err := os.ReadFile(u.KeyPath)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		tb.Fatal(err)
	}
	b := &sshBed{
		srv:        srv,
		user:       u,
		knownHosts: kh,
		cfg: &ssh.ClientConfig{
			User:            u.Name,
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: hostKeys,
			Timeout:         10 * time.Second,
		},
	}
	tb.Cleanup(b.drop)
	return b
}

// get is the bed's ClientFunc.
func (b *sshBed) get(ctx context.Context) (Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.client != nil {
		return b.client, nil
	}
	c, err := ssh.Dial("tcp", b.srv.Addr, b.cfg)
	if err != nil {
		return nil, fmt.Errorf("ssh dial %s: %w", b.srv.Addr, err)
	}
	b.client = c
	b.dials++
	go func() {
		_ = c.Wait()
		b.mu.Lock()
		if b.client == c {
			b.client = nil
		}
		b.mu.Unlock()
	}()
	return c, nil
}

// drop closes the current client; the next get dials a new one.
func (b *sshBed) drop() {
	b.mu.Lock()
	c := b.client
	b.client = nil
	b.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (b *sshBed) dialCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dials
}

// Each sshd-backed test function starts its own server and user; they run in
// parallel, except the slow-reader test, which measures the heap.

func TestSSHEcho(t *testing.T) {
	t.Parallel()
	testEcho(t, newSSHBed(t).get)
}
func TestSSHHalfClose(t *testing.T) {
	t.Parallel()
	testHalfClose(t, newSSHBed(t).get)
}
func TestSSHConcurrent(t *testing.T) {
	t.Parallel()
	testConcurrent(t, newSSHBed(t).get)
}
func TestSSHCloseFreesPort(t *testing.T) {
	t.Parallel()
	testCloseFreesPort(t, newSSHBed(t).get)
}
func TestSSHPortInUse(t *testing.T) {
	t.Parallel()
	testPortInUse(t, newSSHBed(t).get)
}
func TestSSHRefusedTarget(t *testing.T) {
	t.Parallel()
	testRefusedTarget(t, newSSHBed(t).get)
}

// TestSSHSlowReader: 3 s here; the 20 s run of reliability.md is in the soak
// suite.
func TestSSHSlowReader(t *testing.T) { testSlowReader(t, newSSHBed(t).get, 3*time.Second) }

func TestSSHRemoteRefused(t *testing.T) {
	t.Parallel()
	b := newSSHBed(t, "AllowTcpForwarding no")
	echo := startEcho(t)
	host, port := mustSplit(t, echo)
	spec := Spec{Direction: Remote, TargetHost: host, TargetPort: port}
	f, err := Open(context.Background(), spec, b.get, testLogger(t))
	if err == nil {
		f.Close()
		t.Fatal("remote forward opened with AllowTcpForwarding no")
	}
	if !errors.Is(err, ErrForwardRefused) {
		t.Fatalf("err = %v, want ErrForwardRefused", err)
	}
	var te *Error
	if !errors.As(err, &te) || !strings.Contains(te.Hint(), "AllowTcpForwarding") {
		t.Fatalf("error %v has no hint about AllowTcpForwarding", err)
	}
	if !strings.Contains(err.Error(), "remote listen 127.0.0.1:0") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("unclear message: %q", err)
	}
	t.Logf("message: %v; hint: %s", err, te.Hint())

	// A local forward is refused by Open too (its test connection is
	// prohibited), with nothing left listening.
	_, err = Open(context.Background(), Spec{Direction: Local, TargetHost: host, TargetPort: port}, b.get, testLogger(t))
	if !errors.Is(err, ErrForwardRefused) || !errors.As(err, &te) || !strings.Contains(te.Hint(), "PermitOpen") {
		t.Fatalf("local forward with AllowTcpForwarding no: err = %v, want ErrForwardRefused with a hint", err)
	}
	t.Logf("message: %v; hint: %s", err, te.Hint())

	// A dynamic forward opens; each SOCKS request is answered "not allowed".
	f = openForward(t, Spec{Direction: Dynamic}, b.get)
	cn, err := net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	rep, err := socksConnect(cn, host, port)
	if err != nil || rep != socksReplyNotAllowed {
		t.Fatalf("SOCKS with AllowTcpForwarding no: reply %#x, %v; want 0x02", rep, err)
	}
	if st := f.Stats(); st.State != StateListening {
		t.Fatalf("dynamic forward state %q after a refused dial", st.State)
	}
}

func TestSSHPermitListenAndOpen(t *testing.T) {
	t.Parallel()
	echo := startEcho(t)
	host, port := mustSplit(t, echo)
	b := newSSHBed(t, "PermitListen 127.0.0.1:1", "PermitOpen 127.0.0.1:1")
	// Remote listen outside PermitListen: refused, nothing left behind.
	_, err := Open(context.Background(), Spec{Direction: Remote, TargetHost: host, TargetPort: port}, b.get, testLogger(t))
	if !errors.Is(err, ErrForwardRefused) {
		t.Fatalf("remote forward outside PermitListen: err = %v, want ErrForwardRefused", err)
	}
	// Local forward to a target outside PermitOpen: refused by Open.
	_, err = Open(context.Background(), Spec{Direction: Local, TargetHost: host, TargetPort: port}, b.get, testLogger(t))
	if !errors.Is(err, ErrForwardRefused) {
		t.Fatalf("local forward outside PermitOpen: err = %v, want ErrForwardRefused", err)
	}
	// The permitted target opens although nothing listens there yet.
	openForward(t, Spec{Direction: Local, TargetHost: "127.0.0.1", TargetPort: 1}, b.get)
	// SOCKS to a target outside PermitOpen: reply 0x02 (not allowed).
	f := openForward(t, Spec{Direction: Dynamic}, b.get)
	cn, err := net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	rep, err := socksConnect(cn, host, port)
	if err != nil || rep != socksReplyNotAllowed {
		t.Fatalf("SOCKS outside PermitOpen: reply %#x, %v; want 0x02", rep, err)
	}
}

// TestSSHReconnect drops the SSH connection under running forwards: local and
// dynamic forwards pick up the next connection by themselves; a remote
// forward reports StateError until Rebind listens again on the same port.
func TestSSHReconnect(t *testing.T) {
	t.Parallel()
	b := newSSHBed(t)
	echo := startEcho(t)
	host, port := mustSplit(t, echo)
	local := openForward(t, Spec{Direction: Local, TargetHost: host, TargetPort: port}, b.get)
	dyn := openForward(t, Spec{Direction: Dynamic}, b.get)
	remote := openForward(t, Spec{Direction: Remote, TargetHost: host, TargetPort: port}, b.get)
	check := func(what string) {
		t.Helper()
		for _, c := range []struct {
			name string
			conn connector
		}{
			{"local", dialForward(local, "", 0)},
			{"dynamic", dialForward(dyn, host, port)},
			{"remote", dialForward(remote, "", 0)},
		} {
			cn, err := c.conn(t)
			if err == nil {
				err = roundTrip(t, cn, []byte(what))
			}
			if err != nil {
				t.Fatalf("%s %s: %v", c.name, what, err)
			}
		}
	}
	check("before the drop")

	b.srv.KillConnections()
	waitFor(t, "the remote forward to notice the drop", 10*time.Second, func() bool {
		return remote.Stats().State == StateError
	})
	if err := remote.Rebind(context.Background()); err != nil {
		t.Fatalf("Rebind: %v", err)
	}
	check("after reconnect")
	if n := b.dialCount(); n != 2 {
		t.Fatalf("%d ssh dials, want 2", n)
	}
}

// TestSSHCurlSOCKS checks the SOCKS server with curl --socks5-hostname when
// curl is installed.
func TestSSHCurlSOCKS(t *testing.T) {
	t.Parallel()
	curl, err := execLookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	b := newSSHBed(t)
	addr := serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	})
	_, port := mustSplit(t, addr)
	f := openForward(t, Spec{Direction: Dynamic}, b.get)
	out, err := runCommand(context.Background(), curl, "-q", "-sS", "--max-time", "10", "--noproxy", "",
		"--socks5-hostname", f.Spec().Listen(), fmt.Sprintf("http://localhost:%d/", port))
	if err != nil || out != "hello" {
		t.Fatalf("curl through SOCKS: %q, %v", out, err)
	}
}

// TestSSHBulk sends 100 MiB each way at once through a local forward to an
// echo server, half-closes, and compares sha256 and counters
// (reliability.md, Forwarding).
func TestSSHBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer skipped in -short mode")
	}
	t.Parallel()
	b := newSSHBed(t)
	echo := startEcho(t)
	host, port := mustSplit(t, echo)
	f := openForward(t, Spec{Direction: Local, TargetHost: host, TargetPort: port}, b.get)
	payload := randomBytes(t, 100<<20)
	cn, err := net.Dial("tcp", f.Spec().Listen())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := roundTrip(t, cn, payload); err != nil {
		t.Fatal(err)
	}
	t.Logf("100 MiB each way in %v", time.Since(start))
	waitFor(t, "the connection to end", 10*time.Second, func() bool { return f.Stats().ActiveConns == 0 })
	if st := f.Stats(); st.BytesIn != int64(len(payload)) || st.BytesOut != int64(len(payload)) {
		t.Fatalf("Stats = %+v, want %d bytes each way", st, len(payload))
	}
}
