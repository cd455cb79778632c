package session

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/log"
)

// ProtocolVersion is the socket protocol's version; paths are under /v1.
const ProtocolVersion = "1"

// Socket protocol headers.
const (
	HeaderVersion     = "X-Mrs-Version"
	HeaderOwner       = "X-Mrs-Owner"
	HeaderAll         = "X-Mrs-All"
	HeaderAgentSocket = "X-Mrs-Agent-Socket"
	HeaderHostKey     = "X-Mrs-Host-Key-Policy"
	HeaderPrompt      = "X-Mrs-Prompt"
	HeaderProgress    = "X-Mrs-Progress"
	ndjson            = "application/x-ndjson"
	streamProto       = "mrs-stream"
)

// Server serves a Holder's operations on a unix socket.
type Server struct {
	holder  *Holder
	logger  *log.Logger
	version string

	mu      sync.Mutex
	prompts map[string]chan promptAnswer
	// Shutdown, when set, is called by POST /v1/shutdown.
	Shutdown func()
}

type promptAnswer struct {
	Answer string `json:"answer"`
	Error  *Error `json:"error,omitempty"`
}

// NewServer returns a server for h. version is the binary's version; a client
// of another version gets a version_mismatch error.
func NewServer(h *Holder, logger *log.Logger, version string) *Server {
	return &Server{holder: h, logger: logger, version: version, prompts: map[string]chan promptAnswer{}}
}

type peerConn struct {
	net.Conn
}

// uidListener refuses connections from any other uid (SO_PEERCRED).
type uidListener struct {
	net.Listener
	logger *log.Logger
}

func (l uidListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			return c, nil
		}
		uid, err := peerUID(uc)
		if err == nil && uid == os.Getuid() {
			return peerConn{c}, nil
		}
		l.logger.Warn("refused a connection from another user", "uid", uid, "err", err)
		body, _ := json.Marshal(map[string]*Error{"error": {Code: CodePermissionDenied,
			Message: fmt.Sprintf("this holder belongs to uid %d; uid %d may not use it", os.Getuid(), uid),
			Hint:    "run mcp-remote-ssh as the holder's user, or use your own socket (MCP_REMOTE_SSH_SOCKET)"}})
		c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		c.Close()
	}
}

