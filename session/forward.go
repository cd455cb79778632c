package session

import (
	"context"
	"errors"
	"sort"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/tunnel"
)

// forward is a port forward held by a session.
type forward struct {
	id    string
	owner string
	sess  *Session
	f     *tunnel.Forward
}

func (fw *forward) Close() error { return fw.f.Close() }

func (fw *forward) info() ForwardInfo {
	sp, st := fw.f.Spec(), fw.f.Stats()
	return ForwardInfo{ForwardID: fw.id, SessionID: fw.sess.id, Direction: string(sp.Direction), Listen: sp.Listen(), Target: sp.Target(),
		ActiveConns: st.ActiveConns, TotalConns: st.TotalConns, BytesIn: st.BytesIn, BytesOut: st.BytesOut, State: st.State}
}

// rebind re-establishes a remote forward on a new connection after a reconnect.
func (fw *forward) rebind(ctx context.Context) error { return fw.f.Rebind(ctx) }

// SpecRequest turns a tunnel spec (parsed from -L/-R/-D) into a ForwardRequest.
func SpecRequest(sessionID string, sp tunnel.Spec) ForwardRequest {
	r := ForwardRequest{SessionID: sessionID, Direction: string(sp.Direction)}
	switch sp.Direction {
	case tunnel.Remote:
		r.RemoteHost, r.RemotePort, r.LocalHost, r.LocalPort = sp.ListenHost, sp.ListenPort, sp.TargetHost, sp.TargetPort
	default:
		r.LocalHost, r.LocalPort, r.RemoteHost, r.RemotePort = sp.ListenHost, sp.ListenPort, sp.TargetHost, sp.TargetPort
	}
	return r
}

func (req ForwardRequest) spec() (tunnel.Spec, error) {
	dir := tunnel.Direction(req.Direction)
	if req.Direction == "" {
		dir = tunnel.Local
	}
	lh, rh := req.LocalHost, req.RemoteHost
	if lh == "" {
		lh = tunnel.DefaultBindHost
	}
	if rh == "" {
		rh = tunnel.DefaultBindHost
	}
	var sp tunnel.Spec
	switch dir {
	case tunnel.Local:
		if req.RemotePort == 0 {
			return sp, Errf(CodeInvalidArgument, "pass remote_port: the port to reach from the server", "a local forward needs remote_port")
		}
		sp = tunnel.Spec{Direction: dir, ListenHost: lh, ListenPort: req.LocalPort, TargetHost: rh, TargetPort: req.RemotePort}
	case tunnel.Remote:
		if req.LocalPort == 0 {
			return sp, Errf(CodeInvalidArgument, "pass local_port: the local port connections go to", "a remote forward needs local_port")
		}
		sp = tunnel.Spec{Direction: dir, ListenHost: rh, ListenPort: req.RemotePort, TargetHost: lh, TargetPort: req.LocalPort}
	case tunnel.Dynamic:
		sp = tunnel.Spec{Direction: dir, ListenHost: lh, ListenPort: req.LocalPort}
	default:
		return sp, Errf(CodeInvalidArgument, "use local, remote or dynamic", "direction %q is not a forward direction", req.Direction)
	}
	for _, p := range []int{req.LocalPort, req.RemotePort} {
		if p < 0 || p > 65535 {
			return sp, Errf(CodeInvalidArgument, "ports are 0 to 65535 (0 picks a free one)", "port %d is out of range", p)
		}
	}
	return sp, nil
}

func forwardErr(err error) error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var te *tunnel.Error
	hint := ""
	if errors.As(err, &te) {
		hint = te.HintText
	}
	switch {
	case errors.Is(err, tunnel.ErrPortInUse):
		return &Error{Code: CodePortInUse, Message: err.Error(), Hint: orHint(hint, "pick another port, or 0 to let one be chosen"), Err: err}
	case errors.Is(err, tunnel.ErrForwardRefused):
		return &Error{Code: CodeForwardRefused, Message: err.Error(), Hint: orHint(hint, "the server forbids this forward (AllowTcpForwarding, PermitListen, PermitOpen)"), Err: err}
	case errors.Is(err, tunnel.ErrPrivilegedPort):
		return &Error{Code: CodePermissionDenied, Message: err.Error(), Hint: orHint(hint, "use a port >= 1024"), Err: err}
	case errors.Is(err, tunnel.ErrInvalidSpec):
		return &Error{Code: CodeInvalidArgument, Message: err.Error(), Hint: orHint(hint, "see the accepted forms"), Err: err}
	}
	e := AsError(err)
	if e.Code == CodeInternal {
		e.Code, e.Hint = CodeConnectionFailed, orHint(hint, "check the session and the addresses")
	}
	return e
}

