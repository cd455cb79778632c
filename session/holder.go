package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/charmbracelet/log"
)

// HolderConfig configures a Holder. Zero values take the contract's defaults.
type HolderConfig struct {
	Logger *log.Logger
	// Home is the local home directory (~/.ssh lives there); default $HOME.
	Home string
	// ConnectTimeout bounds TCP connect, handshake and auth together (15 s).
	ConnectTimeout time.Duration
	// Keepalive is the keepalive@openssh.com interval (15 s); KeepaliveMax missed replies (3) mean dead.
	Keepalive    time.Duration
	KeepaliveMax int
	// MaxDialsPerHost bounds concurrent dials to one address (2).
	MaxDialsPerHost int
	// MaxChannels bounds concurrent session channels per connection (10, sshd's MaxSessions default).
	MaxChannels int
	// AllowHosts, when set, are path.Match patterns a host must match to be connected.
	AllowHosts []string
	// MaxShells bounds shells per session (16); ShellBuffer is each shell's rolling buffer (512 KiB).
	MaxShells   int
	ShellBuffer int
}

// Holder owns SSH sessions and implements Operations in-process.
type Holder struct {
	cfg HolderConfig

	mu       sync.Mutex
	sessions map[string]*Session
	forwards map[string]*forward
	dialSem  map[string]chan struct{}
	// leftovers are remote temporary files of cut uploads, per session.
	leftovers map[*Session][]string
	closed    bool
	// lastEmpty is when the holder last had no sessions (for the idle exit).
	lastEmpty time.Time
	active    int // operations in flight
}

var _ Operations = (*Holder)(nil)

// NewHolder returns a holder with no sessions.
func NewHolder(cfg HolderConfig) *Holder {
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr)
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = 15 * time.Second
	}
	if cfg.KeepaliveMax <= 0 {
		cfg.KeepaliveMax = 3
	}
	if cfg.MaxDialsPerHost <= 0 {
		cfg.MaxDialsPerHost = 2
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = 10
	}
	return &Holder{cfg: cfg, sessions: map[string]*Session{}, forwards: map[string]*forward{}, leftovers: map[*Session][]string{}, dialSem: map[string]chan struct{}{}, lastEmpty: time.Now()}
}

func (h *Holder) home() string {
	if h.cfg.Home != "" {
		return h.cfg.Home
	}
	if d, err := os.UserHomeDir(); err == nil {
		return d
	}
	return "/"
}

func (h *Holder) allowed(e *endpoint) error {
	if len(h.cfg.AllowHosts) == 0 {
		return nil
	}
	for _, p := range h.cfg.AllowHosts {
		for _, name := range []string{e.alias, e.host} {
			if ok, _ := path.Match(p, name); ok {
				return nil
			}
		}
	}
	return Errf(CodePolicyDenied, "ask the operator to add it to --allow-hosts", "host %s is not in the allowed hosts (%v)", e.alias, h.cfg.AllowHosts)
}

// track counts an operation in flight (the idle exit waits for none).
func (h *Holder) track() func() {
	h.mu.Lock()
	h.active++
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		h.active--
		if len(h.sessions) == 0 {
			h.lastEmpty = time.Now()
		}
		h.mu.Unlock()
	}
}

// IdleSince reports since when the holder has had no sessions and no
// operation in flight; ok is false while it has either.
func (h *Holder) IdleSince() (since time.Time, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.sessions) > 0 || h.active > 0 {
		return time.Time{}, false
	}
	return h.lastEmpty, true
}

