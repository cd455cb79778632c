package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/tunnel"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Session states.
const (
	StateConnected    = "connected"
	StateDisconnected = "disconnected"
	StateConnecting   = "connecting"
)

// Resource is something a session holds (a shell, a forward) that ends with it.
type Resource interface {
	Close() error
}

// Session is one logical SSH session: a connection that is re-established
// transparently (same id) when it drops, and what lives on it.
type Session struct {
	h         *Holder
	id, name  string
	owner     string
	plan      *dialPlan
	createdAt time.Time
	lastUsed  atomic.Int64

	mu       sync.Mutex
	client   *ssh.Client
	info     connInfo
	state    string
	dialing  *dialRound // the reconnect in flight, if any
	closed   bool
	chanSem  chan struct{}
	shells   map[string]Resource
	forwards map[string]Resource
	shellSeq int
	sftp     *sftp.Client
	sftpOn   *ssh.Client // the connection sftp runs on
	// stop ends the keepalive goroutine of the current connection.
	stop chan struct{}
}

func newSession(h *Holder, id, name, owner string, p *dialPlan) *Session {
	s := &Session{h: h, id: id, name: name, owner: owner, plan: p, createdAt: time.Now().UTC(),
		state: StateConnecting, chanSem: make(chan struct{}, h.cfg.MaxChannels),
		shells: map[string]Resource{}, forwards: map[string]Resource{}}
	s.touch()
	return s
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

func (s *Session) touch() { s.lastUsed.Store(time.Now().UnixNano()) }

// State is connected, disconnected or connecting.
func (s *Session) State() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Session) lastInfo() connInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.info
}

// Info is the session's ListSessions row.
func (s *Session) Info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionInfo{SessionID: s.id, Name: s.name, User: s.plan.target.user, Host: s.plan.target.host, Port: s.plan.target.port,
		State: s.state, CreatedAt: s.createdAt, IdleMS: time.Since(time.Unix(0, s.lastUsed.Load())).Milliseconds(),
		Shells: len(s.shells), Forwards: len(s.forwards)}
}

func (s *Session) connectResult(info connInfo) ConnectResult {
	t := s.plan.target
	return ConnectResult{SessionID: s.id, Name: s.name, User: t.user, Host: t.host, Port: t.port,
		ServerVersion: info.serverVersion, HostKeyFingerprint: info.fingerprint, HostKeyRecorded: info.recorded, AuthMethod: info.method}
}

// attach makes client the session's live connection and watches it.
func (s *Session) attach(client *ssh.Client, info connInfo) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		client.Close()
		return
	}
	s.client, s.info, s.state = client, info, StateConnected
	stop := make(chan struct{})
	s.stop = stop
	s.mu.Unlock()
	go s.watch(client)
	go s.keepalive(client, info.lastRead, stop)
}

// dialRound is one reconnect attempt; the callers waiting for it share its result.
type dialRound struct {
	done chan struct{} // closed when the attempt ends
	err  error         // set before done is closed
}

// drop forgets c as the live connection once it is known dead (a channel
// open failed on it), so that the next call reconnects at once instead of
// waiting for the watcher.
func (s *Session) drop(c *ssh.Client) {
	c.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == c {
		s.client = nil
		if !s.closed {
			s.state = StateDisconnected
		}
		if s.stop != nil {
			close(s.stop)
			s.stop = nil
		}
	}
}

// watch marks the session disconnected when its connection ends.
func (s *Session) watch(c *ssh.Client) {
	err := c.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == c {
		s.client = nil
		if !s.closed {
			s.state = StateDisconnected
		}
		if s.stop != nil {
			close(s.stop)
			s.stop = nil
		}
		s.h.cfg.Logger.Warn("connection lost", "session", s.id, "err", err)
	}
}

