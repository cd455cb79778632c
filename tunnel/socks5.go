package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// SOCKS5 constants (RFC 1928).
const (
	socksVersion = 0x05

	socksMethodNoAuth       = 0x00
	socksMethodNoAcceptable = 0xFF

	socksCmdConnect = 0x01

	socksAtypIPv4   = 0x01
	socksAtypDomain = 0x03
	socksAtypIPv6   = 0x04

	socksReplySucceeded          = 0x00
	socksReplyGeneralFailure     = 0x01
	socksReplyNotAllowed         = 0x02
	socksReplyNetworkUnreachable = 0x03
	socksReplyHostUnreachable    = 0x04
	socksReplyConnectionRefused  = 0x05
	socksReplyCommandUnsupported = 0x07
	socksReplyAddrUnsupported    = 0x08
)

// SOCKSHandshakeTimeout bounds how long a SOCKS client may take to send its
// greeting and request, and to accept the reply.
const SOCKSHandshakeTimeout = 10 * time.Second

// DialFunc opens a connection to addr ("host:port"). A SOCKS server passes
// domain names through unresolved, so with an SSH dial the name is resolved on
// the remote side.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// SOCKSError is a SOCKS5 handshake or connect failure. Reply is the reply
// code sent to the client, or -1 when none could be sent (for example a
// greeting that was not SOCKS5, or a client that went away).
type SOCKSError struct {
	// Target is the requested "host:port", empty when the request was not read.
	Target string
	// Reply is the RFC 1928 reply code sent, -1 when none was sent.
	Reply int
	// Err is what went wrong.
	Err error
}

// Error describes the failure and the target.
func (e *SOCKSError) Error() string {
	if e.Target != "" {
		return "socks5 connect " + e.Target + ": " + e.Err.Error()
	}
	return "socks5 handshake: " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *SOCKSError) Unwrap() error { return e.Err }

// ServeSOCKS runs the server side of a SOCKS5 handshake on conn (RFC 1928,
// CONNECT with the "no authentication" method only), dials the requested
// address with dial and sends the reply.
//
// On success it returns the upstream connection and the target "host:port";
// the caller then copies data between conn and upstream and closes both. On
// failure it returns a *SOCKSError after sending the matching reply when the
// handshake got that far (0xFF when "no authentication" is not offered, 0x07
// for commands other than CONNECT, 0x08 for unknown address types, and for a
// failed dial 0x05 connection refused, 0x04 host unreachable, 0x03 network
// unreachable, 0x02 not allowed, 0x01 otherwise); conn is left open for the
// caller to close.
//
// Reads are exact (no read-ahead, so data a client sends right after its
// request is left for the copy) and bounded by [SOCKSHandshakeTimeout] and
// ctx. Domain names are passed to dial unresolved.
func ServeSOCKS(ctx context.Context, conn net.Conn, dial DialFunc) (upstream net.Conn, target string, err error) {
	// Abort a blocked read or write when ctx ends; once it has, no deadline
	// may be set again.
	var mu sync.Mutex
	canceled := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		canceled = true
		_ = conn.SetDeadline(time.Unix(1, 0))
	})
	defer stop()
	setDeadline := func(t time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		if canceled {
			return ctx.Err()
		}
		return conn.SetDeadline(t)
	}

	fail := func(target string, reply int, err error) (net.Conn, string, error) {
		if reply >= 0 {
			if werr := writeSOCKSReply(conn, byte(reply), nil); werr != nil {
				reply = -1
			}
		}
		return nil, target, &SOCKSError{Target: target, Reply: reply, Err: err}
	}

	if err := setDeadline(time.Now().Add(SOCKSHandshakeTimeout)); err != nil {
		return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("set deadline: %w", err)}
	}
	var buf [4 + 1 + 255 + 2]byte // largest message read at once: a domain request

	// Greeting: VER NMETHODS METHODS...
	if _, err := io.ReadFull(conn, buf[:2]); err != nil {
		return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read greeting: %w", err)}
	}
	if buf[0] != socksVersion {
		return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("version %#02x is not SOCKS5", buf[0])}
	}
	methods := buf[2 : 2+int(buf[1])]
	if _, err := io.ReadFull(conn, methods); err != nil {
		return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read auth methods: %w", err)}
	}
	noAuth := false
	for _, m := range methods {
		if m == socksMethodNoAuth {
			noAuth = true
		}
	}
	if !noAuth {
		_, _ = conn.Write([]byte{socksVersion, socksMethodNoAcceptable})
		return nil, "", &SOCKSError{Reply: socksMethodNoAcceptable, Err: fmt.Errorf("client offers no acceptable auth method (only \"no authentication\" is supported)")}
	}
	if _, err := conn.Write([]byte{socksVersion, socksMethodNoAuth}); err != nil {
		return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("write method choice: %w", err)}
	}

	// Request: VER CMD RSV ATYP DST.ADDR DST.PORT
	if _, err := io.ReadFull(conn, buf[:4]); err != nil {
		return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read request: %w", err)}
	}
	if buf[0] != socksVersion {
		return fail("", socksReplyGeneralFailure, fmt.Errorf("request version %#02x is not SOCKS5", buf[0]))
	}
	cmd, atyp := buf[1], buf[3]
	var host string
	switch atyp {
	case socksAtypIPv4:
		if _, err := io.ReadFull(conn, buf[:4]); err != nil {
			return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read IPv4 address: %w", err)}
		}
		host = net.IP(buf[:4]).String()
	case socksAtypIPv6:
		if _, err := io.ReadFull(conn, buf[:16]); err != nil {
			return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read IPv6 address: %w", err)}
		}
		host = net.IP(buf[:16]).String()
	case socksAtypDomain:
		if _, err := io.ReadFull(conn, buf[:1]); err != nil {
			return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read domain length: %w", err)}
		}
		name := buf[1 : 1+int(buf[0])]
		if _, err := io.ReadFull(conn, name); err != nil {
			return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read domain name: %w", err)}
		}
		host = string(name)
	default:
		return fail("", socksReplyAddrUnsupported, fmt.Errorf("address type %#02x is not supported", atyp))
	}
	if _, err := io.ReadFull(conn, buf[:2]); err != nil {
		return nil, "", &SOCKSError{Reply: -1, Err: fmt.Errorf("read port: %w", err)}
	}
	port := int(buf[0])<<8 | int(buf[1])
	target = net.JoinHostPort(host, strconv.Itoa(port))
	if cmd != socksCmdConnect {
		return fail(target, socksReplyCommandUnsupported, fmt.Errorf("command %#02x is not supported (only CONNECT)", cmd))
	}
	if atyp == socksAtypDomain {
		if err := checkHost(field{text: host}); err != nil {
			return fail(target, socksReplyHostUnreachable, fmt.Errorf("bad domain name: %w", err))
		}
	}
	if port == 0 {
		return fail(target, socksReplyHostUnreachable, fmt.Errorf("port 0"))
	}

	// Dial with no deadline on conn: the dial may take as long as the
	// server's connect does; ctx still bounds it.
	if err := setDeadline(time.Time{}); err != nil {
		return nil, target, &SOCKSError{Target: target, Reply: -1, Err: fmt.Errorf("clear deadline: %w", err)}
	}
	up, err := dial(ctx, target)
	if err != nil {
		_ = setDeadline(time.Now().Add(SOCKSHandshakeTimeout))
		return fail(target, int(socksReplyFor(err)), err)
	}
	if err := setDeadline(time.Now().Add(SOCKSHandshakeTimeout)); err != nil {
		up.Close()
		return nil, target, &SOCKSError{Target: target, Reply: -1, Err: fmt.Errorf("set deadline: %w", err)}
	}
	if err := writeSOCKSReply(conn, socksReplySucceeded, up.LocalAddr()); err != nil {
		up.Close()
		return nil, target, &SOCKSError{Target: target, Reply: -1, Err: fmt.Errorf("write reply: %w", err)}
	}
	if err := setDeadline(time.Time{}); err != nil {
		up.Close()
		return nil, target, &SOCKSError{Target: target, Reply: -1, Err: fmt.Errorf("clear deadline: %w", err)}
	}
	if !stop() {
		// ctx ended after the reply: conn's deadline is in the past.
		up.Close()
		return nil, target, &SOCKSError{Target: target, Reply: -1, Err: context.Cause(ctx)}
	}
	return up, target, nil
}

