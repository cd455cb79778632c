package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session/termbuf"
	"golang.org/x/crypto/ssh"
)

// Shell defaults.
const (
	DefaultShellBuffer  = 512 << 10
	DefaultMaxShells    = 16
	DefaultShellTerm    = "xterm-256color"
	DefaultShellCols    = 200
	DefaultShellRows    = 50
	DefaultShellRead    = 65536
	DefaultWaitTimeout  = 30 * time.Second
	DefaultWaitQuiet    = 2 * time.Second
	maxWaitTimeout      = 24 * time.Hour
	defaultAttachReplay = 4096
)

// shell is a persistent interactive shell on a PTY.
type shell struct {
	id    string
	owner string
	sess  *Session
	ch    *ssh.Session
	stdin io.WriteCloser
	buf   *termbuf.Buffer

	mu       sync.Mutex
	lastSend int64
	lastSent []byte
	sent     bool
	cursors  map[string]int64 // per owner (each MCP client, the CLI)
	lost     bool             // the connection dropped under it
	closed   bool
}

// Close hangs up the shell: SIGHUP, then the channel closes (sshd hangs up the PTY too).
func (sh *shell) Close() error {
	sh.mu.Lock()
	if sh.closed {
		sh.mu.Unlock()
		return nil
	}
	sh.closed = true
	sh.mu.Unlock()
	sh.ch.Signal(ssh.SIGHUP)
	sh.stdin.Close()
	return sh.ch.Close()
}

func (sh *shell) exitStatus() (bool, *int) {
	exited, status := sh.buf.Exited()
	if !exited {
		return false, nil
	}
	if status < 0 {
		return true, nil
	}
	return true, &status
}

// ShellOpen opens a persistent shell on a PTY.
func (h *Holder) ShellOpen(ctx context.Context, req ShellOpenRequest) (ShellOpenResult, error) {
	defer h.track()()
	s, err := h.lookup(ctx, req.SessionID)
	if err != nil {
		return ShellOpenResult{}, err
	}
	if req.Term == "" {
		req.Term = DefaultShellTerm
	}
	if req.Cols == 0 {
		req.Cols = DefaultShellCols
	}
	if req.Rows == 0 {
		req.Rows = DefaultShellRows
	}
	if req.Cols < 1 || req.Rows < 1 || req.Cols > 10000 || req.Rows > 10000 {
		return ShellOpenResult{}, Errf(CodeInvalidArgument, "use a size such as 200x50", "terminal size %dx%d is out of range", req.Cols, req.Rows)
	}
	// Reserve the slot and the id first, so that concurrent opens cannot
	// pass the limit together.
	s.mu.Lock()
	n := len(s.shells)
	if n >= h.maxShells() {
		s.mu.Unlock()
		return ShellOpenResult{}, Errf(CodeInvalidArgument, "close a shell first (shell close / ssh_close_session)", "session %s already has %d shells, the maximum", s.id, n)
	}
	s.shellSeq++
	id := strconv.Itoa(s.shellSeq)
	s.shells[id] = shellSlot{}
	s.mu.Unlock()
	opened := false
	defer func() {
		if !opened {
			s.mu.Lock()
			if _, pending := s.shells[id].(shellSlot); pending {
				delete(s.shells, id)
			}
			s.mu.Unlock()
		}
	}()
	var ch *ssh.Session
	for attempt := 0; ; attempt++ {
		c, err := s.conn(ctx)
		if err != nil {
			return ShellOpenResult{}, err
		}
		ch, err = c.NewSession()
		if err == nil {
			break
		}
		if isConnGone(err) && attempt < 1 {
			// The connection died before the session noticed: drop it and reconnect once.
			c.Close()
			waitConnGone(ctx, s, c)
			continue
		}
		return ShellOpenResult{}, Wrap(CodeConnectionLost, err, "the server may limit sessions per connection (MaxSessions); close a shell or try again", "open shell on session %s", s.id)
	}
	modes := ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400, ssh.TTY_OP_OSPEED: 38400}
	if err := ch.RequestPty(req.Term, req.Rows, req.Cols, modes); err != nil {
		ch.Close()
		return ShellOpenResult{}, Wrap(CodeConnectionLost, err, "", "request a PTY on session %s", s.id)
	}
	stdin, err := ch.StdinPipe()
	if err != nil {
		ch.Close()
		return ShellOpenResult{}, Wrap(CodeInternal, err, "", "shell stdin")
	}
	sh := &shell{id: id, owner: CallerFrom(ctx).Owner, sess: s, ch: ch, stdin: stdin, buf: termbuf.New(h.shellBuffer()), cursors: map[string]int64{}}
	ch.Stdout = sh.buf
	ch.Stderr = sh.buf
	if err := ch.Shell(); err != nil {
		ch.Close()
		return ShellOpenResult{}, Wrap(CodeConnectionLost, err, "", "start shell on session %s", s.id)
	}
	opened = true
	if err := s.addResource("shell", sh.id, sh); err != nil {
		sh.Close()
		return ShellOpenResult{}, err
	}
	go func() {
		err := ch.Wait()
		status := -1
		var ee *ssh.ExitError
		switch {
		case err == nil:
			status = 0
		case errors.As(err, &ee) && ee.Signal() == "":
			status = ee.ExitStatus()
		case errors.As(err, &ee):
		default:
			sh.mu.Lock()
			sh.lost = !sh.closed
			sh.mu.Unlock()
		}
		sh.buf.Close(status)
		h.cfg.Logger.Info("shell ended", "session", s.id, "shell", sh.id, "status", status)
	}()
	sh.settle(ctx)
	h.cfg.Logger.Info("shell opened", "session", s.id, "shell", sh.id)
	return ShellOpenResult{SessionID: s.id, ShellID: sh.id, Offset: 0}, nil
}