// keepalive probes a silent connection as ssh's ServerAliveInterval does:
// after an interval with nothing received it sends keepalive@openssh.com, and
// once nothing at all (no reply, no data) has arrived for interval x
// (max+1) while a probe is outstanding, it closes the connection. Any bytes
// from the server count as life, so a slow but busy link is never cut, and a
// late reply is not a missed one.
func (s *Session) keepalive(c *ssh.Client, lastRead *atomic.Int64, stop chan struct{}) {
	interval, max := s.plan.aliveInterval, s.plan.aliveMax
	if lastRead == nil {
		lastRead = new(atomic.Int64)
		lastRead.Store(time.Now().UnixNano())
	}
	dead := interval * time.Duration(max+1)
	t := time.NewTicker(interval)
	defer t.Stop()
	var probe chan error // non-nil while a probe is outstanding
	for {
		select {
		case <-stop:
			return
		case err := <-probe:
			probe = nil
			if err != nil {
				c.Close()
				return
			}
			continue
		case <-t.C:
		}
		silent := time.Since(time.Unix(0, lastRead.Load()))
		if probe != nil {
			if silent >= dead {
				s.h.cfg.Logger.Warn("keepalive: no answer from the server, closing the connection", "session", s.id, "silent", silent.Round(time.Millisecond))
				c.Close()
				return
			}
			continue
		}
		if silent < interval {
			continue
		}
		probe = make(chan error, 1)
		go func(ch chan<- error) {
			// A dead link may block this until the connection is closed.
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			ch <- err
		}(probe)
	}
}

// conn returns the live connection, reconnecting (same id) when it dropped.
func (s *Session) conn(ctx context.Context) (*ssh.Client, error) {
	s.touch()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, Errf(CodeNotFound, "connect again", "session %s was closed", s.id)
		}
		if s.client != nil {
			c := s.client
			s.mu.Unlock()
			return c, nil
		}
		if r := s.dialing; r != nil {
			s.mu.Unlock()
			select {
			case <-r.done:
				if r.err != nil && !joinable(r.err) {
					// The reconnect this call waited for failed: report
					// that rather than dialing again, so that many waiting
					// calls do not redial a dead host one after another.
					return nil, r.err
				}
				continue
			case <-ctx.Done():
				return nil, AsError(ctx.Err())
			}
		}
		r := &dialRound{done: make(chan struct{})}
		s.dialing, s.state = r, StateConnecting
		s.mu.Unlock()

		a := &authState{ctx: ctx, caller: CallerFrom(ctx)}
		client, info, err := s.h.dial(ctx, s.plan, a)
		s.mu.Lock()
		s.dialing = nil
		if err != nil {
			if !s.closed {
				s.state = StateDisconnected
			}
			e := AsError(err)
			r.err = &Error{Code: e.Code, Message: "reconnect session " + s.id + ": " + e.Message, Hint: e.Hint, Err: err}
			close(r.done)
			s.mu.Unlock()
			return nil, r.err
		}
		close(r.done)
		s.mu.Unlock()
		s.h.cfg.Logger.Info("session reconnected", "session", s.id)
		info.recorded = false
		s.attach(client, info)
		s.rebindForwards()
	}
}

// openSession opens a session channel, waiting for a free slot so that many
// concurrent execs stay under the server's MaxSessions. release must be called.
func (s *Session) openSession(ctx context.Context) (*ssh.Session, *ssh.Client, func(), error) {
	for attempt := 0; ; attempt++ {
		select {
		case s.chanSem <- struct{}{}:
		case <-ctx.Done():
			return nil, nil, nil, AsError(ctx.Err())
		}
		release := func() { <-s.chanSem }
		c, err := s.conn(ctx)
		if err != nil {
			release()
			return nil, nil, nil, err
		}
		ss, err := c.NewSession()
		if err == nil {
			return ss, c, release, nil
		}
		release()
		if busyChannel(err) && attempt < 3000 {
			// The server is at its MaxSessions (OpenSSH answers "open failed"),
			// or a channel we closed is not freed there yet: wait and retry.
			select {
			case <-time.After(20 * time.Millisecond):
				continue
			case <-ctx.Done():
				return nil, nil, nil, AsError(ctx.Err())
			}
		}
		if isConnGone(err) {
			s.drop(c)
			if attempt < 1 {
				continue
			}
		}
		return nil, nil, nil, Wrap(CodeConnectionLost, err, "run it again; the session reconnects on the next operation", "open channel on session %s", s.id)
	}
}

