package cmd_test

import (
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serve mcp --shared: a person sees the agent's session with `sessions`, reads
// and types into the agent's shell from the CLI, and the session ends with the
// agent's MCP client session.
func TestServeSharedWithCLI(t *testing.T) {
	h := newHarness(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, "serve", "mcp", "--shared")
	cmd.Env = h.env.Environ()
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil).Connect(ctx, &mcp.IOTransport{Reader: io.NopCloser(stdout), Writer: stdin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	callTool := func(name string, args map[string]any, out any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v", name, err, res)
		}
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
	var conn session.ConnectResult
	callTool("ssh_connect", map[string]any{"host": h.target(), "key_path": h.user.KeyPath, "name": "agent"}, &conn)
	var sh session.ShellOpenResult
	callTool("ssh_shell_open", map[string]any{"session_id": conn.SessionID}, &sh)
	var sent session.ShellSendResult
	callTool("ssh_shell_send", map[string]any{"session_id": conn.SessionID, "data": "echo agent-$((20+1))"}, &sent)
	var waited session.ShellWaitResult
	callTool("ssh_shell_wait", map[string]any{"session_id": conn.SessionID, "pattern": "agent-21"}, &waited)

	// The person sees the agent's session and shell, and drives the same shell.
	r := h.run("sessions", "--json")
	want(t, r, 0, `out:"session_id":"`+conn.SessionID+`"`, `out:"shells":1`)
	want(t, h.run("shell", "read", "agent", "--all"), 0, "out:agent-21")
	want(t, h.run("shell", "send", "agent", "echo person-$((30+3))"), 0)
	callTool("ssh_shell_wait", map[string]any{"session_id": conn.SessionID, "pattern": "person-33", "timeout": 20}, &waited)
	if !waited.Matched {
		t.Errorf("the agent did not see the person's command: %+v", waited)
	}

	// The agent's client goes away: its session ends in the shared holder.
	cs.Close()
	stdin.Close()
	cmd.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r = h.run("sessions", "--json")
		if !strings.Contains(r.stdout, conn.SessionID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's session outlived its MCP client: %s", r.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