func newID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Connect opens a new session.
func (h *Holder) Connect(ctx context.Context, req ConnectRequest) (ConnectResult, error) {
	defer h.track()()
	caller := CallerFrom(ctx)
	if req.Name != "" {
		if !ValidName(req.Name) {
			return ConnectResult{}, Errf(CodeInvalidArgument, "names match [a-z0-9][a-z0-9._-]{0,31}", "invalid session name %q", req.Name)
		}
		if s := h.byName(req.Name); s != nil {
			return ConnectResult{}, Errf(CodeExists, "pick another name, or close session "+s.id+" first", "a live session is already named %q (%s)", req.Name, s.id)
		}
	}
	if req.Timeout < 0 {
		return ConnectResult{}, Errf(CodeInvalidArgument, "give a positive number of seconds", "timeout %v is negative", req.Timeout)
	}
	a := &authState{ctx: ctx, caller: caller}
	p, err := h.plan(ctx, req, a)
	if err != nil {
		return ConnectResult{}, err
	}
	client, info, err := h.dial(ctx, p, a)
	if err != nil {
		return ConnectResult{}, err
	}
	s := newSession(h, newID(), req.Name, caller.Owner, p)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		client.Close()
		return ConnectResult{}, Errf(CodeHolderUnavailable, "run the command again", "the holder is shutting down")
	}
	if req.Name != "" {
		for _, o := range h.sessions {
			if o.name == req.Name {
				h.mu.Unlock()
				client.Close()
				return ConnectResult{}, Errf(CodeExists, "pick another name", "a live session is already named %q (%s)", req.Name, o.id)
			}
		}
	}
	for h.sessions[s.id] != nil {
		s.id = newID()
	}
	h.sessions[s.id] = s
	h.mu.Unlock()
	s.attach(client, info)
	h.cfg.Logger.Info("session connected", "session", s.id, "target", p.target.user+"@"+p.target.addr(), "auth", info.method, "owner", caller.Owner)
	return s.connectResult(info), nil
}

// Resolve turns a CLI target into a session: an id, a name, or a host spec
// reusing a live session to the same user, host and port.
func (h *Holder) Resolve(ctx context.Context, req ResolveRequest) (ConnectResult, error) {
	caller := CallerFrom(ctx)
	if s, err := h.lookup(ctx, req.Target); err == nil {
		return s.connectResult(s.lastInfo()), nil
	}
	t, err := ParseTarget(req.Target)
	if err != nil {
		return ConnectResult{}, Errf(CodeNotFound, "pass a session id or name from `mcp-remote-ssh sessions`, or a host spec ("+targetForms+")",
			"no session has the id or name %q, and it is not a host spec either", req.Target)
	}
	if t.User == "" && t.Port == 0 && sessionIDRe.MatchString(t.Host) {
		// Shaped like a session id (closed, or mistyped) and not an
		// ssh_config alias: say so instead of asking DNS for it.
		if cfg, err := loadSSHConfig(h.home()); err == nil && cfg.get(t.Host, "HostName") == "" {
			return ConnectResult{}, Errf(CodeNotFound, "list live sessions with `mcp-remote-ssh sessions`; to reach a host of that name, write user@"+t.Host,
				"no session %q (it may have been closed, or its holder restarted)", req.Target)
		}
	}
	if !req.New {
		cfg, err := loadSSHConfig(h.home())
		if err != nil {
			return ConnectResult{}, err
		}
		e, err := h.resolveEndpoint(cfg, t, req.Connect.Username, req.Connect.Port)
		if err != nil {
			return ConnectResult{}, err
		}
		h.mu.Lock()
		var best *Session
		for _, s := range h.sessions {
			if !caller.All && s.owner != caller.Owner {
				continue
			}
			pt := s.plan.target
			if pt.user == e.user && pt.host == e.host && pt.port == e.port && (best == nil || s.createdAt.Before(best.createdAt)) {
				if s.State() == StateConnected || best == nil {
					best = s
				}
			}
		}
		h.mu.Unlock()
		if best != nil {
			r := best.connectResult(best.lastInfo())
			r.Reused = true
			return r, nil
		}
	}
	creq := req.Connect
	creq.Host = req.Target
	return h.Connect(ctx, creq)
}

