package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// serveHolder serves h on a fresh unix socket until the test ends and
// returns the socket path.
func serveHolder(t testing.TB, h *session.Holder) string {
	t.Helper()
	env := sshdtest.NewEnv(t)
	ln, err := session.Listen(env.Socket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- session.NewServer(h, log.New(io.Discard), "v1").Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return env.Socket
}

func TestSocketContract(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 180*time.Second)
	path := serveHolder(t, f.h)
	cl := session.NewClient(path, "v1")

	c, err := cl.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath, Name: "sock"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "sock" || c.User != f.user.Name || c.AuthMethod != "publickey" || c.HostKeyFingerprint == "" {
		t.Errorf("connect %+v", c)
	}
	id := c.SessionID
	if l, err := cl.ListSessions(ctx, session.ListSessionsRequest{}); err != nil || len(l.Sessions) != 1 || l.Sessions[0].SessionID != id {
		t.Errorf("sessions %+v %v", l, err)
	}

	t.Run("exec", func(t *testing.T) {
		res, err := cl.Exec(ctx, session.ExecRequest{SessionID: id, Command: "echo out; echo err >&2; exit 3"})
		if err != nil || res.Stdout != "out\n" || res.Stderr != "err\n" || res.ExitCode == nil || *res.ExitCode != 3 || res.Outcome != "exited" {
			t.Errorf("exec %+v %v", res, err)
		}
		var stdout, stderr bytes.Buffer
		in := strings.NewReader(strings.Repeat("data-in ", 50000))
		sr, err := cl.ExecStream(ctx, session.ExecStreamRequest{SudoExecRequest: session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id,
			Command: "cat; echo to-stderr >&2; exit 5"}}}, session.Stdio{Stdin: in, Stdout: &stdout, Stderr: &stderr})
		if err != nil || sr.ExitCode == nil || *sr.ExitCode != 5 {
			t.Fatalf("exec stream %+v %v", sr, err)
		}
		if stdout.String() != strings.Repeat("data-in ", 50000) || stderr.String() != "to-stderr\n" || sr.StdoutBytes != 400000 || sr.StderrBytes != 10 {
			t.Errorf("stream: stdout %d bytes, stderr %q, result %+v", stdout.Len(), stderr.String(), sr)
		}
		// No stdin: the command sees EOF at once.
		sr, err = cl.ExecStream(ctx, session.ExecStreamRequest{SudoExecRequest: session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id,
			Command: "wc -c"}}}, session.Stdio{Stdout: &stdout})
		if err != nil || *sr.ExitCode != 0 {
			t.Errorf("no stdin %+v %v", sr, err)
		}
		_, err = cl.ExecStream(ctx, session.ExecStreamRequest{SudoExecRequest: session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: "deadbeef",
			Command: "true"}}}, session.Stdio{})
		wantCode(t, err, session.CodeNotFound)
	})
	t.Run("shell", func(t *testing.T) { shellContract(t, ctx, cl, id) })
	t.Run("attach", func(t *testing.T) { attachContract(t, ctx, cl, id) })
	t.Run("files", func(t *testing.T) { filesContract(t, ctx, cl, f, id) })
	t.Run("forwards", func(t *testing.T) { forwardContract(t, ctx, cl, id) })
	t.Run("errors keep their code", func(t *testing.T) {
		_, err := cl.Exec(ctx, session.ExecRequest{SessionID: "nosuch", Command: "true"})
		wantCode(t, err, session.CodeNotFound)
		_, err = cl.Exec(ctx, session.ExecRequest{SessionID: id, Command: " "})
		wantCode(t, err, session.CodeInvalidArgument)
		_, err = cl.Connect(ctx, session.ConnectRequest{Host: f.target(), Password: "wrong", UseAgent: new(bool)})
		e := wantCode(t, err, session.CodeAuthFailed)
		if e.Message == "" || e.Hint == "" {
			t.Errorf("error lost its message or hint: %+v", e)
		}
		if !errors.Is(err, session.ErrCode(session.CodeAuthFailed)) {
			t.Error("errors.Is on the code")
		}
		// Another owner sees nothing of the CLI's.
		octx := session.WithCaller(ctx, session.Caller{Owner: "mcp-other"})
		_, err = cl.ShellRead(octx, session.ShellReadRequest{SessionID: id})
		wantCode(t, err, session.CodeNotFound)
		if l, err := cl.ListSessions(octx, session.ListSessionsRequest{}); err != nil || len(l.Sessions) != 0 {
			t.Errorf("other owner sees %+v %v", l, err)
		}
	})
	t.Run("prompts travel", func(t *testing.T) {
		var asked atomic.Int32
		pctx := session.WithCaller(ctx, session.Caller{Prompter: session.PrompterFunc(func(ctx context.Context, p session.Prompt) (string, error) {
			asked.Add(1)
			if p.Kind != session.PromptPassphrase || !strings.Contains(p.Message, f.user.EncKeyPath) {
				t.Errorf("prompt %+v", p)
			}
			return f.user.Passphrase, nil
		})})
		r, err := cl.Connect(pctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.EncKeyPath})
		if err != nil || asked.Load() != 1 {
			t.Fatalf("connect with a prompted passphrase: %+v %v (asked %d)", r, err, asked.Load())
		}
		// A prompter that refuses: the refusal's code comes back.
		nctx := session.WithCaller(ctx, session.Caller{Prompter: session.PrompterFunc(func(ctx context.Context, p session.Prompt) (string, error) {
			return "", session.Errf(session.CodeCanceled, "", "the person declined")
		})})
		_, err = cl.Connect(nctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.EncKeyPath})
		wantCode(t, err, session.CodeCanceled)
		// Nobody to ask: input_required.
		_, err = cl.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.EncKeyPath})
		wantCode(t, err, session.CodeInputRequired)
	})
	t.Run("progress travels", func(t *testing.T) {
		src := t.TempDir() + "/big"
		randomFile(t, src, 8<<20)
		var calls atomic.Int32
		var last atomic.Int64
		pctx := session.WithCaller(ctx, session.Caller{Progress: func(u session.ProgressUpdate) {
			calls.Add(1)
			last.Store(u.Done)
		}})
		if _, err := cl.Upload(pctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: "big"}); err != nil {
			t.Fatal(err)
		}
		if calls.Load() == 0 || last.Load() != 8<<20 {
			t.Errorf("progress: %d calls, last %d", calls.Load(), last.Load())
		}
	})
	t.Run("version mismatch", func(t *testing.T) {
		_, err := session.NewClient(path, "v2").ListSessions(ctx, session.ListSessionsRequest{})
		e := wantCode(t, err, session.CodeVersionMismatch)
		if !strings.Contains(e.Message, "v1") || !strings.Contains(e.Message, "v2") {
			t.Errorf("message should name both versions: %v", e)
		}
		_, err = session.NewClient(path, "v2").ExecStream(ctx, session.ExecStreamRequest{SudoExecRequest: session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id,
			Command: "true"}}}, session.Stdio{})
		wantCode(t, err, session.CodeVersionMismatch)
	})
	t.Run("close", func(t *testing.T) {
		r, err := cl.CloseSession(ctx, session.CloseSessionRequest{SessionID: id})
		if err != nil || !r.Closed {
			t.Errorf("close %+v %v", r, err)
		}
	})
}

