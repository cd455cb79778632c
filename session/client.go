package session

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
)

// Client implements Operations by calling a holder over its unix socket.
// The Caller in each call's ctx travels as headers; its Prompter and Progress
// run here, in the calling process.
type Client struct {
	path    string
	version string
	hc      *http.Client
}

var _ Operations = (*Client)(nil)

// NewClient returns a client for the holder at socket path. version is this
// binary's version, checked against the holder's.
func NewClient(path, version string) *Client {
	c := &Client{path: path, version: version}
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:      4,
		DisableKeepAlives: false,
	}}
	return c
}

// Path returns the socket path.
func (c *Client) Path() string { return c.path }

func (c *Client) unavailable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return AsError(err)
	}
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return Wrap(CodeHolderUnavailable, nil, "run any mcp-remote-ssh command to start it again; its sessions are gone",
			"no holder is listening on %s", c.path)
	}
	return Wrap(CodeHolderUnavailable, err, "the holder may have crashed: its log is in the state dir (~/.local/state/mcp-remote-ssh/holder.log); the next command starts a new one, earlier sessions are gone",
		"lost the holder on %s", c.path)
}

func (c *Client) headers(ctx context.Context, h http.Header) Caller {
	caller := CallerFrom(ctx)
	h.Set(HeaderVersion, c.version)
	h.Set(HeaderOwner, caller.Owner)
	if caller.All {
		h.Set(HeaderAll, "1")
	}
	if caller.AgentSocket != "" {
		h.Set(HeaderAgentSocket, caller.AgentSocket)
	}
	if caller.HostKeyPolicy != "" {
		h.Set(HeaderHostKey, caller.HostKeyPolicy)
	}
	if caller.Prompter != nil {
		h.Set(HeaderPrompt, "1")
	}
	if caller.Progress != nil {
		h.Set(HeaderProgress, "1")
	}
	return caller
}

func (c *Client) checkVersion(h http.Header) error {
	if v := h.Get(HeaderVersion); v != "" && v != c.version {
		return Errf(CodeVersionMismatch, "stop the old holder (mcp-remote-ssh holder stop) and run the command again",
			"the holder runs version %s but this command is version %s", v, c.version)
	}
	return nil
}

// call runs one unary operation.
func (c *Client) call(ctx context.Context, name string, req, res any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return Wrap(CodeInternal, err, "", "encode %s request", name)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://holder/v1/"+name, bytes.NewReader(body))
	if err != nil {
		return Wrap(CodeInternal, err, "", "build %s request", name)
	}
	hreq.Header.Set("Content-Type", "application/json")
	caller := c.headers(ctx, hreq.Header)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return c.unavailable(err)
	}
	defer resp.Body.Close()
	if err := c.checkVersion(resp.Header); err != nil {
		return err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), ndjson) {
		return c.events(ctx, caller, resp.Body, res)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return c.unavailable(err)
	}
	if resp.StatusCode != http.StatusOK {
		return decodeErr(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, res); err != nil {
		return Wrap(CodeInternal, err, "", "decode %s result", name)
	}
	return nil
}

