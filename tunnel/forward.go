package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"golang.org/x/crypto/ssh"
)

// Client is what a forward needs from an SSH connection; *ssh.Client
// satisfies it. Dial opens a connection from the server's side (direct-tcpip);
// Listen asks the server to listen (tcpip-forward). When the Client also has
// DialContext(ctx, network, addr) (as *ssh.Client does), it is used so that
// closing a forward aborts a pending dial.
type Client interface {
	Dial(network, addr string) (net.Conn, error)
	Listen(network, addr string) (net.Listener, error)
}

// ClientFunc returns the session's current live connection, reconnecting
// when needed.
type ClientFunc func(ctx context.Context) (Client, error)

// States reported by [Forward.Stats].
const (
	// StateListening: the forward accepts connections.
	StateListening = "listening"
	// StateRebinding: a remote forward is listening again on a new connection.
	StateRebinding = "rebinding"
	// StateClosed: Close was called.
	StateClosed = "closed"
	// StateError: the listener failed (for a remote forward, typically the
	// SSH connection dropped: call Rebind after reconnecting).
	StateError = "error"
)

// copyBufferSize is the size of each pooled copy buffer; a connection uses
// two (one per direction) while it copies.
const copyBufferSize = 64 << 10

// probeTimeout bounds the test connection Open makes for a local forward.
const probeTimeout = 3 * time.Second

// targetDialTimeout bounds a remote forward's dial to its local target.
const targetDialTimeout = 30 * time.Second

// Stats are a forward's counters. BytesOut counts bytes from the client side
// (whoever connected to the listen address) to the target; BytesIn counts
// bytes from the target back to the client side. Counts are exact: each byte
// is counted once it has been written to the receiving side.
type Stats struct {
	// ActiveConns is the number of connections being served now.
	ActiveConns int64 `json:"active_conns"`
	// TotalConns is the number of connections accepted since Open.
	TotalConns int64 `json:"total_conns"`
	// BytesIn is the number of bytes copied from targets to clients.
	BytesIn int64 `json:"bytes_in"`
	// BytesOut is the number of bytes copied from clients to targets.
	BytesOut int64 `json:"bytes_out"`
	// State is StateListening, StateRebinding, StateClosed or StateError.
	State string `json:"state"`
}

// Forward is one running forward. Its methods are safe for concurrent use.
type Forward struct {
	get    ClientFunc
	logger *log.Logger
	spec   Spec // immutable after Open, ListenPort filled in
	bufs   sync.Pool

	// ctx is the forward's lifetime; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts accept loops and connection goroutines; Close waits for it.
	wg sync.WaitGroup
	// rebindMu serialises Rebind calls.
	rebindMu sync.Mutex

	mu     sync.Mutex
	ln     net.Listener // nil while rebinding and after Close
	state  string
	closed bool
	conns  map[net.Conn]struct{} // both ends of every live connection

	active, total, bytesIn, bytesOut atomic.Int64
}