func TestSocketHolderUnavailable(t *testing.T) {
	t.Parallel()
	env := sshdtest.NewEnv(t)
	_, err := session.NewClient(env.Socket, "v1").ListSessions(ctxT(t, 10*time.Second), session.ListSessionsRequest{})
	e := wantCode(t, err, session.CodeHolderUnavailable)
	if !strings.Contains(e.Message, env.Socket) {
		t.Errorf("message should name the socket: %v", e)
	}
}

// unixHTTP is an HTTP client for a holder socket, for requests the Client never sends.
func unixHTTP(path string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// fuzzRoutes are the unary routes fuzzed with arbitrary bodies: all but
// connect and resolve, which would dial whatever host the body names.
var fuzzRoutes = []string{"sessions", "close", "exec", "sudo-exec", "shell/open", "shell/send", "shell/read", "shell/control",
	"shell/wait", "shell/close", "upload", "download", "read-file", "write-file", "list-dir", "forward", "forwards", "forward/close",
	"answer", "exec-stream", "shell/attach"}

// FuzzDecodeRequest posts arbitrary bodies to the holder's routes: every
// answer is a JSON result or a coded error (never internal, never a
// panic), and the holder keeps serving.
func FuzzDecodeRequest(f *testing.F) {
	for i, body := range []string{`{}`, `{"session_id":"x"}`, `{"session_id":"x","command":"id","timeout":1}`, `{"unknown":1}`, `[]`, `null`, ``,
		`{"session_id":"x","since":-1}`, `{"session_id":1}`, `{"forward_id":"` + strings.Repeat("a", 1000) + `"}`, "{\"data\":\"\\ud800\"}", `{"pattern":"(","regex":true,"session_id":"x"}`} {
		f.Add(uint8(i), []byte(body))
	}
	h := session.NewHolder(session.HolderConfig{Logger: log.New(io.Discard), Home: f.TempDir()})
	f.Cleanup(func() { h.Close() })
	path := serveHolder(f, h)
	hc := unixHTTP(path)
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		name := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req, _ := http.NewRequest(http.MethodPost, "http://holder/v1/"+name, bytes.NewReader(body))
		req.Header.Set(session.HeaderVersion, "v1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: holder gone: %v", name, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusOK {
			if !json.Valid(data) {
				t.Fatalf("%s: 200 with %q", name, data)
			}
			return
		}
		var e struct {
			Error *session.Error `json:"error"`
		}
		if err := json.Unmarshal(data, &e); err != nil || e.Error == nil || e.Error.Code == "" {
			t.Fatalf("%s: status %d with %q", name, resp.StatusCode, data)
		}
		if e.Error.Code == session.CodeInternal || resp.StatusCode != e.Error.Code.HTTPStatus() {
			t.Fatalf("%s: status %d, error %+v for body %q", name, resp.StatusCode, e.Error, body)
		}
	})
}

