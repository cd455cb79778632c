package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// memConn is a net.Conn that reads a fixed input and records what is
// written; deadlines are accepted and ignored.
type memConn struct {
	r   *bytes.Reader
	out bytes.Buffer
}

func newMemConn(in []byte) *memConn { return &memConn{r: bytes.NewReader(in)} }

func (c *memConn) Read(p []byte) (int, error)         { return c.r.Read(p) }
func (c *memConn) Write(p []byte) (int, error)        { return c.out.Write(p) }
func (c *memConn) Close() error                       { return nil }
func (c *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(t time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

// upstreamConn is what the fake dialer returns.
type upstreamConn struct {
	memConn
	addr string
}

func (c *upstreamConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 4321}
}

// fakeDial succeeds unless the port says otherwise: 1 refused (errno),
// 2 refused (ssh), 3 unreachable (ssh), 4 prohibited (ssh), 5 other error.
func fakeDial(ctx context.Context, addr string) (net.Conn, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	switch port {
	case "1":
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	case "2":
		return nil, &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Connection refused"}
	case "3":
		return nil, &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "No route to host"}
	case "4":
		return nil, &ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "administratively prohibited: open failed"}
	case "5":
		return nil, errors.New("something else")
	}
	return &upstreamConn{memConn: *newMemConn(nil), addr: addr}, nil
}

func greet(methods ...byte) []byte {
	return append([]byte{5, byte(len(methods))}, methods...)
}

