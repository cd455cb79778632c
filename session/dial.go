package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// endpoint is one resolved hop: where to dial and how to authenticate.
type endpoint struct {
	alias string // what the user typed (for ssh_config and messages)
	user  string
	host  string // HostName
	port  int
	cred  *credentials
	hc    hostConfig
}

func (e *endpoint) addr() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }

// dialPlan is everything needed to (re)establish a session's connection.
type dialPlan struct {
	hops    []*endpoint // ProxyJump hops, in order
	target  *endpoint
	timeout time.Duration
	policy  string
	// keepalive settings
	aliveInterval time.Duration
	aliveMax      int
}

// connInfo is what a successful dial learned.
type connInfo struct {
	serverVersion string
	fingerprint   string
	recorded      bool
	method        string
	// lastRead is when bytes last arrived from the server (UnixNano), for the keepalive.
	lastRead *atomic.Int64
}

// activityConn records when bytes last arrived on a connection, and whether any did.
type activityConn struct {
	net.Conn
	last *atomic.Int64
	any  atomic.Bool
}

func (c *activityConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.last.Store(time.Now().UnixNano())
		c.any.Store(true)
		if n < quickAckBelow {
			quickAck(c.Conn)
		}
	}
	return n, err
}

// quickAckBelow: a read shorter than x/crypto's 4 KiB read buffer means the
// peer sent a small message, not bulk data. We then acknowledge at once
// (TCP_QUICKACK) instead of after the 40 ms delayed-ACK timer: sshd does not
// set TCP_NODELAY on non-interactive sessions, so Nagle holds its next small
// segment (e.g. the reply to the first channel open of a connection) until
// our ACK arrives. Measured: the first exec on a new connection took ~50 ms
// without it and ~8 ms with it; later channel opens are unaffected.
const quickAckBelow = 4096

// errNoBanner marks a connection the server closed before sending a byte:
// sshd does this to connections past its MaxStartups, before any
// authentication, so the dial may be tried again.
var errNoBanner = errors.New("the server closed the connection before its SSH banner")

// dialRetries bounds the new tries of a dial the server dropped before its banner.
const dialRetries = 4

// resolveEndpoint applies ssh_config to a target, the way ssh does.
func (h *Holder) resolveEndpoint(cfg *sshConfig, t Target, userOverride string, portOverride int) (*endpoint, error) {
	hc, err := cfg.lookup(t.Host)
	if err != nil {
		return nil, err
	}
	e := &endpoint{alias: t.Host, host: hc.HostName, port: 22, hc: hc}
	switch {
	case userOverride != "":
		e.user = userOverride
	case t.User != "":
		e.user = t.User
	case hc.User != "":
		e.user = hc.User
	default:
		if u, err := user.Current(); err == nil {
			e.user = u.Username
		}
	}
	switch {
	case portOverride != 0:
		e.port = portOverride
	case t.Port != 0:
		e.port = t.Port
	case hc.Port != 0:
		e.port = hc.Port
	}
	return e, nil
}

// plan resolves a connect request into a dial plan, loading keys (and
// asking for passphrases) up front.
func (h *Holder) plan(ctx context.Context, req ConnectRequest, a *authState) (*dialPlan, error) {
	t, err := ParseTarget(req.Host)
	if err != nil {
		return nil, err
	}
	if req.Port < 0 || req.Port > 65535 {
		return nil, Errf(CodeInvalidArgument, "use a port from 1 to 65535", "port %d is out of range", req.Port)
	}
	cfg, err := loadSSHConfig(h.home())
	if err != nil {
		return nil, err
	}
	target, err := h.resolveEndpoint(cfg, t, req.Username, req.Port)
	if err != nil {
		return nil, err
	}
	if err := h.allowed(target); err != nil {
		return nil, err
	}
	caller := a.caller
	useAgent := caller.AgentSocket != ""
	if req.UseAgent != nil {
		useAgent = *req.UseAgent && caller.AgentSocket != ""
	}
	loadCred := func(e *endpoint, keyPath string, pass Secret, password Secret) error {
		paths, explicit := identityPaths(keyPath, e.hc, h.home(), e.user, e.port)
		signers, err := loadSigners(a, paths, explicit, pass)
		if err != nil {
			return err
		}
		e.cred = &credentials{signers: signers, agentSocket: caller.AgentSocket, useAgent: useAgent && !(e.hc.IdentitiesOnly && explicit), password: password}
		return nil
	}
	if err := loadCred(target, req.KeyPath, req.Passphrase, req.Password); err != nil {
		return nil, err
	}
	p := &dialPlan{target: target, policy: caller.HostKeyPolicy, timeout: h.cfg.ConnectTimeout,
		aliveInterval: h.cfg.Keepalive, aliveMax: h.cfg.KeepaliveMax}
	if p.policy == "" {
		p.policy = HostKeyAcceptNew
	}
	if target.hc.ConnectTimeout > 0 {
		p.timeout = target.hc.ConnectTimeout
	}
	if req.Timeout > 0 {
		p.timeout = time.Duration(req.Timeout * float64(time.Second))
	}
	if target.hc.ServerAliveInterval > 0 {
		p.aliveInterval = target.hc.ServerAliveInterval
	}
	if target.hc.ServerAliveCountMax > 0 {
		p.aliveMax = target.hc.ServerAliveCountMax
	}
	for _, hop := range target.hc.ProxyJump {
		ht, err := parseJump(hop)
		if err != nil {
			return nil, err
		}
		e, err := h.resolveEndpoint(cfg, ht, "", 0)
		if err != nil {
			return nil, err
		}
		if err := loadCred(e, "", "", ""); err != nil {
			return nil, err
		}
		p.hops = append(p.hops, e)
	}
	return p, nil
}