func decodeErr(status int, data []byte) error {
	var body struct {
		Error *Error `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != nil {
		return body.Error
	}
	return Errf(CodeInternal, "", "holder answered %d: %s", status, strings.TrimSpace(string(data)))
}

// events reads an ndjson event stream: prompts are answered here, progress
// is reported, and the last line carries the result or the error.
func (c *Client) events(ctx context.Context, caller Caller, r io.Reader, res any) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return Wrap(CodeInternal, err, "", "decode holder event")
		}
		switch {
		case ev.Prompt != nil:
			go c.answer(ctx, caller, *ev.Prompt)
		case ev.Progress != nil:
			caller.progress(*ev.Progress)
		case ev.Error != nil:
			return ev.Error
		case ev.Result != nil:
			if err := json.Unmarshal(ev.Result, res); err != nil {
				return Wrap(CodeInternal, err, "", "decode result")
			}
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return c.unavailable(err)
	}
	return c.unavailable(io.ErrUnexpectedEOF)
}

// answer asks the local prompter and posts the answer back to the holder.
func (c *Client) answer(ctx context.Context, caller Caller, p promptEvent) {
	var a struct {
		ID string `json:"id"`
		promptAnswer
	}
	a.ID = p.ID
	if caller.Prompter == nil {
		a.Error = Errf(CodeInputRequired, "", "%s", p.Message)
	} else if ans, err := caller.Prompter.Prompt(ctx, p.Prompt); err != nil {
		a.Error = AsError(err)
	} else {
		a.Answer = ans
	}
	var ok map[string]bool
	// The answer is a separate request; it carries no caller headers of its own.
	c.call(WithCaller(context.WithoutCancel(ctx), Caller{Owner: caller.Owner, All: caller.All}), "answer", a, &ok)
}

// Connect opens a new session in the holder.
func (c *Client) Connect(ctx context.Context, req ConnectRequest) (res ConnectResult, err error) {
	return res, c.call(ctx, "connect", req, &res)
}

// Resolve resolves a CLI target in the holder.
func (c *Client) Resolve(ctx context.Context, req ResolveRequest) (res ConnectResult, err error) {
	return res, c.call(ctx, "resolve", req, &res)
}

// ListSessions lists the holder's sessions.
func (c *Client) ListSessions(ctx context.Context, req ListSessionsRequest) (res ListSessionsResult, err error) {
	return res, c.call(ctx, "sessions", req, &res)
}

// CloseSession closes a session in the holder.
func (c *Client) CloseSession(ctx context.Context, req CloseSessionRequest) (res CloseSessionResult, err error) {
	return res, c.call(ctx, "close", req, &res)
}

// Exec runs a buffered exec in the holder.
func (c *Client) Exec(ctx context.Context, req ExecRequest) (res ExecResult, err error) {
	return res, c.call(ctx, "exec", req, &res)
}

// SudoExec runs a buffered sudo exec in the holder.
func (c *Client) SudoExec(ctx context.Context, req SudoExecRequest) (res ExecResult, err error) {
	return res, c.call(ctx, "sudo-exec", req, &res)
}

// Version asks the holder for its version and pid.
func (c *Client) Version(ctx context.Context) (version string, pid int, err error) {
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://holder/v1/version", nil)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return "", 0, c.unavailable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return "", 0, decodeErr(resp.StatusCode, data)
	}
	var v struct {
		Version string `json:"version"`
		PID     int    `json:"pid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", 0, c.unavailable(err)
	}
	return v.Version, v.PID, nil
}

// Shutdown asks the holder to close its sessions and exit.
func (c *Client) Shutdown(ctx context.Context) error {
	var ok map[string]bool
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://holder/v1/shutdown", strings.NewReader("{}"))
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return c.unavailable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return decodeErr(resp.StatusCode, data)
	}
	if err := json.NewDecoder(resp.Body).Decode(&ok); err != nil {
		return c.unavailable(err)
	}
	return nil
}