func request(cmd, atyp byte, addr []byte, port uint16) []byte {
	b := []byte{5, cmd, 0, atyp}
	if atyp == socksAtypDomain {
		b = append(b, byte(len(addr)))
	}
	b = append(b, addr...)
	return append(b, byte(port>>8), byte(port))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var okReply = []byte{5, 0, 0, 1, 10, 1, 2, 3, 0x10, 0xe1}

func TestServeSOCKS(t *testing.T) {
	t.Parallel()
	ipv6 := net.ParseIP("2001:db8::7").To16()
	tests := []struct {
		name       string
		in         []byte
		wantTarget string
		wantErr    bool
		wantReply  int    // SOCKSError.Reply when wantErr
		wantOut    []byte // everything written to the client
	}{
		{"ipv4", cat(greet(0), request(1, 1, []byte{127, 0, 0, 1}, 80)), "127.0.0.1:80", false, 0,
			cat([]byte{5, 0}, okReply)},
		{"ipv6", cat(greet(0), request(1, 4, ipv6, 443)), "[2001:db8::7]:443", false, 0,
			cat([]byte{5, 0}, okReply)},
		{"domain", cat(greet(0), request(1, 3, []byte("localhost"), 8080)), "localhost:8080", false, 0,
			cat([]byte{5, 0}, okReply)},
		{"several methods", cat(greet(2, 1, 0), request(1, 3, []byte("example.invalid"), 22)), "example.invalid:22", false, 0,
			cat([]byte{5, 0}, okReply)},
		{"only user/pass", greet(2), "", true, 0xFF, []byte{5, 0xFF}},
		{"no methods", greet(), "", true, 0xFF, []byte{5, 0xFF}},
		{"socks4", []byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, "", true, -1, nil},
		{"empty", nil, "", true, -1, nil},
		{"truncated greeting", []byte{5, 3, 0}, "", true, -1, nil},
		{"truncated request", cat(greet(0), []byte{5, 1, 0, 1, 127}), "", true, -1, []byte{5, 0}},
		{"truncated domain", cat(greet(0), []byte{5, 1, 0, 3, 9, 'l', 'o'}), "", true, -1, []byte{5, 0}},
		{"bind command", cat(greet(0), request(2, 1, []byte{127, 0, 0, 1}, 80)), "127.0.0.1:80", true, 7,
			[]byte{5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"udp associate", cat(greet(0), request(3, 1, []byte{127, 0, 0, 1}, 80)), "127.0.0.1:80", true, 7,
			[]byte{5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"bad address type", cat(greet(0), []byte{5, 1, 0, 9, 1, 2, 3, 4, 0, 80}), "", true, 8,
			[]byte{5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"bad request version", cat(greet(0), request(1, 1, []byte{127, 0, 0, 1}, 80)[:0], []byte{4, 1, 0, 1}), "", true, 1,
			[]byte{5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"bad domain", cat(greet(0), request(1, 3, []byte("a b\x00"), 80)), "a b\x00:80", true, 4,
			[]byte{5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"empty domain", cat(greet(0), request(1, 3, nil, 80)), ":80", true, 4,
			[]byte{5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"port 0", cat(greet(0), request(1, 1, []byte{127, 0, 0, 1}, 0)), "127.0.0.1:0", true, 4,
			[]byte{5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"refused errno", cat(greet(0), request(1, 1, []byte{127, 0, 0, 1}, 1)), "127.0.0.1:1", true, 5,
			[]byte{5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"refused ssh", cat(greet(0), request(1, 3, []byte("localhost"), 2)), "localhost:2", true, 5,
			[]byte{5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"unreachable ssh", cat(greet(0), request(1, 1, []byte{10, 0, 0, 1}, 3)), "10.0.0.1:3", true, 4,
			[]byte{5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"prohibited ssh", cat(greet(0), request(1, 1, []byte{10, 0, 0, 1}, 4)), "10.0.0.1:4", true, 2,
			[]byte{5, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0}},
		{"other dial error", cat(greet(0), request(1, 1, []byte{10, 0, 0, 1}, 5)), "10.0.0.1:5", true, 1,
			[]byte{5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newMemConn(tt.in)
			up, target, err := ServeSOCKS(context.Background(), c, fakeDial)
			if target != tt.wantTarget {
				t.Errorf("target = %q, want %q", target, tt.wantTarget)
			}
			if tt.wantErr {
				var se *SOCKSError
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want a *SOCKSError", err)
				}
				if se.Reply != tt.wantReply {
					t.Errorf("reply = %d, want %d (err %v)", se.Reply, tt.wantReply, err)
				}
				if up != nil {
					t.Errorf("upstream %v returned with an error", up)
				}
			} else {
				if err != nil {
					t.Fatalf("ServeSOCKS: %v", err)
				}
				if u := up.(*upstreamConn); u.addr != tt.wantTarget {
					t.Errorf("dialed %q, want %q", u.addr, tt.wantTarget)
				}
			}
			if got := c.out.Bytes(); !bytes.Equal(got, tt.wantOut) {
				t.Errorf("wrote % x, want % x", got, tt.wantOut)
			}
		})
	}
}

// TestServeSOCKSNoReadAhead checks that bytes a client sends right after its
// request are left for the copy.
func TestServeSOCKSNoReadAhead(t *testing.T) {
	t.Parallel()
	c := newMemConn(cat(greet(0), request(1, 3, []byte("localhost"), 80), []byte("GET / HTTP/1.0\r\n\r\n")))
	if _, _, err := ServeSOCKS(context.Background(), c, fakeDial); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(c)
	if string(rest) != "GET / HTTP/1.0\r\n\r\n" {
		t.Fatalf("left %q for the copy", rest)
	}
}

// TestServeSOCKSCancel checks that a silent client does not hold the
// handshake past ctx.
func TestServeSOCKSCancel(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe()
	defer client.Close()
	defer server.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := ServeSOCKS(ctx, server, fakeDial)
		errc <- err
	}()
	if _, err := client.Write(greet(0)[:1]); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("ServeSOCKS succeeded after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeSOCKS still blocked 5s after cancel")
	}
}

// TestServeSOCKSDialContext checks that the dial gets the context and that
// a cancel during the dial returns.
func TestServeSOCKSDialContext(t *testing.T) {
	t.Parallel()
	c := newMemConn(cat(greet(0), request(1, 1, []byte{127, 0, 0, 1}, 80)))
	ctx, cancel := context.WithCancel(context.Background())
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		cancel()
		<-ctx.Done()
		return nil, fmt.Errorf("dial %s: %w", addr, ctx.Err())
	}
	_, _, err := ServeSOCKS(ctx, c, dial)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSOCKSReplyFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want byte
	}{
		{syscall.ECONNREFUSED, 5},
		{fmt.Errorf("x: %w", syscall.EHOSTUNREACH), 4},
		{syscall.ENETUNREACH, 3},
		{syscall.ETIMEDOUT, 4},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, 4},
		{fmt.Errorf("dial: %w", &ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Connection refused"}), 5},
		{&ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Network is unreachable"}, 3},
		{&ssh.OpenChannelError{Reason: ssh.ConnectionFailed, Message: "Name or service not known"}, 4},
		{&ssh.OpenChannelError{Reason: ssh.Prohibited, Message: "open failed"}, 2},
		{&ssh.OpenChannelError{Reason: ssh.ResourceShortage, Message: ""}, 1},
		{io.EOF, 1},
	}
	for _, tt := range tests {
		if got := socksReplyFor(tt.err); got != tt.want {
			t.Errorf("socksReplyFor(%v) = %#x, want %#x", tt.err, got, tt.want)
		}
	}
}

func FuzzSOCKSHandshake(f *testing.F) {
	ipv6 := net.ParseIP("::1").To16()
	seeds := [][]byte{
		cat(greet(0), request(1, 1, []byte{127, 0, 0, 1}, 80)),
		cat(greet(0), request(1, 4, ipv6, 443)),
		cat(greet(0), request(1, 3, []byte("localhost"), 8080)),
		cat(greet(2, 0), request(1, 3, []byte("example.invalid"), 1), []byte("payload")),
		cat(greet(0), request(1, 1, []byte{10, 0, 0, 1}, 3)),
		greet(2),
		greet(),
		{5},
		{4, 1, 0, 80, 127, 0, 0, 1, 0},
		cat(greet(0), []byte{5, 1, 0, 3, 200, 'a'}),
		cat(greet(0), request(2, 1, []byte{127, 0, 0, 1}, 80)),
		cat(greet(0), []byte{5, 1, 0, 7, 0, 0}),
		{5, 255},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := newMemConn(in)
		up, target, err := ServeSOCKS(context.Background(), c, fakeDial)
		out := c.out.Bytes()
		if len(out) > 2+22 {
			t.Fatalf("wrote %d bytes", len(out))
		}
		if err != nil {
			var se *SOCKSError
			if !errors.As(err, &se) {
				t.Fatalf("err %v is not a *SOCKSError", err)
			}
			if up != nil {
				t.Fatal("upstream returned with an error")
			}
			if se.Reply == 0 || se.Reply > 0xFF {
				t.Fatalf("reply %d on error", se.Reply)
			}
			return
		}
		if !bytes.Equal(out, cat([]byte{5, 0}, okReply)) {
			t.Fatalf("success but wrote % x", out)
		}
		host, port, err := net.SplitHostPort(target)
		if err != nil || host == "" || port == "0" || strings.ContainsAny(host, " \x00") {
			t.Fatalf("success with target %q", target)
		}
		if up.(*upstreamConn).addr != target {
			t.Fatalf("dialed %q, returned %q", up.(*upstreamConn).addr, target)
		}
	})
}
