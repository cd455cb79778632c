package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/textsafe"
	"golang.org/x/crypto/ssh"
)

// Exec defaults.
const (
	DefaultExecTimeout    = 600 * time.Second
	DefaultMaxOutputBytes = 65536
)

var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var errExecTimeout = errors.New("exec timeout")

// Exec runs a command and returns its buffered, capped output.
func (h *Holder) Exec(ctx context.Context, req ExecRequest) (ExecResult, error) {
	return h.exec(ctx, SudoExecRequest{ExecRequest: req}, false, nil)
}

// SudoExec runs a command under sudo and returns its buffered, capped output.
func (h *Holder) SudoExec(ctx context.Context, req SudoExecRequest) (ExecResult, error) {
	return h.exec(ctx, req, true, nil)
}

// ExecStream runs a command with streamed stdin, stdout and stderr.
func (h *Holder) ExecStream(ctx context.Context, req ExecStreamRequest, stdio Stdio) (ExecResult, error) {
	return h.exec(ctx, req.SudoExecRequest, req.Sudo, &stdio)
}

// shQuote quotes s as one POSIX shell word.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (h *Holder) exec(ctx context.Context, req SudoExecRequest, sudo bool, stdio *Stdio) (ExecResult, error) {
	defer h.track()()
	start := time.Now()
	if strings.TrimSpace(req.Command) == "" {
		return ExecResult{}, Errf(CodeInvalidArgument, "pass the command to run", "the command is empty")
	}
	if req.Timeout < 0 {
		return ExecResult{}, Errf(CodeInvalidArgument, "give a positive number of seconds", "timeout %v is negative", req.Timeout)
	}
	if req.MaxOutputBytes < 0 {
		return ExecResult{}, Errf(CodeInvalidArgument, "give a positive byte count", "max_output_bytes %d is negative", req.MaxOutputBytes)
	}
	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		if !envNameRe.MatchString(k) {
			return ExecResult{}, Errf(CodeInvalidArgument, "names are letters, digits and _, not starting with a digit", "invalid environment variable name %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	timeout := DefaultExecTimeout
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout * float64(time.Second))
	}
	// The deadline counts from the call: connect and reconnect included.
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errExecTimeout)
	defer cancel()

	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return ExecResult{}, err
	}
	var sudoPass string
	if sudo {
		sudoPass = req.SudoPassword.Reveal()
		if sudoPass == "" && req.PasswordFromLogin {
			sudoPass = s.plan.target.cred.password.Reveal()
		}
	}

	token := newID() + newID()
	var body strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&body, "export %s=%s; ", k, shQuote(req.Env[k]))
	}
	body.WriteString(req.Command)
	var cmd strings.Builder
	fmt.Fprintf(&cmd, `printf '\036mrs%s:%%s\036' "$$" >&2; `, token)
	if req.Cwd != "" {
		fmt.Fprintf(&cmd, `cd -- %s 2>/dev/null || { printf '\036mrs%s:nocwd\036' >&2; exit 127; }; `, shQuote(req.Cwd), token)
	}
	var stdinPrefix string
	if sudo {
		needPass, err := h.sudoNeedsPassword(ctx, s)
		if err != nil {
			return ExecResult{}, err
		}
		inner := fmt.Sprintf(`printf '\036mrs%s:sudo\036' >&2; `, token) + body.String()
		if !needPass {
			// NOPASSWD: the given password is never written anywhere.
			cmd.WriteString("exec sudo -n -- sh -c " + shQuote(inner))
		} else {
			if sudoPass == "" {
				p, err := CallerFrom(ctx).prompt(ctx, Prompt{Kind: PromptSudoPassword, Message: fmt.Sprintf("[sudo] password for %s@%s:", s.plan.target.user, s.plan.target.host)},
					"--sudo-password-stdin or MCP_REMOTE_SSH_SUDO_PASSWORD (CLI), or sudo_password (MCP)")
				if err != nil {
					return ExecResult{}, err
				}
				sudoPass = p
			}
			cmd.WriteString("exec sudo -S -k -p '' -- sh -c " + shQuote(inner))
			stdinPrefix = sudoPass + "\n"
		}
	} else {
		cmd.WriteString(body.String())
	}

	ss, _, release, err := s.openSession(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return h.deadlineResult(ctx, start, timeout, s)
		}
		return ExecResult{}, err
	}
	defer release()
	defer ss.Close()

	max := req.MaxOutputBytes
	if max == 0 {
		max = DefaultMaxOutputBytes
	}
	var outBuf, errBuf *textsafe.HeadTail
	var stdout, stderr io.Writer
	if stdio != nil {
		stdout, stderr = orDiscard(stdio.Stdout), orDiscard(stdio.Stderr)
	} else {
		outBuf, errBuf = textsafe.NewHeadTail(max), textsafe.NewHeadTail(max)
		stdout, stderr = outBuf, errBuf
	}
	outCount := &countWriter{w: stdout}
	mf := &markerFilter{token: "mrs" + token + ":", w: &countWriter{w: stderr}}
	errCount := mf.w.(*countWriter)
	ss.Stdout = outCount
	ss.Stderr = mf

	stdinW, err := ss.StdinPipe()
	if err != nil {
		return ExecResult{}, Wrap(CodeConnectionLost, err, "run it again", "exec on session %s", s.id)
	}
	if err := ss.Start(cmd.String()); err != nil {
		return ExecResult{}, Wrap(CodeConnectionLost, err, "run it again; the session reconnects on the next operation", "start command on session %s", s.id)
	}
	progressDone := make(chan struct{})
	go h.execProgress(ctx, start, outCount, errCount, progressDone)
	defer close(progressDone)

	go func() {
		defer stdinW.Close()
		if stdinPrefix != "" {
			if _, err := io.WriteString(stdinW, stdinPrefix); err != nil {
				return
			}
		}
		switch {
		case stdio != nil && stdio.Stdin != nil:
			io.Copy(stdinW, stdio.Stdin)
		case req.Stdin != "":
			io.WriteString(stdinW, req.Stdin)
		}
	}()

	done := make(chan error, 1)
	go func() { done <- ss.Wait() }()

	res := ExecResult{}
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		res.Killed = true
		res.KillConfirmed = h.kill(s, ss, mf.waitPID(2*time.Second), done)
		if errors.Is(context.Cause(ctx), errExecTimeout) {
			res.TimedOut, res.Outcome = true, OutcomeTimedOut
		} else {
			res.Outcome = OutcomeCanceled
		}
	}
	mf.flush()
	res.DurationMS = time.Since(start).Milliseconds()
	res.StdoutBytes, res.StderrBytes = outCount.n, errCount.n
	if outBuf != nil {
		var l1, l2 bool
		res.Stdout, l1 = textsafe.ValidUTF8(outBuf.Bytes())
		res.Stderr, l2 = textsafe.ValidUTF8(errBuf.Bytes())
		res.StdoutTruncated, res.StderrTruncated = outBuf.Truncated(), errBuf.Truncated()
		res.Encoding = textsafe.Encoding(l1 || l2)
	}
	if res.Killed {
		return res, nil
	}
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case waitErr == nil:
		res.ExitCode, res.Outcome = intPtr(0), OutcomeExited
	case errors.As(waitErr, &ee):
		if ee.Signal() != "" {
			res.Signal, res.Outcome = ee.Signal(), OutcomeSignaled
		} else {
			res.ExitCode, res.Outcome = intPtr(ee.ExitStatus()), OutcomeExited
		}
	case errors.As(waitErr, &missing):
		res.Outcome = OutcomeUnknown
		return res, h.lostErr(s, res)
	default:
		res.Outcome = OutcomeUnknown
		return res, h.lostErr(s, res)
	}
	if mf.noCwd {
		return res, Errf(CodeNotFound, "pass an existing directory as cwd", "cwd %q does not exist on %s (or is not a directory you can enter)", req.Cwd, s.plan.target.host)
	}
	if sudo && !mf.sudoOK && res.ExitCode != nil && *res.ExitCode != 0 {
		return res, sudoError(s, res.Stderr)
	}
	return res, nil
}

