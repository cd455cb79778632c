package mcpserve

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// panicOps panics in ListSessions and fails Exec with remote-looking text.
type panicOps struct{ session.Operations }

func (panicOps) ListSessions(context.Context, session.ListSessionsRequest) (session.ListSessionsResult, error) {
	panic("boom")
}

func (panicOps) Exec(context.Context, session.ExecRequest) (session.ExecResult, error) {
	return session.ExecResult{}, session.Errf(session.CodeConnectionLost, "reconnect", "lost \x1b[2J link")
}

func TestPanicLoggingPing(t *testing.T) {
	ctx := ctxT(t, 10*time.Second)
	var logs bytes.Buffer
	s := New(panicOps{}, Options{Logger: log.New(&logs)})
	var mu sync.Mutex
	var msgs []*mcp.LoggingMessageParams
	cs := client(t, s, &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, r *mcp.LoggingMessageRequest) {
		mu.Lock()
		msgs = append(msgs, r.Params)
		mu.Unlock()
	}})
	if err := cs.Ping(ctx, nil); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatal(err)
	}
	e := callErr(t, ctx, cs, "ssh_list_sessions", nil, session.CodeInternal)
	if strings.Contains(e.Message, "goroutine") {
		t.Errorf("stack trace in the result: %v", e)
	}
	e = callErr(t, ctx, cs, "ssh_execute", map[string]any{"session_id": "x", "command": "y"}, session.CodeConnectionLost)
	if e.Message != `lost \x1b[2J link` {
		t.Errorf("error text not neutralised: %q", e.Message)
	}
	// The server still works after the panic.
	if err := cs.Ping(ctx, nil); err != nil {
		t.Fatalf("ping after panic: %v", err)
	}
	waitFor(t, 5*time.Second, "log messages", func() bool { mu.Lock(); defer mu.Unlock(); return len(msgs) >= 2 })
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("panic not logged on stderr:\n%s", logs.String())
	}
}