// FuzzReadFrame feeds arbitrary bytes to the frame decoder: no panic, no
// payload past MaxFrame, no buffer grown past what the header allows, and
// what WriteFrame writes reads back the same.
func FuzzReadFrame(f *testing.F) {
	var seed bytes.Buffer
	session.WriteFrame(&seed, session.FrameStdout, []byte("hello"))
	session.WriteFrame(&seed, session.FrameStdinEOF, nil)
	f.Add(seed.Bytes())
	f.Add([]byte{'i', 0, 0, 0, 3, 'a', 'b'})
	f.Add([]byte{'r', 0, 0, 0, 7, '[', '8', '0', ',', '2', '4', ']'})
	f.Add([]byte{'o', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'o', 0, 0x10, 0, 0})
	f.Add([]byte{'o', 0, 0x10, 0, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		buf := make([]byte, 0, 16)
		for {
			before := r.Len()
			typ, p, err := session.ReadFrame(r, buf)
			if err != nil {
				break
			}
			if len(p) > session.MaxFrame || before-r.Len() != 5+len(p) {
				t.Fatalf("frame %q of %d bytes consumed %d", typ, len(p), before-r.Len())
			}
			if cap(p) > max(cap(buf), 2*len(p), 64<<10) {
				t.Fatalf("buffer of %d for a %d-byte payload", cap(p), len(p))
			}
			var out bytes.Buffer
			if err := session.WriteFrame(&out, typ, p); err != nil {
				t.Fatal(err)
			}
			typ2, p2, err := session.ReadFrame(&out, nil)
			if err != nil || typ2 != typ || !bytes.Equal(p, p2) {
				t.Fatalf("round trip: %q %q vs %q %q: %v", typ, p, typ2, p2, err)
			}
			buf = p[:0]
		}
	})
}

// TestReadFrameBoundedAllocation: a header that promises a large payload the
// stream does not carry must not make the decoder allocate it all up front.
func TestReadFrameBoundedAllocation(t *testing.T) {
	hdr := []byte{'o', 0, 0x10, 0, 0} // 1 MiB promised, nothing follows
	var m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m1)
	for range 100 {
		session.ReadFrame(bytes.NewReader(hdr), nil)
	}
	runtime.ReadMemStats(&m2)
	if grown := m2.TotalAlloc - m1.TotalAlloc; grown > 16<<20 {
		t.Errorf("100 truncated frames allocated %d MiB", grown>>20)
	}
	_, _, err := session.ReadFrame(bytes.NewReader(hdr), nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated frame: %v", err)
	}
	_, _, err = session.ReadFrame(bytes.NewReader([]byte{'o', 0, 0x10, 0, 1}), nil)
	if err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("oversized frame: %v", err)
	}
}