// waitConnGone waits (briefly) until the session has let go of the closed
// connection c, so that the next conn call reconnects instead of returning c.
func waitConnGone(ctx context.Context, s *Session, c *ssh.Client) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s.mu.Lock()
		cur := s.client
		s.mu.Unlock()
		if cur != c {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// shellSlot holds a shell's place in its session while ShellOpen sets it up.
type shellSlot struct{}

func (shellSlot) Close() error { return nil }

func (h *Holder) maxShells() int {
	if h.cfg.MaxShells > 0 {
		return h.cfg.MaxShells
	}
	return DefaultMaxShells
}

func (h *Holder) shellBuffer() int {
	if h.cfg.ShellBuffer > 0 {
		return h.cfg.ShellBuffer
	}
	return DefaultShellBuffer
}

// shellFor finds a shell the caller may use: the named one, or the session's first.
func (h *Holder) shellFor(ctx context.Context, sessionID, shellID string) (*Session, *shell, error) {
	s, err := h.lookup(ctx, sessionID)
	if err != nil {
		return nil, nil, err
	}
	caller := CallerFrom(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	var sh *shell
	if shellID == "" {
		first := 0
		for id, r := range s.shells {
			n, _ := strconv.Atoi(id)
			if x, ok := r.(*shell); ok && (caller.All || x.owner == caller.Owner) && (first == 0 || n < first) {
				first, sh = n, x
			}
		}
		if sh == nil {
			return nil, nil, Errf(CodeNotFound, "open one with ssh_shell_open (CLI: shell open)", "session %s has no open shell", s.id)
		}
		return s, sh, nil
	}
	r, ok := s.shells[shellID]
	if ok {
		sh, _ = r.(*shell)
	}
	if sh == nil || (!caller.All && sh.owner != caller.Owner) {
		return nil, nil, Errf(CodeNotFound, "list shells with ssh_list_sessions; open one with ssh_shell_open", "session %s has no shell %q", s.id, shellID)
	}
	return s, sh, nil
}

func (sh *shell) exitedErr() error {
	_, status := sh.exitStatus()
	sh.mu.Lock()
	lost := sh.lost
	sh.mu.Unlock()
	if lost {
		return Errf(CodeShellExited, "open a new shell; the session reconnects on the next operation", "shell %s of session %s ended: the connection was lost", sh.id, sh.sess.id)
	}
	st := "unknown status"
	if status != nil {
		st = fmt.Sprintf("status %d", *status)
	}
	return Errf(CodeShellExited, "open a new shell with ssh_shell_open (CLI: shell open)", "shell %s of session %s has exited (%s)", sh.id, sh.sess.id, st)
}

func (sh *shell) write(p []byte) error {
	if exited, _ := sh.exitStatus(); exited {
		return sh.exitedErr()
	}
	if _, err := sh.stdin.Write(p); err != nil {
		if exited, _ := sh.exitStatus(); exited {
			return sh.exitedErr()
		}
		return Wrap(CodeConnectionLost, err, "", "write to shell %s", sh.id)
	}
	sh.sess.touch()
	return nil
}

// ShellSend types text into a shell, followed by Enter unless told not to.
func (h *Holder) ShellSend(ctx context.Context, req ShellSendRequest) (ShellSendResult, error) {
	_, sh, err := h.shellFor(ctx, req.SessionID, req.ShellID)
	if err != nil {
		return ShellSendResult{}, err
	}
	data := []byte(req.Data)
	if req.Enter == nil || *req.Enter {
		data = append(data, '\r')
	}
	sh.mu.Lock()
	before := sh.buf.End()
	sh.lastSend, sh.lastSent, sh.sent = before, []byte(req.Data), true
	sh.mu.Unlock()
	if err := sh.write(data); err != nil {
		return ShellSendResult{}, err
	}
	return ShellSendResult{ShellID: sh.id, OffsetBefore: before, BytesSent: len(data)}, nil
}

// ShellControl sends a control key.
func (h *Holder) ShellControl(ctx context.Context, req ShellControlRequest) (ShellControlResult, error) {
	b, err := termbuf.ControlKey(req.Key)
	if err != nil {
		return ShellControlResult{}, Errf(CodeInvalidArgument, "valid keys: "+fmt.Sprint(termbuf.ControlKeys()), "%v", err)
	}
	_, sh, err := h.shellFor(ctx, req.SessionID, req.ShellID)
	if err != nil {
		return ShellControlResult{}, err
	}
	if err := sh.write(b); err != nil {
		return ShellControlResult{}, err
	}
	return ShellControlResult{ShellID: sh.id, Sent: req.Key}, nil
}

// ShellRead returns output since the caller's cursor (or since Since).
func (h *Holder) ShellRead(ctx context.Context, req ShellReadRequest) (ShellReadResult, error) {
	_, sh, err := h.shellFor(ctx, req.SessionID, req.ShellID)
	if err != nil {
		return ShellReadResult{}, err
	}
	owner := CallerFrom(ctx).Owner
	max := req.MaxBytes
	if max < 0 {
		return ShellReadResult{}, Errf(CodeInvalidArgument, "give a positive byte count", "max_bytes %d is negative", max)
	}
	if max == 0 {
		max = DefaultShellRead
	}
	sh.mu.Lock()
	since := sh.cursors[owner]
	if req.Since != nil {
		since = *req.Since
	}
	sh.mu.Unlock()
	if since < 0 {
		return ShellReadResult{}, Errf(CodeInvalidArgument, "offsets start at 0", "since %d is negative", since)
	}
	data, next, dropped := sh.buf.Read(since, max)
	sh.mu.Lock()
	if next > sh.cursors[owner] || req.Since != nil {
		sh.cursors[owner] = next
	}
	sh.mu.Unlock()
	out := data
	if !req.Raw {
		out = termbuf.Clean(data)
	}
	exited, status := sh.exitStatus()
	return ShellReadResult{Output: string(out), Offset: next - int64(len(data)), NextOffset: next, DroppedBytes: dropped, Exited: exited, ExitStatus: status}, nil
}

// ShellWait waits for a pattern (or for quiet) in the output after the last send.
func (h *Holder) ShellWait(ctx context.Context, req ShellWaitRequest) (ShellWaitResult, error) {
	start := time.Now()
	timeout := DefaultWaitTimeout
	if req.Timeout < 0 || req.Timeout*float64(time.Second) > float64(maxWaitTimeout) {
		return ShellWaitResult{}, Errf(CodeInvalidArgument, "give a timeout from 0.1 s to 24 h", "timeout %v s is out of range", req.Timeout)
	}
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout * float64(time.Second))
	}
	if req.QuietMS < 0 {
		return ShellWaitResult{}, Errf(CodeInvalidArgument, "give a positive number of milliseconds", "quiet_ms %d is negative", req.QuietMS)
	}
	var match termbuf.Matcher
	if req.Pattern != "" {
		if req.Regex {
			re, err := regexp.Compile(req.Pattern)
			if err != nil {
				return ShellWaitResult{}, Errf(CodeInvalidArgument, "fix the regular expression (Go RE2 syntax), or drop regex to match literally", "pattern %q does not compile: %v", req.Pattern, err)
			}
			match = termbuf.Regexp(re)
		} else {
			match = termbuf.Literal(req.Pattern)
		}
	}
	quiet := time.Duration(req.QuietMS) * time.Millisecond
	if match == nil && quiet == 0 {
		quiet = DefaultWaitQuiet
	}
	_, sh, err := h.shellFor(ctx, req.SessionID, req.ShellID)
	if err != nil {
		return ShellWaitResult{}, err
	}
	owner := CallerFrom(ctx).Owner
	sh.mu.Lock()
	since := sh.cursors[owner]
	var skip []byte
	if sh.sent {
		since, skip = sh.lastSend, sh.lastSent
	}
	if req.Since != nil {
		since, skip = *req.Since, nil
		if sh.sent && *req.Since == sh.lastSend {
			skip = sh.lastSent
		}
	}
	sh.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	progressDone := make(chan struct{})
	defer close(progressDone)
	if caller := CallerFrom(ctx); caller.Progress != nil {
		go func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-progressDone:
					return
				case <-t.C:
					caller.progress(ProgressUpdate{Done: time.Since(start).Milliseconds(), Total: timeout.Milliseconds(), Message: "waiting for output"})
				}
			}
		}()
	}
	res, err := sh.buf.Wait(wctx, termbuf.WaitSpec{Since: since, Match: match, Raw: req.Raw, Quiet: quiet, Skip: skip})
	if err != nil && ctx.Err() != nil {
		return ShellWaitResult{}, AsError(ctx.Err())
	}
	sh.mu.Lock()
	if res.Next > sh.cursors[owner] {
		sh.cursors[owner] = res.Next
	}
	sh.mu.Unlock()
	out := res.Data
	if !req.Raw {
		out = termbuf.Clean(out)
	}
	return ShellWaitResult{Matched: res.Matched || res.Quiet, TimedOut: res.TimedOut, WaitedMS: time.Since(start).Milliseconds(),
		Output: string(out), NextOffset: res.Next, Exited: res.Exited}, nil
}

