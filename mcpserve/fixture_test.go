package mcpserve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fixture is a real sshd with a throwaway user, an isolated client home, an
// in-process holder and an MCP server over it.
type fixture struct {
	srv   *sshdtest.Server
	user  *sshdtest.User
	env   *sshdtest.Env
	h     *session.Holder
	s     *Server
	audit *syncBuffer
	logs  *syncBuffer
	local string // the MCP server's --local-root
}

type fixtureOpt struct {
	sudo sshdtest.SudoMode
	opts Options
}

func newFixture(t *testing.T, o fixtureOpt) *fixture {
	t.Helper()
	sshdtest.Require(t)
	var uopts []sshdtest.UserOption
	if o.sudo != sshdtest.SudoNone {
		uopts = append(uopts, sshdtest.WithSudo(o.sudo))
	}
	u := sshdtest.NewUser(t, uopts...)
	srv := sshdtest.Start(t, sshdtest.WithUsers(u))
	env := sshdtest.NewEnv(t)
	f := &fixture{srv: srv, user: u, env: env, audit: &syncBuffer{}, logs: &syncBuffer{}, local: t.TempDir()}
	logger := log.New(f.logs)
	logger.SetLevel(log.DebugLevel)
	f.h = session.NewHolder(session.HolderConfig{Logger: logger, Home: env.Home, Keepalive: time.Second, AllowHosts: o.opts.AllowHosts})
	t.Cleanup(func() {
		f.h.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", f.logs.String())
		}
	})
	f.s = f.newServer(o.opts)
	return f
}

// newServer makes another MCP server over the fixture's holder.
func (f *fixture) newServer(o Options) *Server {
	o.Logger = log.New(f.logs)
	o.Logger.SetLevel(log.DebugLevel)
	if o.AuditLog == nil {
		o.AuditLog = f.audit
	}
	o.OnSessionEnd = f.h.CloseOwner
	if o.Home == "" {
		o.Home = f.env.Home // the guard on ~/.ssh/ applies to the test's HOME
	}
	if o.LocalRoot == "" {
		o.LocalRoot = f.local
	}
	return New(f.h, o)
}

func (f *fixture) target() string { return fmt.Sprintf("%s@%s", f.user.Name, f.srv.Addr) }

// connectArgs are ssh_connect arguments with key auth.
func (f *fixture) connectArgs() map[string]any {
	return map[string]any{"host": f.target(), "key_path": f.user.KeyPath}
}

// client connects a go-sdk client to s over in-memory transports.
func client(t *testing.T, s *Server, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.MCP().Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, opts).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// callRaw calls a tool and fails the test on a protocol error.
func callRaw(t *testing.T, ctx context.Context, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error: %v", name, err)
	}
	return res
}

// call calls a tool that must succeed and decodes structuredContent into Out.
func call[Out any](t *testing.T, ctx context.Context, cs *mcp.ClientSession, name string, args any) (Out, *mcp.CallToolResult) {
	t.Helper()
	res := callRaw(t, ctx, cs, name, args)
	var out Out
	if res.IsError {
		t.Fatalf("%s: isError: %s", name, resultText(res))
	}
	decode(t, res.StructuredContent, &out)
	return out, res
}

// callErr calls a tool that must fail and returns the error of its
// structuredContent, checking the text form.
func callErr(t *testing.T, ctx context.Context, cs *mcp.ClientSession, name string, args any, code session.Code) session.Error {
	t.Helper()
	res := callRaw(t, ctx, cs, name, args)
	if !res.IsError {
		t.Fatalf("%s: want isError %s, got %s", name, code, resultText(res))
	}
	var sc struct {
		Error session.Error `json:"error"`
	}
	decode(t, res.StructuredContent, &sc)
	e := sc.Error
	if e.Code != code {
		t.Fatalf("%s: code %s, want %s: %s", name, e.Code, code, resultText(res))
	}
	want := string(e.Code) + ": " + e.Message
	if e.Hint != "" {
		want += " — " + e.Hint
	}
	if got := resultText(res); got != want {
		t.Errorf("%s: text %q, want %q", name, got, want)
	}
	if e.Message == "" || e.Hint == "" {
		t.Errorf("%s: error without message or hint: %+v", name, e)
	}
	return e
}

func decode(t *testing.T, v any, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