func parseJump(s string) (Target, error) {
	t, err := ParseTarget(s)
	if err != nil {
		return t, Errf(CodeInvalidArgument, "ProxyJump takes [user@]host[:port][,...]", "bad ProxyJump hop %q", s)
	}
	return t, nil
}

// dial connects the plan's target (through its hops), verifying every host key.
func (h *Holder) dial(ctx context.Context, p *dialPlan, a *authState) (*ssh.Client, connInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	release, err := h.throttle(ctx, p.target.addr())
	if err != nil {
		return nil, connInfo{}, h.dialErr(ctx, p.target, err)
	}
	defer release()

	var via *ssh.Client
	var chain []*ssh.Client
	fail := func(e *endpoint, err error) (*ssh.Client, connInfo, error) {
		for i := len(chain) - 1; i >= 0; i-- {
			chain[i].Close()
		}
		return nil, connInfo{}, h.dialErr(ctx, e, err)
	}
	var info connInfo
	for _, e := range append(append([]*endpoint{}, p.hops...), p.target) {
		c, ci, err := h.dialOne(ctx, p, e, via, a)
		for try := 1; err != nil && errors.Is(err, errNoBanner) && try <= dialRetries; try++ {
			// sshd counts a connection against MaxStartups until its
			// listener learns that authentication finished, a little after
			// the client does: back off and try again.
			select {
			case <-time.After(time.Duration(25<<try) * time.Millisecond):
			case <-ctx.Done():
				return fail(e, err)
			}
			c, ci, err = h.dialOne(ctx, p, e, via, a)
		}
		if err != nil {
			return fail(e, err)
		}
		chain = append(chain, c)
		via = c
		info = ci
	}
	final := chain[len(chain)-1]
	if len(chain) > 1 {
		// Closing the final client must close the hops under it.
		hops := chain[:len(chain)-1]
		go func() {
			final.Wait()
			for i := len(hops) - 1; i >= 0; i-- {
				hops[i].Close()
			}
		}()
	}
	return final, info, nil
}