// ShellClose hangs up a shell.
func (h *Holder) ShellClose(ctx context.Context, req ShellCloseRequest) (ShellCloseResult, error) {
	s, sh, err := h.shellFor(ctx, req.SessionID, req.ShellID)
	if err != nil {
		return ShellCloseResult{}, err
	}
	s.removeResource("shell", sh.id)
	sh.Close()
	return ShellCloseResult{ShellID: sh.id, Closed: true}, nil
}

// ShellAttach joins a live shell: recent output, then live output, go to
// term.Output; term.Input goes to the shell (unless read-only); resizes
// follow. It returns when the shell exits, the input ends, or ctx ends.
func (h *Holder) ShellAttach(ctx context.Context, req ShellAttachRequest, term Terminal) (ShellAttachResult, error) {
	s, sh, err := h.shellFor(ctx, req.SessionID, req.ShellID)
	if err != nil {
		return ShellAttachResult{}, err
	}
	if req.CloseOnDetach {
		defer func() {
			s.removeResource("shell", sh.id)
			sh.Close()
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if term.Input != nil && !req.ReadOnly {
		go func() {
			defer cancel()
			buf := make([]byte, 32<<10)
			for {
				n, err := term.Input.Read(buf)
				if n > 0 {
					if werr := sh.write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
	if term.Resize != nil && !req.ReadOnly {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case sz, ok := <-term.Resize:
					if !ok {
						return
					}
					if sz[0] > 0 && sz[1] > 0 {
						sh.ch.WindowChange(sz[1], sz[0])
					}
				}
			}
		}()
	}
	replay := req.History
	if replay == 0 {
		replay = defaultAttachReplay
	}
	pos := sh.buf.End() - int64(replay)
	if pos < sh.buf.Start() {
		pos = sh.buf.Start()
	}
	if req.History < 0 {
		pos = sh.buf.End()
	}
	for {
		changed := sh.buf.Changed()
		data, next, _ := sh.buf.Read(pos, 256<<10)
		if len(data) > 0 {
			if _, err := term.Output.Write(data); err != nil {
				return ShellAttachResult{ShellID: sh.id}, nil
			}
			pos = next
			continue
		}
		if exited, status := sh.exitStatus(); exited {
			return ShellAttachResult{ShellID: sh.id, Exited: true, ExitStatus: status}, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ShellAttachResult{ShellID: sh.id}, nil
		}
	}
}

// settle waits (briefly) for the shell's first output — banner and prompt —
// to arrive and go quiet, so that text sent right after open is echoed after
// the prompt, where wait's echo skipping finds it.
func (sh *shell) settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for sh.buf.End() == 0 {
		select {
		case <-sh.buf.Changed():
		case <-ctx.Done():
			return
		}
		if exited, _ := sh.exitStatus(); exited {
			return
		}
	}
	qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
	defer qcancel()
	sh.buf.Wait(qctx, termbuf.WaitSpec{Since: sh.buf.End(), Quiet: 150 * time.Millisecond})
}