// busyChannel reports whether a channel open failed only because the
// server is at its MaxSessions (OpenSSH answers "open failed"), or a channel
// we closed is not freed there yet: the open may be tried again.
func busyChannel(err error) bool {
	var oce *ssh.OpenChannelError
	return errors.As(err, &oce) && (oce.Reason == ssh.Prohibited || oce.Reason == ssh.ConnectionFailed)
}

// retryBusy calls open until it succeeds, fails for another reason than a
// busy server (see busyChannel), or ctx ends; it gives up after a minute.
// Channels opened outside openSession (the SFTP subsystem) use it.
func retryBusy[T any](ctx context.Context, open func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		v, err := open()
		if err == nil || !busyChannel(err) || attempt >= 3000 {
			return v, err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return v, AsError(ctx.Err())
		}
	}
}

func isConnGone(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return errors.Is(err, errConnClosed) || strings.Contains(msg, "EOF") || strings.Contains(msg, "use of closed network connection") || strings.Contains(msg, "connection reset")
}

var errConnClosed = errors.New("connection closed")

// joinable reports whether a failed reconnect was only the dialing caller's
// own end (its context canceled or timed out): a waiter then dials itself.
func joinable(err error) bool {
	c := CodeOf(err)
	return c == CodeCanceled
}

// AddResource registers a shell or forward that ends with the session.
func (s *Session) addResource(kind, id string, r Resource) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Errf(CodeNotFound, "connect again", "session %s was closed", s.id)
	}
	if kind == "shell" {
		s.shells[id] = r
	} else {
		s.forwards[id] = r
	}
	return nil
}

func (s *Session) removeResource(kind, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind == "shell" {
		delete(s.shells, id)
	} else {
		delete(s.forwards, id)
	}
}

// close ends the session and all it holds; it returns how many shells and forwards ended.
func (s *Session) close() (shells, forwards int) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, 0
	}
	s.closed = true
	s.state = StateDisconnected
	var rs []Resource
	for _, r := range s.shells {
		rs = append(rs, r)
	}
	for _, r := range s.forwards {
		rs = append(rs, r)
	}
	shells, forwards = len(s.shells), len(s.forwards)
	s.shells, s.forwards = map[string]Resource{}, map[string]Resource{}
	c := s.client
	s.client = nil
	if s.sftp != nil {
		s.sftp.Close()
		s.sftp = nil
	}
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
	s.mu.Unlock()
	for _, r := range rs {
		r.Close()
	}
	if c != nil {
		c.Close()
	}
	return shells, forwards
}

// rebindForwards re-establishes remote forwards on a new connection.
func (s *Session) rebindForwards() {
	s.mu.Lock()
	var fws []*forward
	for _, r := range s.forwards {
		if fw, ok := r.(*forward); ok {
			fws = append(fws, fw)
		}
	}
	s.mu.Unlock()
	for _, fw := range fws {
		go func() {
			// The old sshd child may still hold the remote port for a while
			// (a dropped link rather than a clean close): retry with backoff.
			deadline := time.Now().Add(60 * time.Second)
			wait := 250 * time.Millisecond
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				err := fw.rebind(ctx)
				cancel()
				if err == nil || errors.Is(err, tunnel.ErrClosed) {
					return
				}
				if time.Now().Add(wait).After(deadline) || s.isClosed() {
					s.h.cfg.Logger.Warn("could not re-establish forward after reconnect", "session", s.id, "forward", fw.id, "err", err)
					return
				}
				time.Sleep(wait)
				if wait < 4*time.Second {
					wait *= 2
				}
			}
		}()
	}
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
