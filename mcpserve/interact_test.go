package mcpserve

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestProgressAndCancel(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	var mu sync.Mutex
	var got []*mcp.ProgressNotificationParams
	cs := client(t, f.s, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		mu.Lock()
		got = append(got, r.Params)
		mu.Unlock()
	}})
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())

	t.Run("progress", func(t *testing.T) {
		p := &mcp.CallToolParams{Name: "ssh_execute", Arguments: map[string]any{"session_id": conn.SessionID, "command": "echo hi; sleep 3"}}
		p.SetProgressToken("tok-1")
		res, err := cs.CallTool(ctx, p)
		if err != nil || res.IsError {
			t.Fatalf("exec: %v %v", err, res)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) < 2 {
			t.Fatalf("%d progress notifications for a 3 s command, want >= 2", len(got))
		}
		last := 0.0
		for _, n := range got {
			if n.ProgressToken != "tok-1" || n.Progress <= last || !strings.Contains(n.Message, "bytes") {
				t.Errorf("bad progress %+v (after %v)", n, last)
			}
			last = n.Progress
		}
		got = nil
	})

	t.Run("no token no progress", func(t *testing.T) {
		call[session.ExecResult](t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": "sleep 1.5"})
		if n := count(); n != 0 {
			t.Errorf("%d progress notifications without a token", n)
		}
	})

	t.Run("cancel kills the remote command", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		p := &mcp.CallToolParams{Name: "ssh_execute", Arguments: map[string]any{"session_id": conn.SessionID, "command": "sleep 3127; echo survived"}}
		p.SetProgressToken("tok-2")
		done := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(cctx, p)
			done <- err
		}()
		// Running: the marker process exists and progress arrives.
		waitFor(t, 20*time.Second, "the command to start", func() bool { return count() > 0 })
		pgrep := map[string]any{"session_id": conn.SessionID, "command": "pgrep -f '[s]leep 3127'"}
		if r, _ := call[session.ExecResult](t, ctx, cs, "ssh_execute", pgrep); r.ExitCode == nil || *r.ExitCode != 0 {
			t.Fatalf("marker process not found while running: %+v", r)
		}
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Error("canceled call returned no error")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("canceled call did not return")
		}
		waitFor(t, 10*time.Second, "the remote command to be killed", func() bool {
			r, _ := call[session.ExecResult](t, ctx, cs, "ssh_execute", pgrep)
			return r.ExitCode != nil && *r.ExitCode == 1
		})
	})
}

func TestElicitation(t *testing.T) {
	f := newFixture(t, fixtureOpt{sudo: sshdtest.SudoPassword})
	ctx := ctxT(t, 60*time.Second)
	var asked atomic.Int32
	var kinds sync.Map
	cs := client(t, f.s, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked.Add(1)
			schema, _ := r.Params.RequestedSchema.(map[string]any)
			props, _ := schema["properties"].(map[string]any)
			for k := range props {
				kinds.Store(k, true)
				switch k {
				case "passphrase":
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{k: f.user.Passphrase}}, nil
				case "sudo_password":
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{k: f.user.Password}}, nil
				}
			}
			return &mcp.ElicitResult{Action: "decline"}, nil
		},
	})

	conn, res := call[session.ConnectResult](t, ctx, cs, "ssh_connect", map[string]any{"host": f.target(), "key_path": f.user.EncKeyPath})
	if _, ok := kinds.Load("passphrase"); !ok || conn.AuthMethod != "publickey" {
		t.Fatalf("passphrase not elicited: %+v", conn)
	}
	r, res2 := call[session.ExecResult](t, ctx, cs, "ssh_sudo_execute", map[string]any{"session_id": conn.SessionID, "command": "id -u"})
	if _, ok := kinds.Load("sudo_password"); !ok || r.Stdout != "0\n" {
		t.Fatalf("sudo password not elicited: %+v", r)
	}
	for _, secret := range []string{f.user.Passphrase, f.user.Password} {
		for _, s := range []string{resultText(res), resultText(res2), f.audit.String(), f.logs.String()} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q leaked into %q", secret, s)
			}
		}
	}

	t.Run("declined", func(t *testing.T) {
		// A password prompt is declined: input_required, nothing hangs.
		no := false
		callErr(t, ctx, cs, "ssh_connect", map[string]any{"host": f.target(), "use_agent": no}, session.CodeInputRequired)
	})

	t.Run("without elicitation", func(t *testing.T) {
		plain := client(t, f.s, nil)
		e := callErr(t, ctx, plain, "ssh_connect", map[string]any{"host": f.target(), "key_path": f.user.EncKeyPath}, session.CodeInputRequired)
		if !strings.Contains(e.Hint, "passphrase") {
			t.Errorf("input_required should name the passphrase argument: %v", e)
		}
		c2, _ := call[session.ConnectResult](t, ctx, plain, "ssh_connect", f.connectArgs())
		e = callErr(t, ctx, plain, "ssh_sudo_execute", map[string]any{"session_id": c2.SessionID, "command": "true"}, session.CodeInputRequired)
		if !strings.Contains(e.Hint, "sudo_password") {
			t.Errorf("input_required should name the sudo_password argument: %v", e)
		}
	})
}

func TestHostKeyAsk(t *testing.T) {
	f := newFixture(t, fixtureOpt{opts: Options{HostKeyPolicy: session.HostKeyAsk}})
	ctx := ctxT(t, 30*time.Second)
	var approve atomic.Bool
	var sawFingerprint atomic.Bool
	cs := client(t, f.s, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, r *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			if strings.Contains(r.Params.Message, f.srv.HostKeyFingerprint("ssh-ed25519")) {
				sawFingerprint.Store(true)
			}
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"approve": approve.Load()}}, nil
		},
	})
	callErr(t, ctx, cs, "ssh_connect", f.connectArgs(), session.CodeHostKeyUnknown)
	if !sawFingerprint.Load() {
		t.Error("the question did not show the fingerprint")
	}
	approve.Store(true)
	conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
	if !conn.HostKeyRecorded {
		t.Errorf("approved key not recorded: %+v", conn)
	}
}