// ExecStream runs a streamed exec over an upgraded connection.
func (c *Client) ExecStream(ctx context.Context, req ExecStreamRequest, stdio Stdio) (ExecResult, error) {
	if stdio.Stdin == nil {
		req.NoStdin = true
	}
	body, err := json.Marshal(req)
	if err != nil {
		return ExecResult{}, Wrap(CodeInternal, err, "", "encode exec request")
	}
	conn, br, caller, err := c.stream(ctx, "exec-stream", body)
	if err != nil {
		return ExecResult{}, err
	}
	defer conn.Close()
	var wmu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		wmu.Lock()
		WriteFrame(conn, FrameCancel, nil)
		wmu.Unlock()
	})
	defer stop()
	if stdio.Stdin != nil {
		go func() {
			buf := make([]byte, 128<<10)
			for {
				n, err := stdio.Stdin.Read(buf)
				if n > 0 {
					wmu.Lock()
					werr := WriteFrame(conn, FrameStdin, buf[:n])
					wmu.Unlock()
					if werr != nil {
						return
					}
				}
				if err != nil {
					wmu.Lock()
					WriteFrame(conn, FrameStdinEOF, nil)
					wmu.Unlock()
					return
				}
			}
		}()
	}
	var res ExecResult
	var opErr error
	gotResult := false
	buf := make([]byte, 0, 256<<10)
	for {
		typ, p, err := ReadFrame(br, buf)
		if err != nil {
			if gotResult || opErr != nil {
				return res, opErr
			}
			if ctx.Err() != nil {
				return res, AsError(ctx.Err())
			}
			return res, c.unavailable(fmt.Errorf("stream ended early: %w", err))
		}
		switch typ {
		case FrameStdout:
			if stdio.Stdout != nil {
				if _, err := stdio.Stdout.Write(p); err != nil {
					return res, Wrap(CodeCanceled, err, "", "write stdout")
				}
			}
		case FrameStderr:
			if stdio.Stderr != nil {
				stdio.Stderr.Write(p)
			}
		case FramePrompt:
			var ev event
			if json.Unmarshal(p, &ev) == nil && ev.Prompt != nil {
				go c.answer(ctx, caller, *ev.Prompt)
			}
		case FrameProgress:
			var ev event
			if json.Unmarshal(p, &ev) == nil && ev.Progress != nil {
				caller.progress(*ev.Progress)
			}
		case FrameError:
			var e Error
			if err := json.Unmarshal(p, &e); err != nil {
				return res, Wrap(CodeInternal, err, "", "decode error frame")
			}
			opErr = &e
		case FrameResult:
			if err := json.Unmarshal(p, &res); err != nil {
				return res, Wrap(CodeInternal, err, "", "decode result frame")
			}
			gotResult = true
			return res, opErr
		}
	}
}

// stream opens an upgraded connection for op with a JSON body.
func (c *Client) stream(ctx context.Context, op string, body []byte) (net.Conn, *bufio.Reader, Caller, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return nil, nil, Caller{}, c.unavailable(err)
	}
	hreq, _ := http.NewRequest(http.MethodPost, "http://holder/v1/"+op, bytes.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Connection", "Upgrade")
	hreq.Header.Set("Upgrade", streamProto)
	caller := c.headers(ctx, hreq.Header)
	if err := hreq.Write(conn); err != nil {
		conn.Close()
		return nil, nil, caller, c.unavailable(err)
	}
	br := bufio.NewReaderSize(conn, 64<<10)
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		conn.Close()
		return nil, nil, caller, c.unavailable(err)
	}
	if err := c.checkVersion(resp.Header); err != nil {
		conn.Close()
		return nil, nil, caller, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		conn.Close()
		return nil, nil, caller, decodeErr(resp.StatusCode, data)
	}
	return conn, br, caller, nil
}

// ShellOpen opens a shell in the holder.
func (c *Client) ShellOpen(ctx context.Context, req ShellOpenRequest) (res ShellOpenResult, err error) {
	return res, c.call(ctx, "shell/open", req, &res)
}

// ShellSend types into a shell in the holder.
func (c *Client) ShellSend(ctx context.Context, req ShellSendRequest) (res ShellSendResult, err error) {
	return res, c.call(ctx, "shell/send", req, &res)
}

// ShellRead reads a shell's output from the holder.
func (c *Client) ShellRead(ctx context.Context, req ShellReadRequest) (res ShellReadResult, err error) {
	return res, c.call(ctx, "shell/read", req, &res)
}

// ShellControl sends a control key to a shell in the holder.
func (c *Client) ShellControl(ctx context.Context, req ShellControlRequest) (res ShellControlResult, err error) {
	return res, c.call(ctx, "shell/control", req, &res)
}

// ShellWait waits on a shell in the holder.
func (c *Client) ShellWait(ctx context.Context, req ShellWaitRequest) (res ShellWaitResult, err error) {
	return res, c.call(ctx, "shell/wait", req, &res)
}

// ShellClose closes a shell in the holder.
func (c *Client) ShellClose(ctx context.Context, req ShellCloseRequest) (res ShellCloseResult, err error) {
	return res, c.call(ctx, "shell/close", req, &res)
}

