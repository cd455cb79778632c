package mcpserve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The built binary over real stdio: stdout carries JSON-RPC only, even after
// errors and with logging on.
func TestStdioBinary(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	bin := sshdtest.BuildBinary(t)
	ctx := ctxT(t, 60*time.Second)
	cmd := exec.CommandContext(ctx, bin, "serve", "mcp", "--log-level", "debug")
	cmd.Env = f.env.Environ()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stdout syncBuffer
	tr := &mcp.IOTransport{Reader: io.NopCloser(io.TeeReader(stdoutPipe, &stdout)), Writer: stdin}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connect: %v\nstderr:\n%s", err, stderr.String())
	}
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != len(allTools) {
		t.Fatalf("tools/list: %v %d", err, len(tools.Tools))
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	callErr(t, ctx, cs, "ssh_connect", map[string]any{"host": "u@" + closedAddr}, session.CodeConnectionFailed)
	conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
	r, _ := call[session.ExecResult](t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": "echo hello; echo oops >&2"})
	if r.Stdout != "hello\n" || r.Stderr != "oops\n" {
		t.Errorf("exec %+v", r)
	}
	cs.Close()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("server exit: %v\nstderr:\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		var msg struct {
			JSONRPC string `json:"jsonrpc"`
		}
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil || msg.JSONRPC != "2.0" {
			t.Errorf("stdout line is not JSON-RPC: %q", sc.Text())
		}
	}
	if lines < 5 || !strings.Contains(stderr.String(), "serving MCP") {
		t.Errorf("%d stdout lines; stderr:\n%s", lines, stderr.String())
	}
}

func TestHTTPGuard(t *testing.T) {
	const token = "s3cret-token"
	s := newBare(t, Options{})
	ts := httptest.NewServer(s.HTTPHandler(HTTPOptions{Token: token}))
	t.Cleanup(ts.Close)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	do := func(method, path, body string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
				continue
			}
			req.Header.Set(k, v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	auth := "Bearer " + token
	cases := []struct {
		name         string
		method, path string
		hdr          map[string]string
		want         int
	}{
		{"no token", "POST", "/mcp", nil, 401},
		{"wrong token", "POST", "/mcp", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"token in query", "POST", "/mcp?token=" + token + "&access_token=" + token, nil, 401},
		{"GET without token", "GET", "/mcp", nil, 401},
		{"DELETE without token", "DELETE", "/mcp", nil, 401},
		{"SSE without token", "GET", "/sse", nil, 401},
		{"evil origin", "POST", "/mcp", map[string]string{"Authorization": auth, "Origin": "http://evil.example"}, 403},
		{"null origin", "POST", "/mcp", map[string]string{"Authorization": auth, "Origin": "null"}, 403},
		{"localhost look-alike origin", "POST", "/mcp", map[string]string{"Authorization": auth, "Origin": "http://localhost.evil.example"}, 403},
		{"evil host", "POST", "/mcp", map[string]string{"Authorization": auth, "Host": "evil.example"}, 403},
		{"evil host on SSE", "GET", "/sse", map[string]string{"Authorization": auth, "Host": "evil.example"}, 403},
		{"text/plain", "POST", "/mcp", map[string]string{"Authorization": auth, "Content-Type": "text/plain"}, 415},
		{"ok", "POST", "/mcp", map[string]string{"Authorization": auth}, 200},
		{"ok with local origin", "POST", "/mcp", map[string]string{"Authorization": auth, "Origin": "http://localhost:5173"}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := do(c.method, c.path, init, c.hdr); got != c.want {
				t.Errorf("status %d, want %d", got, c.want)
			}
		})
	}

	// Real clients with the token: streamable HTTP and SSE.
	hc := &http.Client{Transport: bearer{token}}
	for _, tr := range []mcp.Transport{
		&mcp.StreamableClientTransport{Endpoint: ts.URL + PathStreamable, HTTPClient: hc},
		&mcp.SSEClientTransport{Endpoint: ts.URL + PathSSE, HTTPClient: hc},
	} {
		ctx := ctxT(t, 10*time.Second)
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, tr, nil)
		if err != nil {
			t.Fatalf("%T: %v", tr, err)
		}
		res, err := cs.ListTools(ctx, nil)
		if err != nil || len(res.Tools) != len(allTools) {
			t.Errorf("%T: tools/list %v", tr, err)
		}
		l := callRaw(t, ctx, cs, "ssh_list_sessions", nil)
		if l.IsError {
			t.Errorf("%T: list: %s", tr, resultText(l))
		}
		cs.Close()
	}
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// The binary refuses a non-loopback bind without a token, and serves
// streamable HTTP with one.
func TestHTTPBinary(t *testing.T) {
	bin := sshdtest.BuildBinary(t)
	env := sshdtest.NewEnv(t)
	ctx := ctxT(t, 30*time.Second)

	out, err := exec.CommandContext(ctx, bin, "serve", "mcp", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "0").CombinedOutput()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) || !bytes.Contains(out, []byte("without a bearer token")) {
		t.Errorf("0.0.0.0 without a token: err %v, output:\n%s", err, out)
	}

	tokFile := env.Home + "/token"
	os.WriteFile(tokFile, []byte("tok-123\n"), 0o600)
	cmd := exec.CommandContext(ctx, bin, "serve", "mcp", "--transport", "streamable-http", "--port", "0", "--token-file", tokFile)
	cmd.Env = env.Environ()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var url string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "http://"); i >= 0 && strings.Contains(sc.Text(), "serving MCP") {
			url = strings.TrimSpace(sc.Text()[i:])
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/mcp") {
		t.Fatalf("no URL announced (%q)", url)
	}
	resp, err := http.Post(url, "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != 401 {
		t.Errorf("no token: %v %v", err, resp)
	}
	if resp != nil {
		resp.Body.Close()
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{"tok-123"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Error(err)
	}
	cs.Close()
}
