package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	dialing  chan struct{} // closed when the reconnect in flight ends
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
	go s.keepalive(client, stop)
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

// keepalive sends keepalive@openssh.com every interval; max missed replies close the connection.
func (s *Session) keepalive(c *ssh.Client, stop chan struct{}) {
	interval, max := s.plan.aliveInterval, s.plan.aliveMax
	t := time.NewTicker(interval)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-stop:
			return
		case err := <-reply:
			if err != nil {
				c.Close()
				return
			}
			missed = 0
		case <-time.After(interval):
			missed++
			if missed >= max {
				s.h.cfg.Logger.Warn("keepalive: no answer, closing connection", "session", s.id, "missed", missed)
				c.Close()
				return
			}
		}
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
		if s.dialing != nil {
			ch := s.dialing
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, AsError(ctx.Err())
			}
		}
		ch := make(chan struct{})
		s.dialing, s.state = ch, StateConnecting
		s.mu.Unlock()

		a := &authState{ctx: ctx, caller: CallerFrom(ctx)}
		client, info, err := s.h.dial(ctx, s.plan, a)
		s.mu.Lock()
		s.dialing = nil
		close(ch)
		if err != nil {
			if !s.closed {
				s.state = StateDisconnected
			}
			s.mu.Unlock()
			e := AsError(err)
			return nil, &Error{Code: e.Code, Message: "reconnect session " + s.id + ": " + e.Message, Hint: e.Hint, Err: err}
		}
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
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) && (oce.Reason == ssh.Prohibited || oce.Reason == ssh.ConnectionFailed) && attempt < 3000 {
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
			c.Close()
			if attempt < 1 {
				continue
			}
		}
		return nil, nil, nil, Wrap(CodeConnectionLost, err, "run it again; the session reconnects on the next operation", "open channel on session %s", s.id)
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
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := fw.rebind(ctx); err != nil {
				s.h.cfg.Logger.Warn("could not re-establish forward after reconnect", "session", s.id, "forward", fw.id, "err", err)
			}
		}()
	}
}