// Open starts a forward.
//
// local, dynamic: it listens on spec.Listen() here; each accepted connection
// calls get (a new call per connection, so a reconnected session is picked
// up) and dials the target, or for dynamic the SOCKS5 client's target,
// through that SSH connection. remote: it calls get once and asks the server
// to listen on spec.Listen(); each connection the server forwards is dialed
// to spec.Target() from here.
//
// For a local forward Open also makes one test connection to the target
// through the server and closes it at once, so that a server that forbids
// the target (AllowTcpForwarding, PermitOpen) fails Open with
// [ErrForwardRefused]; a target that refuses or does not answer yet is only
// logged. Dynamic forwards have no fixed target: a forbidden one is answered
// with SOCKS reply 0x02 per connection.
//
// ctx bounds Open only; the forward runs until Close. A listen address that
// is not loopback is logged as a warning (it is reachable from the network).
// Errors: a malformed spec wraps [ErrInvalidSpec]; a local listen on a port
// in use returns an [*Error] wrapping [ErrPortInUse] that names the address;
// a port below 1024 without the right to bind it wraps [ErrPrivilegedPort];
// a remote listen the server refuses (AllowTcpForwarding, PermitListen, port
// taken or privileged on the server) or a local forward's target it forbids
// wraps [ErrForwardRefused]. On error nothing is left listening. A nil
// logger discards log output.
func Open(ctx context.Context, spec Spec, get ClientFunc, logger *log.Logger) (*Forward, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if get == nil {
		return nil, fmt.Errorf("open forward %s: nil ClientFunc", spec)
	}
	if spec.ListenHost == "" {
		spec.ListenHost = DefaultBindHost
	}
	if logger == nil {
		logger = log.New(io.Discard)
	}
	f := &Forward{
		get:    get,
		logger: logger,
		spec:   spec,
		state:  StateListening,
		conns:  make(map[net.Conn]struct{}),
	}
	f.bufs.New = func() any {
		b := make([]byte, copyBufferSize)
		return &b
	}

	var ln net.Listener
	var err error
	if spec.Direction == Remote {
		ln, err = f.listenRemote(ctx)
	} else {
		ln, err = listenLocal(ctx, spec)
	}
	if err != nil {
		return nil, err
	}
	if spec.Direction == Local {
		if err := f.probe(ctx); err != nil {
			_ = ln.Close()
			return nil, err
		}
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.Port != 0 {
		f.spec.ListenPort = a.Port
	}
	if !isLoopback(spec.ListenHost) {
		where := "this machine's network"
		if spec.Direction == Remote {
			where = "the server's network (if sshd's GatewayPorts allows it)"
		}
		logger.Warn("forward listens on a non-loopback address: it is reachable from "+where,
			"listen", f.spec.Listen(), "direction", spec.Direction)
	}
	f.ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	f.ln = ln
	f.wg.Add(1)
	go f.acceptLoop(ln)
	logger.Debug("forward open", "direction", spec.Direction, "listen", f.spec.Listen(), "target", spec.Target())
	return f, nil
}

// Spec returns the forward's spec, with ListenPort filled in when 0 was
// asked.
func (f *Forward) Spec() Spec { return f.spec }

// Stats returns the forward's counters and state.
func (f *Forward) Stats() Stats {
	f.mu.Lock()
	state := f.state
	f.mu.Unlock()
	return Stats{
		ActiveConns: f.active.Load(),
		TotalConns:  f.total.Load(),
		BytesIn:     f.bytesIn.Load(),
		BytesOut:    f.bytesOut.Load(),
		State:       state,
	}
}

// Rebind makes a remote forward listen again, on the connection get returns
// now, on the same server address and port (the port the server picked, if
// 0 was asked). Call it after a reconnect. The old listener is closed first;
// connections in progress are not touched. On failure the state is
// StateError and Rebind may be called again. It is a no-op for local and
// dynamic forwards, which pick up a new connection by themselves.
func (f *Forward) Rebind(ctx context.Context) error {
	if f.spec.Direction != Remote {
		return nil
	}
	f.rebindMu.Lock()
	defer f.rebindMu.Unlock()

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return fmt.Errorf("rebind %s: %w", f.spec, ErrClosed)
	}
	old := f.ln
	f.ln = nil
	f.state = StateRebinding
	f.mu.Unlock()

	if old != nil {
		// On a dead connection this fails: the server side is gone anyway.
		if err := old.Close(); err != nil {
			f.logger.Debug("forward: closing the old remote listener", "listen", f.spec.Listen(), "err", err)
		}
	}
	ln, err := f.listenRemote(ctx)

	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		if ln != nil {
			_ = ln.Close()
		}
		return fmt.Errorf("rebind %s: %w", f.spec, ErrClosed)
	}
	if err != nil {
		f.state = StateError
		f.mu.Unlock()
		return err
	}
	f.ln = ln
	f.state = StateListening
	f.wg.Add(1)
	f.mu.Unlock()
	go f.acceptLoop(ln)
	f.logger.Info("forward listening again", "listen", f.spec.Listen(), "target", f.spec.Target())
	return nil
}