// writeSOCKSReply sends VER REP RSV ATYP BND.ADDR BND.PORT. The bound address
// is bnd when it is a TCP address, else 0.0.0.0:0.
func writeSOCKSReply(w io.Writer, rep byte, bnd net.Addr) error {
	msg := make([]byte, 0, 22)
	msg = append(msg, socksVersion, rep, 0x00)
	ip, port := net.IPv4zero.To4(), 0
	if a, ok := bnd.(*net.TCPAddr); ok && a != nil && a.IP != nil {
		port = a.Port
		if v4 := a.IP.To4(); v4 != nil {
			ip = v4
		} else if v6 := a.IP.To16(); v6 != nil {
			ip = v6
		}
	}
	if len(ip) == net.IPv4len {
		msg = append(msg, socksAtypIPv4)
	} else {
		msg = append(msg, socksAtypIPv6)
	}
	msg = append(msg, ip...)
	msg = append(msg, byte(port>>8), byte(port))
	_, err := w.Write(msg)
	return err
}

// socksReplyFor maps a dial error to a SOCKS5 reply code. Errors from the
// local network stack are matched by errno; errors from an SSH server's
// channel-open failure by reason and, for "connect failed", by the message
// the server sent (OpenSSH sends strerror text there and nothing else tells
// a refused port from an unreachable host).
func socksReplyFor(err error) byte {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return socksReplyConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return socksReplyNetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ETIMEDOUT):
		return socksReplyHostUnreachable
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return socksReplyHostUnreachable
	}
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) {
		switch oce.Reason {
		case ssh.Prohibited:
			return socksReplyNotAllowed
		case ssh.ConnectionFailed:
			msg := strings.ToLower(oce.Message)
			switch {
			case strings.Contains(msg, "refused"):
				return socksReplyConnectionRefused
			case strings.Contains(msg, "network is unreachable"):
				return socksReplyNetworkUnreachable
			}
			return socksReplyHostUnreachable
		}
	}
	return socksReplyGeneralFailure
}