// sessionIDRe matches the shape of a session id.
var sessionIDRe = regexp.MustCompile(`^[0-9a-f]{8}$`)

func (h *Holder) byName(name string) *Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sessions {
		if s.name == name {
			return s
		}
	}
	return nil
}

// lookup finds a session by id or name among those the caller may see.
func (h *Holder) lookup(ctx context.Context, idOrName string) (*Session, error) {
	caller := CallerFrom(ctx)
	if idOrName == "" {
		return nil, Errf(CodeInvalidArgument, "pass the session_id returned by ssh_connect (or see ssh_list_sessions)", "session_id is empty")
	}
	h.mu.Lock()
	s := h.sessions[idOrName]
	if s == nil {
		for _, o := range h.sessions {
			if o.name == idOrName {
				s = o
				break
			}
		}
	}
	h.mu.Unlock()
	if s == nil || (!caller.All && s.owner != caller.Owner) {
		return nil, Errf(CodeNotFound, "list live sessions with ssh_list_sessions (CLI: mcp-remote-ssh sessions) or connect again",
			"no session %q", idOrName)
	}
	s.touch()
	return s, nil
}

// ListSessions lists the sessions the caller may see, oldest first.
func (h *Holder) ListSessions(ctx context.Context, _ ListSessionsRequest) (ListSessionsResult, error) {
	caller := CallerFrom(ctx)
	h.mu.Lock()
	var ss []*Session
	for _, s := range h.sessions {
		if caller.All || s.owner == caller.Owner {
			ss = append(ss, s)
		}
	}
	h.mu.Unlock()
	sort.Slice(ss, func(i, j int) bool { return ss[i].createdAt.Before(ss[j].createdAt) })
	res := ListSessionsResult{Sessions: []SessionInfo{}}
	for _, s := range ss {
		res.Sessions = append(res.Sessions, s.Info())
	}
	return res, nil
}

// CloseSession closes one session and everything it holds.
func (h *Holder) CloseSession(ctx context.Context, req CloseSessionRequest) (CloseSessionResult, error) {
	defer h.track()()
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return CloseSessionResult{}, err
	}
	h.cleanLeftovers(ctx, s)
	h.remove(s)
	shells, forwards := s.close()
	h.cfg.Logger.Info("session closed", "session", s.id)
	return CloseSessionResult{SessionID: s.id, Closed: true, ShellsClosed: shells, ForwardsClosed: forwards}, nil
}

func (h *Holder) remove(s *Session) {
	h.mu.Lock()
	delete(h.sessions, s.id)
	delete(h.leftovers, s)
	for id, fw := range h.forwards {
		if fw.sess == s {
			delete(h.forwards, id)
		}
	}
	if len(h.sessions) == 0 {
		h.lastEmpty = time.Now()
	}
	h.mu.Unlock()
}

// CloseOwnerRequest names an owner whose sessions end (socket only).
type CloseOwnerRequest struct {
	Owner string `json:"owner"`
}

// CloseOwnerResult counts the sessions closed.
type CloseOwnerResult struct {
	Closed int `json:"closed"`
}

// CloseOwner closes every session of owner (an MCP client session that ended).
func (h *Holder) CloseOwner(owner string) { h.closeOwner(owner) }

// closeOwner closes every session of owner and returns how many it closed.
func (h *Holder) closeOwner(owner string) int {
	h.mu.Lock()
	var ss []*Session
	for _, s := range h.sessions {
		if s.owner == owner {
			ss = append(ss, s)
		}
	}
	h.mu.Unlock()
	for _, s := range ss {
		h.remove(s)
		s.close()
	}
	return len(ss)
}

// Close closes every session; the holder accepts no new ones after.
func (h *Holder) Close() error {
	h.mu.Lock()
	h.closed = true
	ss := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		ss = append(ss, s)
	}
	h.sessions = map[string]*Session{}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.close()
		}()
	}
	wg.Wait()
	return nil
}