// Close stops the listener at once (the port refuses connections as soon as
// Close returns; for a remote forward, once the server has confirmed the
// cancel) and closes active connections, then waits for the forward's
// goroutines to end. It is idempotent and always returns nil; failures to
// cancel a remote listen on a dead connection are only logged.
func (f *Forward) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.state = StateClosed
	ln := f.ln
	f.ln = nil
	conns := f.conns
	f.conns = nil
	f.mu.Unlock()

	f.cancel()
	if ln != nil {
		if err := ln.Close(); err != nil {
			f.logger.Debug("forward: close listener", "listen", f.spec.Listen(), "err", err)
		}
	}
	for c := range conns {
		_ = c.Close()
	}
	f.wg.Wait()
	f.logger.Debug("forward closed", "listen", f.spec.Listen(), "target", f.spec.Target())
	return nil
}

// probe makes one connection to a local forward's target through the
// server and closes it at once, so that a server that forbids it
// (AllowTcpForwarding, PermitOpen) is reported by Open rather than on every
// connection. A target that refuses or does not answer within probeTimeout
// is only logged: it may come up later.
func (f *Forward) probe(ctx context.Context) error {
	target := f.spec.Target()
	c, err := f.get(ctx)
	if err != nil {
		return fmt.Errorf("open forward %s: get ssh connection: %w", f.spec, err)
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var conn net.Conn
	if d, ok := c.(contextDialer); ok {
		conn, err = d.DialContext(pctx, "tcp", target)
	} else {
		conn, err = dialWithContext(pctx, c, target)
	}
	if err == nil {
		_ = conn.Close()
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("open forward %s: %w", f.spec, context.Cause(ctx))
	}
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) && oce.Reason == ssh.Prohibited {
		return &Error{
			Op:   "forward to",
			Addr: target,
			Kind: ErrForwardRefused,
			Err:  err,
			HintText: "the SSH server does not allow connections to this target: check sshd_config " +
				"(AllowTcpForwarding yes or local, PermitOpen) or pick a target it permits",
		}
	}
	f.logger.Warn("forward: the target cannot be reached now; the forward stays open",
		"listen", f.spec.Listen(), "target", target, "err", err)
	return nil
}

// listenLocal listens on spec.Listen() here, mapping failures to *Error.
func listenLocal(ctx context.Context, spec Spec) (net.Listener, error) {
	addr := spec.Listen()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err == nil {
		return ln, nil
	}
	cause := err
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		cause = opErr.Err // drop the repeated "listen tcp addr:" prefix
	}
	e := &Error{Op: "listen", Addr: addr, Err: cause}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		e.Kind = ErrPortInUse
		e.HintText = fmt.Sprintf("something else listens on port %d here: pick another local port, or 0 to have one picked", spec.ListenPort)
	case errors.Is(err, syscall.EACCES) && spec.ListenPort > 0 && spec.ListenPort < 1024:
		e.Kind = ErrPrivilegedPort
		e.HintText = "pick a port of 1024 or more (or 0 to have one picked); binding a lower port needs root or CAP_NET_BIND_SERVICE"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		e.HintText = fmt.Sprintf("%s is not an address of this machine: use 127.0.0.1 (the default) or one of its addresses", spec.ListenHost)
	default:
		e.HintText = "check the listen address"
	}
	return nil, e
}

// listenRemote asks the server, through the connection get returns now, to
// listen on the spec's listen address.
func (f *Forward) listenRemote(ctx context.Context) (net.Listener, error) {
	addr := f.spec.Listen()
	c, err := f.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("remote listen %s: get ssh connection: %w", addr, err)
	}
	type result struct {
		ln  net.Listener
		err error
	}
	ch := make(chan result)
	// Client.Listen takes no context: this goroutine ends when it returns,
	// closing a listener nobody waits for any more.
	go func() {
		ln, err := c.Listen("tcp", addr)
		select {
		case ch <- result{ln, err}:
		case <-ctx.Done():
			if ln != nil {
				_ = ln.Close()
			}
		}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, fmt.Errorf("remote listen %s: %w", addr, context.Cause(ctx))
	}
	if r.err == nil {
		return r.ln, nil
	}
	if isConnectionError(r.err) {
		return nil, fmt.Errorf("remote listen %s: ssh connection lost: %w", addr, r.err)
	}
	return nil, &Error{
		Op:   "remote listen",
		Addr: addr,
		Kind: ErrForwardRefused,
		Err:  r.err,
		HintText: "the SSH server refused to listen there: check sshd_config (AllowTcpForwarding yes or remote, " +
			"PermitListen), that the port is free on the server, and that ports below 1024 are asked for only by root logins",
	}
}