func (h *Holder) lostErr(s *Session, res ExecResult) error {
	return &Error{Code: CodeConnectionLost,
		Message: fmt.Sprintf("connection to %s lost while the command ran: its outcome is unknown (%d bytes of stdout, %d of stderr received)", s.plan.target.host, res.StdoutBytes, res.StderrBytes),
		Hint:    "check whether the command took effect; the session reconnects on the next operation"}
}

func (h *Holder) deadlineResult(ctx context.Context, start time.Time, timeout time.Duration, s *Session) (ExecResult, error) {
	if errors.Is(context.Cause(ctx), errExecTimeout) {
		return ExecResult{}, Errf(CodeTimeout, "raise the timeout, or check the host", "exec on session %s: timed out after %v before the command could start", s.id, timeout)
	}
	return ExecResult{}, Errf(CodeCanceled, "", "exec on session %s canceled", s.id)
}

func sudoError(s *Session, stderr string) error {
	low := strings.ToLower(stderr)
	switch {
	case strings.Contains(low, "incorrect password") || strings.Contains(low, "sorry, try again") || strings.Contains(low, "no password was provided") || strings.Contains(low, "password is required"):
		return Errf(CodeAuthFailed, "pass the right sudo password (--sudo-password-stdin, sudo_password)", "sudo on %s refused the password for %s", s.plan.target.host, s.plan.target.user)
	case strings.Contains(low, "not in the sudoers") || strings.Contains(low, "may not run sudo") || strings.Contains(low, "not allowed to execute"):
		return Errf(CodePermissionDenied, "ask the host's administrator for sudo rights", "%s may not run sudo on %s", s.plan.target.user, s.plan.target.host)
	}
	return Errf(CodePermissionDenied, "see the command's stderr", "sudo on %s failed: %s", s.plan.target.host, strings.TrimSpace(stderr))
}