func orHint(h, def string) string {
	if h != "" {
		return h
	}
	return def
}

// ForwardOpen starts a port forward on a session.
func (h *Holder) ForwardOpen(ctx context.Context, req ForwardRequest) (ForwardResult, error) {
	defer h.track()()
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return ForwardResult{}, err
	}
	sp, err := req.spec()
	if err != nil {
		return ForwardResult{}, err
	}
	get := func(ctx context.Context) (tunnel.Client, error) {
		c, err := s.conn(ctx)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	f, err := tunnel.Open(ctx, sp, get, h.cfg.Logger.With("session", s.id))
	if err != nil {
		return ForwardResult{}, forwardErr(err)
	}
	fw := &forward{id: newID(), owner: CallerFrom(ctx).Owner, sess: s, f: f}
	h.mu.Lock()
	for h.forwards[fw.id] != nil {
		fw.id = newID()
	}
	h.forwards[fw.id] = fw
	h.mu.Unlock()
	if err := s.addResource("forward", fw.id, fw); err != nil {
		h.dropForward(fw.id)
		f.Close()
		return ForwardResult{}, err
	}
	got := f.Spec()
	h.cfg.Logger.Info("forward opened", "session", s.id, "forward", fw.id, "direction", got.Direction, "listen", got.Listen(), "target", got.Target())
	return ForwardResult{ForwardID: fw.id, SessionID: s.id, Direction: string(got.Direction), Listen: got.Listen(), Target: got.Target()}, nil
}

func (h *Holder) dropForward(id string) {
	h.mu.Lock()
	delete(h.forwards, id)
	h.mu.Unlock()
}

// visibleForwards returns the forwards the caller may see, optionally of one session.
func (h *Holder) visibleForwards(ctx context.Context, sessionID string) ([]*forward, error) {
	caller := CallerFrom(ctx)
	var only *Session
	if sessionID != "" {
		s, err := h.lookup(ctx, sessionID)
		if err != nil {
			return nil, err
		}
		only = s
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*forward
	for _, fw := range h.forwards {
		if (only == nil || fw.sess == only) && (caller.All || fw.owner == caller.Owner) {
			out = append(out, fw)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// ListForwards lists forwards with their counters.
func (h *Holder) ListForwards(ctx context.Context, req ListForwardsRequest) (ListForwardsResult, error) {
	fws, err := h.visibleForwards(ctx, req.SessionID)
	if err != nil {
		return ListForwardsResult{}, err
	}
	res := ListForwardsResult{Forwards: []ForwardInfo{}}
	for _, fw := range fws {
		res.Forwards = append(res.Forwards, fw.info())
	}
	return res, nil
}

// CloseForward closes one forward; its port refuses connections at once.
func (h *Holder) CloseForward(ctx context.Context, req CloseForwardRequest) (CloseForwardResult, error) {
	caller := CallerFrom(ctx)
	h.mu.Lock()
	fw := h.forwards[req.ForwardID]
	h.mu.Unlock()
	if req.ForwardID == "" || fw == nil || (!caller.All && fw.owner != caller.Owner) {
		return CloseForwardResult{}, Errf(CodeNotFound, "list forwards with ssh_list_forwards (CLI: forward list)", "no forward %q", req.ForwardID)
	}
	h.dropForward(fw.id)
	fw.sess.removeResource("forward", fw.id)
	fw.Close()
	h.cfg.Logger.Info("forward closed", "forward", fw.id)
	return CloseForwardResult{ForwardID: fw.id, Closed: true}, nil
}