// Serve serves until ctx ends. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	route(s, mux, "connect", s.holder.Connect)
	route(s, mux, "resolve", s.holder.Resolve)
	route(s, mux, "sessions", s.holder.ListSessions)
	route(s, mux, "close", s.holder.CloseSession)
	route(s, mux, "exec", s.holder.Exec)
	route(s, mux, "sudo-exec", s.holder.SudoExec)
	route(s, mux, "shell/open", s.holder.ShellOpen)
	route(s, mux, "shell/send", s.holder.ShellSend)
	route(s, mux, "shell/read", s.holder.ShellRead)
	route(s, mux, "shell/control", s.holder.ShellControl)
	route(s, mux, "shell/wait", s.holder.ShellWait)
	route(s, mux, "shell/close", s.holder.ShellClose)
	mux.HandleFunc("POST /v1/shell/attach", s.shellAttach)
	route(s, mux, "upload", s.holder.Upload)
	route(s, mux, "download", s.holder.Download)
	route(s, mux, "read-file", s.holder.ReadFile)
	route(s, mux, "write-file", s.holder.WriteFile)
	route(s, mux, "list-dir", s.holder.ListDir)
	route(s, mux, "forward", s.holder.ForwardOpen)
	route(s, mux, "forwards", s.holder.ListForwards)
	route(s, mux, "forward/close", s.holder.CloseForward)
	mux.HandleFunc("POST /v1/exec-stream", s.execStream)
	mux.HandleFunc("POST /v1/answer", s.answer)
	route(s, mux, "close-owner", func(ctx context.Context, req CloseOwnerRequest) (CloseOwnerResult, error) {
		return CloseOwnerResult{Closed: s.holder.closeOwner(req.Owner)}, nil
	})
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": s.version, "protocol": ProtocolVersion, "pid": os.Getpid()})
	})
	mux.HandleFunc("POST /v1/shutdown", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		if s.Shutdown != nil {
			go s.Shutdown()
		}
	})
	srv := &http.Server{
		Handler:           s.guard(mux),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		srv.Close()
	}()
	err := srv.Serve(uidListener{Listener: ln, logger: s.logger})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// guard checks the version, refuses browsers (Origin) and recovers panics.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderVersion, s.version)
		defer func() {
			if p := recover(); p != nil {
				s.logger.Error("panic in request", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeErr(w, &Error{Code: CodeInternal, Message: fmt.Sprintf("internal error in %s", r.URL.Path), Hint: "this is a bug; the holder log has details"})
			}
		}()
		if r.Header.Get("Origin") != "" {
			writeErr(w, Errf(CodePermissionDenied, "", "requests with an Origin header are refused"))
			return
		}
		if v := r.Header.Get(HeaderVersion); v != "" && v != s.version && r.URL.Path != "/v1/version" && r.URL.Path != "/v1/shutdown" {
			writeErr(w, Errf(CodeVersionMismatch, "stop the old holder (mcp-remote-ssh holder stop) and run the command again",
				"the holder runs version %s but this command is version %s", s.version, v))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	e := AsError(err)
	writeJSON(w, e.Code.HTTPStatus(), map[string]*Error{"error": e})
}

// event is one line of an ndjson response.
type event struct {
	Prompt   *promptEvent    `json:"prompt,omitempty"`
	Progress *ProgressUpdate `json:"progress,omitempty"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    *Error          `json:"error,omitempty"`
}

type promptEvent struct {
	ID string `json:"id"`
	Prompt
}

// responder delays the response headers until the first event or the final
// result, so simple calls get a plain JSON body with the right status.
type responder struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	started bool
}

func (r *responder) event(ev event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.w.Header().Set("Content-Type", ndjson)
		r.w.WriteHeader(http.StatusOK)
		r.started = true
	}
	json.NewEncoder(r.w).Encode(ev)
	if f, ok := r.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *responder) finish(res any, err error) {
	r.mu.Lock()
	started := r.started
	r.mu.Unlock()
	if !started {
		if err != nil {
			writeErr(r.w, err)
			return
		}
		writeJSON(r.w, http.StatusOK, res)
		return
	}
	if err != nil {
		r.event(event{Error: AsError(err)})
		return
	}
	b, _ := json.Marshal(res)
	r.event(event{Result: b})
}

// callerFor builds the Caller of a socket request.
func (s *Server) callerFor(r *http.Request, send func(event)) Caller {
	c := Caller{Owner: r.Header.Get(HeaderOwner), All: r.Header.Get(HeaderAll) == "1",
		AgentSocket: r.Header.Get(HeaderAgentSocket), HostKeyPolicy: r.Header.Get(HeaderHostKey)}
	if c.Owner == "" {
		c.Owner, c.All = OwnerCLI, true
	}
	if r.Header.Get(HeaderPrompt) == "1" {
		c.Prompter = PrompterFunc(func(ctx context.Context, p Prompt) (string, error) { return s.relayPrompt(ctx, p, send) })
	}
	if r.Header.Get(HeaderProgress) == "1" {
		var last time.Time
		c.Progress = func(u ProgressUpdate) {
			if time.Since(last) < 200*time.Millisecond && u.Total == 0 {
				return
			}
			last = time.Now()
			send(event{Progress: &u})
		}
	}
	return c
}

// relayPrompt sends a prompt to the calling client and waits for POST /v1/answer.
func (s *Server) relayPrompt(ctx context.Context, p Prompt, send func(event)) (string, error) {
	b := make([]byte, 16)
	rand.Read(b)
	id := hex.EncodeToString(b)
	ch := make(chan promptAnswer, 1)
	s.mu.Lock()
	s.prompts[id] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.prompts, id)
		s.mu.Unlock()
	}()
	send(event{Prompt: &promptEvent{ID: id, Prompt: p}})
	select {
	case a := <-ch:
		if a.Error != nil {
			return "", a.Error
		}
		return a.Answer, nil
	case <-ctx.Done():
		return "", AsError(ctx.Err())
	}
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
		promptAnswer
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeErr(w, Errf(CodeInvalidArgument, "", "decode answer: %v", err))
		return
	}
	s.mu.Lock()
	ch := s.prompts[req.ID]
	s.mu.Unlock()
	if ch == nil {
		writeErr(w, Errf(CodeNotFound, "", "no pending prompt %q", req.ID))
		return
	}
	select {
	case ch <- req.promptAnswer:
	default:
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// route registers POST /v1/<name> for one unary operation.
func route[Req, Res any](s *Server, mux *http.ServeMux, name string, op func(context.Context, Req) (Res, error)) {
	mux.HandleFunc("POST /v1/"+name, func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := decodeBody(r.Body, &req); err != nil {
			writeErr(w, err)
			return
		}
		resp := &responder{w: w}
		ctx := WithCaller(r.Context(), s.callerFor(r, resp.event))
		res, err := op(ctx, req)
		resp.finish(res, err)
	})
}

func decodeBody(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, 16<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errf(CodeInvalidArgument, "this is a client bug, or a client of another version", "decode request: %v", err)
	}
	return nil
}

// execStream upgrades the connection and runs a streamed exec over frames.
func (s *Server) execStream(w http.ResponseWriter, r *http.Request) {
	var req ExecStreamRequest
	conn, brw, ok := s.upgrade(w, r, &req)
	if !ok {
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var wmu sync.Mutex
	send := func(ev event) {
		b, _ := json.Marshal(ev)
		typ := FrameProgress
		if ev.Prompt != nil {
			typ = FramePrompt
		}
		wmu.Lock()
		WriteFrame(conn, typ, b)
		wmu.Unlock()
	}
	ctx = WithCaller(ctx, s.callerFor(r, send))
	stdinR, stdinW := io.Pipe()
	go func() {
		// Reader of client frames: stdin, EOF, cancel. A vanished client cancels.
		defer cancel()
		defer stdinW.Close()
		br := bufio.NewReader(brw)
		buf := make([]byte, 0, 64<<10)
		eof := false
		for {
			typ, p, err := ReadFrame(br, buf)
			if err != nil {
				if !eof {
					stdinW.CloseWithError(io.ErrUnexpectedEOF)
				}
				return
			}
			switch typ {
			case FrameStdin:
				if !eof {
					if _, err := stdinW.Write(p); err != nil {
						eof = true
					}
				}
			case FrameStdinEOF:
				eof = true
				stdinW.Close()
			case FrameCancel:
				return
			}
		}
	}()
	stdio := Stdio{
		Stdout: &frameWriter{mu: &wmu, w: conn, typ: FrameStdout},
		Stderr: &frameWriter{mu: &wmu, w: conn, typ: FrameStderr},
	}
	if !req.noStdin() {
		stdio.Stdin = stdinR
	}
	res, err := s.holder.ExecStream(ctx, req, stdio)
	wmu.Lock()
	defer wmu.Unlock()
	if err != nil {
		b, _ := json.Marshal(AsError(err))
		WriteFrame(conn, FrameError, b)
		if res.Outcome == "" {
			return
		}
	}
	b, _ := json.Marshal(res)
	WriteFrame(conn, FrameResult, b)
}

func (r ExecStreamRequest) noStdin() bool { return r.NoStdin }

// upgrade checks and hijacks an upgraded stream request, after decoding its body into req.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, req any) (net.Conn, *bufio.ReadWriter, bool) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), streamProto) {
		writeErr(w, Errf(CodeInvalidArgument, "send Connection: Upgrade and Upgrade: "+streamProto, "%s needs an upgraded connection", r.URL.Path))
		return nil, nil, false
	}
	if err := decodeBody(r.Body, req); err != nil {
		writeErr(w, err)
		return nil, nil, false
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeErr(w, Wrap(CodeInternal, err, "", "hijack"))
		return nil, nil, false
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n%s: %s\r\n\r\n", streamProto, HeaderVersion, s.version)
	if err := brw.Flush(); err != nil {
		conn.Close()
		return nil, nil, false
	}
	return conn, brw, true
}

// shellAttach streams a shell over an upgraded connection: 'o' frames out;
// 'i' keystrokes and 'r' resizes ([cols, rows]) in; a final 'R' or 'X'.
func (s *Server) shellAttach(w http.ResponseWriter, r *http.Request) {
	var req ShellAttachRequest
	conn, brw, ok := s.upgrade(w, r, &req)
	if !ok {
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ctx = WithCaller(ctx, s.callerFor(r, func(event) {}))
	var wmu sync.Mutex
	inR, inW := io.Pipe()
	resize := make(chan [2]int, 4)
	go func() {
		defer cancel()
		defer inW.Close()
		br := bufio.NewReader(brw)
		buf := make([]byte, 0, 64<<10)
		for {
			typ, p, err := ReadFrame(br, buf)
			if err != nil {
				return
			}
			switch typ {
			case FrameStdin:
				if req.ReadOnly {
					continue // watching only: keystrokes are dropped
				}
				if _, err := inW.Write(p); err != nil {
					return
				}
			case FrameResize:
				var sz [2]int
				if json.Unmarshal(p, &sz) == nil {
					select {
					case resize <- sz:
					default:
					}
				}
			case FrameStdinEOF, FrameCancel:
				return
			}
		}
	}()
	term := Terminal{Output: &frameWriter{mu: &wmu, w: conn, typ: FrameStdout}, Resize: resize}
	if !req.ReadOnly {
		term.Input = inR
	}
	res, err := s.holder.ShellAttach(ctx, req, term)
	wmu.Lock()
	defer wmu.Unlock()
	if err != nil {
		b, _ := json.Marshal(AsError(err))
		WriteFrame(conn, FrameError, b)
		return
	}
	b, _ := json.Marshal(res)
	WriteFrame(conn, FrameResult, b)
}