// sudoNeedsPassword probes with `sudo -n true` (the command itself never runs twice).
func (h *Holder) sudoNeedsPassword(ctx context.Context, s *Session) (bool, error) {
	ss, _, release, err := s.openSession(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	defer ss.Close()
	out, err := ss.CombinedOutput("sudo -n true")
	if err == nil {
		return false, nil
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		if ee.ExitStatus() == 127 || strings.Contains(string(out), "not found") {
			return false, Errf(CodeNotFound, "install sudo on the host, or run without sudo", "sudo is not installed on %s", s.plan.target.host)
		}
		return true, nil
	}
	return false, Wrap(CodeConnectionLost, err, "run it again", "probe sudo on %s", s.plan.target.host)
}

// kill stops the remote command: the SSH signal request (OpenSSH >= 7.9 kills
// the process group, but not for root logins), then, over a new channel, TERM
// and KILL to the process group the wrapper reported, confirming it is gone.
func (h *Holder) kill(s *Session, ss *ssh.Session, pgid int, done <-chan error) bool {
	ss.Signal(ssh.SIGTERM)
	kctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	confirmed := false
	if pgid > 1 {
		script := fmt.Sprintf(`g=%d; kill -TERM -- -$g 2>/dev/null; i=0; while [ $i -lt 20 ]; do if command -v pgrep >/dev/null 2>&1; then pgrep -g $g >/dev/null 2>&1 || break; else kill -0 -- -$g 2>/dev/null || break; fi; sleep 0.1; i=$((i+1)); done; kill -KILL -- -$g 2>/dev/null; sleep 0.1; if command -v pgrep >/dev/null 2>&1; then pgrep -g $g >/dev/null 2>&1 && echo alive || echo gone; else kill -0 -- -$g 2>/dev/null && echo alive || echo gone; fi`, pgid)
		ks, _, rel, err := s.openSession(kctx)
		if err == nil {
			var out []byte
			out, err = ks.Output(script)
			ks.Close()
			rel()
			confirmed = strings.TrimSpace(string(out)) == "gone"
		}
		if err != nil {
			h.cfg.Logger.Warn("fallback kill failed", "session", s.id, "pgid", pgid, "err", err)
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		ss.Signal(ssh.SIGKILL)
	}
	ss.Close()
	if !confirmed {
		h.cfg.Logger.Warn("could not confirm the remote command is gone", "session", s.id, "pgid", pgid)
	}
	return confirmed
}

// execProgress reports elapsed time and output bytes once a second.
func (h *Holder) execProgress(ctx context.Context, start time.Time, out, errw *countWriter, stop <-chan struct{}) {
	caller := CallerFrom(ctx)
	if caller.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			n := out.count() + errw.count()
			caller.progress(ProgressUpdate{Done: n, Message: fmt.Sprintf("running for %s, %d bytes of output", time.Since(start).Round(time.Second), n)})
		}
	}
}