// ShellAttach attaches a terminal to a shell in the holder.
func (c *Client) ShellAttach(ctx context.Context, req ShellAttachRequest, term Terminal) (ShellAttachResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return ShellAttachResult{}, Wrap(CodeInternal, err, "", "encode attach request")
	}
	conn, br, _, err := c.stream(ctx, "shell/attach", body)
	if err != nil {
		return ShellAttachResult{}, err
	}
	defer conn.Close()
	var wmu sync.Mutex
	send := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return WriteFrame(conn, typ, p)
	}
	stop := context.AfterFunc(ctx, func() { send(FrameCancel, nil); conn.Close() })
	defer stop()
	done := make(chan struct{})
	defer close(done)
	if term.Input != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := term.Input.Read(buf)
				if n > 0 && send(FrameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					send(FrameStdinEOF, nil)
					return
				}
			}
		}()
	}
	if term.Resize != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case sz, ok := <-term.Resize:
					if !ok {
						return
					}
					b, _ := json.Marshal(sz)
					send(FrameResize, b)
				}
			}
		}()
	}
	buf := make([]byte, 0, 256<<10)
	for {
		typ, p, err := ReadFrame(br, buf)
		if err != nil {
			if ctx.Err() != nil {
				return ShellAttachResult{}, nil
			}
			return ShellAttachResult{}, c.unavailable(fmt.Errorf("attach stream ended early: %w", err))
		}
		switch typ {
		case FrameStdout:
			if _, err := term.Output.Write(p); err != nil {
				return ShellAttachResult{}, Wrap(CodeCanceled, err, "", "write terminal")
			}
		case FrameError:
			var e Error
			if err := json.Unmarshal(p, &e); err != nil {
				return ShellAttachResult{}, Wrap(CodeInternal, err, "", "decode error frame")
			}
			return ShellAttachResult{}, &e
		case FrameResult:
			var res ShellAttachResult
			if err := json.Unmarshal(p, &res); err != nil {
				return res, Wrap(CodeInternal, err, "", "decode result frame")
			}
			return res, nil
		}
	}
}

// Upload uploads through the holder.
func (c *Client) Upload(ctx context.Context, req UploadRequest) (res UploadResult, err error) {
	return res, c.call(ctx, "upload", req, &res)
}

// Download downloads through the holder.
func (c *Client) Download(ctx context.Context, req DownloadRequest) (res DownloadResult, err error) {
	return res, c.call(ctx, "download", req, &res)
}

// ReadFile reads a remote file through the holder.
func (c *Client) ReadFile(ctx context.Context, req ReadFileRequest) (res ReadFileResult, err error) {
	return res, c.call(ctx, "read-file", req, &res)
}

// WriteFile writes a remote file through the holder.
func (c *Client) WriteFile(ctx context.Context, req WriteFileRequest) (res WriteFileResult, err error) {
	return res, c.call(ctx, "write-file", req, &res)
}

// ListDir lists a remote directory through the holder.
func (c *Client) ListDir(ctx context.Context, req ListDirRequest) (res ListDirResult, err error) {
	return res, c.call(ctx, "list-dir", req, &res)
}

// ForwardOpen opens a forward in the holder.
func (c *Client) ForwardOpen(ctx context.Context, req ForwardRequest) (res ForwardResult, err error) {
	return res, c.call(ctx, "forward", req, &res)
}

// ListForwards lists the holder's forwards.
func (c *Client) ListForwards(ctx context.Context, req ListForwardsRequest) (res ListForwardsResult, err error) {
	return res, c.call(ctx, "forwards", req, &res)
}

// CloseForward closes a forward in the holder.
func (c *Client) CloseForward(ctx context.Context, req CloseForwardRequest) (res CloseForwardResult, err error) {
	return res, c.call(ctx, "forward/close", req, &res)
}

// CloseOwner closes every session owned by owner (an MCP client session of
// `serve mcp --shared` that ended).
func (c *Client) CloseOwner(ctx context.Context, owner string) (int, error) {
	var res CloseOwnerResult
	err := c.call(ctx, "close-owner", CloseOwnerRequest{Owner: owner}, &res)
	return res.Closed, err
}