func (h *Holder) dialOne(ctx context.Context, p *dialPlan, e *endpoint, via *ssh.Client, a *authState) (*ssh.Client, connInfo, error) {
	if strings.HasSuffix(strings.ToLower(strings.TrimSuffix(e.host, ".")), ".invalid") {
		// RFC 6761: .invalid never resolves; answer without asking DNS.
		return nil, connInfo{}, &net.DNSError{Err: "no such host", Name: e.host, IsNotFound: true}
	}
	var conn net.Conn
	var err error
	if via == nil {
		d := net.Dialer{KeepAlive: 30 * time.Second}
		conn, err = d.DialContext(ctx, "tcp", e.addr())
	} else {
		conn, err = dialVia(ctx, via, e.addr())
	}
	if err != nil {
		return nil, connInfo{}, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	lastRead := new(atomic.Int64)
	lastRead.Store(time.Now().UnixNano())
	ac := &activityConn{Conn: conn, last: lastRead}
	conn = ac
	// x/crypto's Timeout covers only the TCP dial: bound banner, kex and auth too.
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	hk := &hostKeyCheck{logger: h.cfg.Logger, policy: p.policy, caller: a.caller, ctx: ctx}
	hk.files = e.hc.UserKnownHosts
	for i := range hk.files {
		hk.files[i] = expandPath(hk.files[i], h.home(), e.host, e.user, e.port)
	}
	if len(hk.files) == 0 {
		hk.files = []string{filepath.Join(h.home(), ".ssh", "known_hosts"), filepath.Join(h.home(), ".ssh", "known_hosts2")}
	}
	hk.global = e.hc.GlobalKnownHosts
	if len(hk.global) == 0 {
		hk.global = []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"}
	}
	cb, algos, cleanup, err := hk.callback(e.addr())
	if len(algos) == 0 {
		// Nothing known yet: prefer the key types OpenSSH prefers.
		algos = preferredHostKeyAlgos
	}
	if err != nil {
		conn.Close()
		return nil, connInfo{}, err
	}
	defer cleanup()
	ea := &authState{ctx: ctx, caller: a.caller}
	if e == p.target {
		ea = a
	}
	methods, closeAgent := ea.methods(e.cred, e.hc.IdentitiesOnly)
	defer closeAgent()
	cfg := &ssh.ClientConfig{
		User:              e.user,
		Auth:              methods,
		HostKeyCallback:   cb,
		HostKeyAlgorithms: algos,
		ClientVersion:     "SSH-2.0-mcp-remote-ssh",
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, e.addr(), cfg)
	if err != nil {
		conn.Close()
		if hk.err != nil {
			return nil, connInfo{}, hk.err
		}
		if ea.keyErr != nil {
			// A key or prompt problem explains the failure better than the server's refusal.
			return nil, connInfo{}, ea.keyErr
		}
		if !ac.any.Load() && ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			return nil, connInfo{}, fmt.Errorf("%w: %w", errNoBanner, err)
		}
		return nil, connInfo{}, err
	}
	conn.SetDeadline(time.Time{})
	method := ea.method
	if method == "" {
		method = "none"
	}
	return ssh.NewClient(cc, chans, reqs), connInfo{serverVersion: string(cc.ServerVersion()), fingerprint: hk.fp, recorded: hk.recorded, method: method, lastRead: lastRead}, nil
}

func dialVia(ctx context.Context, via *ssh.Client, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := via.Dial("tcp", addr)
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func isAuthErr(err error) bool {
	return err != nil && strings.Contains(err.Error(), "unable to authenticate")
}

// dialErr turns a dial failure into a contract error naming host:port.
func (h *Holder) dialErr(ctx context.Context, e *endpoint, err error) error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	where := fmt.Sprintf("%s@%s", e.user, e.addr())
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, os.ErrDeadlineExceeded) {
		return Wrap(CodeTimeout, nil, "check that the host is up and that sshd answers on that port; raise --connect-timeout if the link is slow",
			"connect %s: no answer within the connect timeout (TCP, handshake and auth)", where)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return Wrap(CodeCanceled, nil, "", "connect %s: canceled", where)
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return Wrap(CodeConnectionFailed, err, "check the host name (and ~/.ssh/config HostName)", "connect %s: cannot resolve %s", where, e.host)
	case errors.Is(err, syscall.ECONNREFUSED):
		return Wrap(CodeConnectionFailed, nil, "check that sshd runs on that host and port", "connect %s: connection refused", where)
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return Wrap(CodeConnectionFailed, err, "check the address and the network", "connect %s", where)
	case errors.Is(err, errNoBanner):
		return Wrap(CodeConnectionFailed, errNoBanner, "sshd may be at its MaxStartups limit (too many unauthenticated connections), or refuses this address (hosts.allow, firewall); try again later",
			"connect %s", where)
	case isAuthErr(err):
		return Wrap(CodeAuthFailed, nil, "check the user name and credentials: pass a key (--identity / key_path), load it into ssh-agent, or give a password (--password-stdin)",
			"authentication as %s to %s failed: the server refused every method we offered", e.user, e.addr())
	}
	return Wrap(CodeConnectionFailed, err, "check that the host runs an SSH server on that port", "connect %s", where)
}

// throttle allows at most MaxDialsPerHost dials in flight to one address, so a
// burst of first-use calls stays under sshd's MaxStartups.
func (h *Holder) throttle(ctx context.Context, addr string) (func(), error) {
	h.mu.Lock()
	sem, ok := h.dialSem[addr]
	if !ok {
		sem = make(chan struct{}, h.cfg.MaxDialsPerHost)
		h.dialSem[addr] = sem
	}
	h.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// preferredHostKeyAlgos is OpenSSH's order, so that a host first met here is
// recorded with the key type ssh itself would record.
var preferredHostKeyAlgos = []string{
	ssh.CertAlgoED25519v01, ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01, ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}