// isConnectionError tells a broken SSH connection from a refused request:
// x/crypto reports a refusal with a plain error and a dead connection with
// io.EOF or a network error.
func isConnectionError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// acceptLoop serves ln until it fails or is replaced or closed.
func (f *Forward) acceptLoop(ln net.Listener) {
	defer f.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if f.ctx.Err() != nil || !f.isCurrent(ln) {
				return
			}
			if isTemporaryAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				f.logger.Warn("forward: accept failed, retrying", "listen", f.spec.Listen(), "err", err, "retry_in", backoff)
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
					continue
				case <-f.ctx.Done():
					t.Stop()
					return
				}
			}
			f.mu.Lock()
			if f.ln == ln {
				f.state = StateError
			}
			f.mu.Unlock()
			if f.spec.Direction == Remote {
				f.logger.Warn("forward: remote listener lost (SSH connection dropped?): rebind after reconnecting",
					"listen", f.spec.Listen(), "err", err)
			} else {
				f.logger.Error("forward: listener failed", "listen", f.spec.Listen(), "err", err)
			}
			return
		}
		backoff = 0
		f.total.Add(1)
		f.active.Add(1)
		f.wg.Add(1)
		go f.serve(c)
	}
}

func (f *Forward) isCurrent(ln net.Listener) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ln == ln && !f.closed
}

func isTemporaryAcceptError(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// serve handles one accepted connection: dial the target, then copy.
func (f *Forward) serve(c net.Conn) {
	defer f.wg.Done()
	defer f.active.Add(-1)
	if !f.track(c) {
		return
	}
	defer f.untrack(c)

	var (
		up     net.Conn
		target string
		err    error
	)
	switch f.spec.Direction {
	case Local:
		target = f.spec.Target()
		up, err = f.dialRemote(f.ctx, target)
	case Dynamic:
		up, target, err = ServeSOCKS(f.ctx, c, f.dialRemote)
	case Remote:
		target = f.spec.Target()
		d := net.Dialer{Timeout: targetDialTimeout}
		up, err = d.DialContext(f.ctx, "tcp", target)
	}
	if err != nil {
		var se *SOCKSError
		switch {
		case f.ctx.Err() != nil:
		case errors.As(err, &se) && se.Target == "":
			f.logger.Info("forward: closing a connection: SOCKS5 handshake failed",
				"listen", f.spec.Listen(), "from", c.RemoteAddr(), "err", err)
		default:
			f.logger.Warn("forward: closing a connection: cannot reach the target",
				"listen", f.spec.Listen(), "target", target, "err", err)
		}
		return
	}
	if !f.track(up) {
		return
	}
	defer f.untrack(up)
	f.pipe(c, up)
}

// track registers a live connection so that Close can close it; it closes c
// and returns false when the forward is already closed.
func (f *Forward) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		_ = c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (f *Forward) untrack(c net.Conn) {
	_ = c.Close()
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// contextDialer is implemented by *ssh.Client.
type contextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialRemote opens addr from the server's side through the session's
// current connection.
func (f *Forward) dialRemote(ctx context.Context, addr string) (net.Conn, error) {
	c, err := f.get(ctx)
	if err != nil {
		return nil, fmt.Errorf("get ssh connection: %w", err)
	}
	var conn net.Conn
	if d, ok := c.(contextDialer); ok {
		conn, err = d.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialWithContext(ctx, c, addr)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s through ssh: %w", addr, err)
	}
	return conn, nil
}

// dialWithContext runs c.Dial, which takes no context, so that ctx can
// abandon it; the goroutine ends when Dial returns and closes a connection
// nobody waits for any more.
func dialWithContext(ctx context.Context, c Client, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result)
	go func() {
		conn, err := c.Dial("tcp", addr)
		select {
		case ch <- result{conn, err}:
		case <-ctx.Done():
			if conn != nil {
				_ = conn.Close()
			}
		}
	}()
	select {
	case r := <-ch:
		return r.conn, r.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// isLoopback reports whether host is "localhost" or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