func intPtr(i int) *int { return &i }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// countWriter counts bytes written through it.
type countWriter struct {
	mu sync.Mutex
	w  io.Writer
	n  int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.mu.Lock()
	c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *countWriter) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// markerFilter strips the wrapper's \036mrsTOKEN:VALUE\036 markers from
// stderr and records them (the process group id, a missing cwd, sudo success).
type markerFilter struct {
	token string
	w     io.Writer
	mu    sync.Mutex
	held  []byte // a possible marker being assembled
	pgid  int
	noCwd bool
	// sudoOK is set once the command runs elevated.
	sudoOK bool
}

const maxMarker = 64

func (m *markerFilter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if len(m.held) == 0 {
			i := bytes.IndexByte(p, 0x1e)
			if i < 0 {
				_, err := m.w.Write(p)
				return n, err
			}
			if i > 0 {
				if _, err := m.w.Write(p[:i]); err != nil {
					return n, err
				}
			}
			m.held = append(m.held, 0x1e)
			p = p[i+1:]
			continue
		}
		i := bytes.IndexByte(p, 0x1e)
		take := len(p)
		if i >= 0 {
			take = i + 1
		}
		m.held = append(m.held, p[:take]...)
		p = p[take:]
		body := m.held[1:]
		if !bytes.HasPrefix(body, []byte(m.token)) && !bytes.HasPrefix([]byte(m.token), body) {
			// Not ours: pass it through.
			if err := m.release(); err != nil {
				return n, err
			}
			continue
		}
		if i >= 0 && len(body) > len(m.token) {
			m.record(string(body[len(m.token) : len(body)-1]))
			m.held = m.held[:0]
			continue
		}
		if len(m.held) > maxMarker {
			if err := m.release(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (m *markerFilter) release() error {
	held := m.held
	m.held = nil
	_, err := m.w.Write(held)
	return err
}

func (m *markerFilter) record(v string) {
	switch v {
	case "nocwd":
		m.noCwd = true
	case "sudo":
		m.sudoOK = true
	default:
		if n, err := strconv.Atoi(v); err == nil {
			m.pgid = n
		}
	}
}

// waitPID returns the process group id, waiting up to d for its marker (it
// may still be in flight when the caller cancels right after the start).
func (m *markerFilter) waitPID(d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		m.mu.Lock()
		pgid := m.pgid
		m.mu.Unlock()
		if pgid != 0 || time.Now().After(deadline) {
			return pgid
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flush writes out a partial marker left at the end of the stream.
func (m *markerFilter) flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.held) > 0 {
		m.release()
	}
}
