package mcpserve

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The shell tools through the go-sdk client against the real sshd.
func TestShellTools(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 120*time.Second)
	var mu sync.Mutex
	var progress []*mcp.ProgressNotificationParams
	cs := client(t, f.s, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		mu.Lock()
		progress = append(progress, r.Params)
		mu.Unlock()
	}})
	conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
	sid := conn.SessionID
	open, _ := call[session.ShellOpenResult](t, ctx, cs, "ssh_shell_open", map[string]any{"session_id": sid})
	if open.ShellID == "" || open.SessionID != sid {
		t.Fatalf("shell_open %+v", open)
	}
	// The first prompt: text typed before it is echoed ahead of the login
	// banner, where the echo skipping of wait does not find it.
	call[session.ShellWaitResult](t, ctx, cs, "ssh_shell_wait", map[string]any{"session_id": sid, "pattern": "$ ", "timeout": 10})
	args := func(kv ...any) map[string]any {
		m := map[string]any{"session_id": sid}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	send := func(data string) session.ShellSendResult {
		t.Helper()
		r, _ := call[session.ShellSendResult](t, ctx, cs, "ssh_shell_send", args("data", data))
		return r
	}
	wait := func(kv ...any) (session.ShellWaitResult, *mcp.CallToolResult) {
		t.Helper()
		return call[session.ShellWaitResult](t, ctx, cs, "ssh_shell_wait", args(kv...))
	}

	t.Run("send and wait", func(t *testing.T) {
		s := send("echo hi")
		if s.ShellID != open.ShellID || s.BytesSent != len("echo hi")+1 {
			t.Errorf("send %+v", s)
		}
		w, res := wait("pattern", "hi", "timeout", 10)
		// The echo of "echo hi" is skipped: the match is the command's output line.
		if !w.Matched || w.TimedOut || !strings.Contains("\n"+w.Output, "\nhi") {
			t.Errorf("wait %+v", w)
		}
		if txt := resultText(res); !strings.HasPrefix(txt, "matched") {
			t.Errorf("text rendering %q", txt)
		}
		send("echo num=$((6*7))")
		w, _ = wait("pattern", `num=\d+`, "regex", true, "timeout", 10)
		if !w.Matched || !strings.Contains(w.Output, "num=42") {
			t.Errorf("regex wait %+v", w)
		}
	})

	t.Run("state persists", func(t *testing.T) {
		send("cd /tmp && export MCPVAR=bar42")
		send("echo \"[$PWD:$MCPVAR]\"")
		if w, _ := wait("pattern", "[/tmp:bar42]", "timeout", 10); !w.Matched {
			t.Errorf("cd/export did not persist: %+v", w)
		}
	})

	t.Run("read by offsets", func(t *testing.T) {
		r, _ := call[session.ShellReadResult](t, ctx, cs, "ssh_shell_read", args())
		r2, _ := call[session.ShellReadResult](t, ctx, cs, "ssh_shell_read", args())
		if r2.Offset != r.NextOffset || r2.Output != "" {
			t.Errorf("second read %+v after %+v: want nothing new", r2, r)
		}
		all, _ := call[session.ShellReadResult](t, ctx, cs, "ssh_shell_read", args("since", 0, "shell_id", open.ShellID))
		if all.Offset != 0 || !strings.Contains(all.Output, "num=42") || all.NextOffset != r.NextOffset {
			t.Errorf("read since 0: %+v", all)
		}
		part, _ := call[session.ShellReadResult](t, ctx, cs, "ssh_shell_read", args("since", 0, "max_bytes", 5))
		if part.NextOffset != 5 {
			t.Errorf("max_bytes 5: %+v", part)
		}

		// Another client of a --shared server has its own cursor.
		other := client(t, f.newServer(Options{Shared: true}), nil)
		o, _ := call[session.ShellReadResult](t, ctx, other, "ssh_shell_read", args("shell_id", open.ShellID))
		if o.Offset != 0 || !strings.Contains(o.Output, "num=42") {
			t.Errorf("shared client read %+v: want everything from 0", o)
		}
		// A client that does not own the shell cannot use it.
		stranger := client(t, f.newServer(Options{}), nil)
		callErr(t, ctx, stranger, "ssh_shell_read", args("shell_id", open.ShellID), session.CodeNotFound)
		callErr(t, ctx, stranger, "ssh_shell_send", args("shell_id", open.ShellID, "data", "id"), session.CodeNotFound)
		callErr(t, ctx, stranger, "ssh_shell_send_control", args("shell_id", open.ShellID, "key", "c"), session.CodeNotFound)
		callErr(t, ctx, cs, "ssh_shell_read", args("shell_id", "99"), session.CodeNotFound)
	})

	t.Run("neutralised", func(t *testing.T) {
		s := send(`printf '\033]0;evil\007[\342\200\256x]\n'`)
		w, _ := wait("pattern", "x]", "timeout", 10)
		r, res := call[session.ShellReadResult](t, ctx, cs, "ssh_shell_read", args("since", s.OffsetBefore, "raw", true))
		for _, out := range []string{w.Output, r.Output, resultText(res)} {
			if strings.ContainsAny(out, "\x1b\a\u202e") {
				t.Errorf("raw control characters in %q", out)
			}
		}
		if !strings.Contains(r.Output, `\x1b]0;evil\x07`) || !strings.Contains(r.Output, `[\u202ex]`) {
			t.Errorf("raw read not shown escaped: %q", r.Output)
		}
	})

	t.Run("control c interrupts", func(t *testing.T) {
		send("sleep 1007")
		pgrep := map[string]any{"session_id": sid, "command": "pgrep -f '[s]leep 1007'"}
		waitFor(t, 10*time.Second, "sleep to start", func() bool {
			r, _ := call[session.ExecResult](t, ctx, cs, "ssh_execute", pgrep)
			return r.ExitCode != nil && *r.ExitCode == 0
		})
		c, _ := call[session.ShellControlResult](t, ctx, cs, "ssh_shell_send_control", args("key", "c"))
		if c.Sent != "c" || c.ShellID != open.ShellID {
			t.Errorf("send_control %+v", c)
		}
		waitFor(t, 10*time.Second, "sleep to be interrupted", func() bool {
			r, _ := call[session.ExecResult](t, ctx, cs, "ssh_execute", pgrep)
			return r.ExitCode != nil && *r.ExitCode == 1
		})
		send("echo alive")
		if w, _ := wait("pattern", "alive", "timeout", 10); !w.Matched {
			t.Errorf("shell not usable after ^C: %+v", w)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		e := callErr(t, ctx, cs, "ssh_shell_send_control", args("key", "hyper"), session.CodeInvalidArgument)
		if !strings.Contains(e.Message+e.Hint, "esc") || !strings.Contains(e.Message+e.Hint, "f12") {
			t.Errorf("unknown key error should list the valid keys: %v", e)
		}
		e = callErr(t, ctx, cs, "ssh_shell_wait", args("pattern", "(unclosed", "regex", true), session.CodeInvalidArgument)
		if !strings.Contains(e.Message, "(unclosed") || !strings.Contains(e.Message, "missing closing )") {
			t.Errorf("bad regex error should show the pattern and the compile error: %v", e)
		}
		callErr(t, ctx, cs, "ssh_shell_wait", args("pattern", "x", "timeout", 1e9), session.CodeInvalidArgument)
		callErr(t, ctx, cs, "ssh_shell_send", map[string]any{"session_id": "deadbeef", "data": "x"}, session.CodeNotFound)
	})

	t.Run("wait times out with output and progress", func(t *testing.T) {
		mu.Lock()
		progress = nil
		mu.Unlock()
		send("echo started-$((1+1))")
		p := &mcp.CallToolParams{Name: "ssh_shell_wait", Arguments: args("pattern", "never-printed", "timeout", 2.5)}
		p.SetProgressToken("wait-1")
		res, err := cs.CallTool(ctx, p)
		if err != nil || res.IsError {
			t.Fatalf("wait: %v %s", err, resultText(res))
		}
		var w session.ShellWaitResult
		decode(t, res.StructuredContent, &w)
		if !w.TimedOut || w.Matched || !strings.Contains(w.Output, "started-2") || w.WaitedMS < 2400 {
			t.Errorf("timed-out wait %+v", w)
		}
		waitFor(t, 5*time.Second, "progress notifications", func() bool { mu.Lock(); defer mu.Unlock(); return len(progress) >= 2 })
		mu.Lock()
		for _, n := range progress {
			if n.ProgressToken != "wait-1" || n.Total != 2500 {
				t.Errorf("progress %+v", n)
			}
		}
		mu.Unlock()
	})

	t.Run("wait is canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "ssh_shell_wait", Arguments: args("pattern", "never-printed", "timeout", 600)})
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Error("canceled wait returned no error")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("canceled wait did not return")
		}
		// The shell still works.
		send("echo again")
		if w, _ := wait("pattern", "again", "timeout", 10); !w.Matched {
			t.Errorf("wait after cancel %+v", w)
		}
	})

	t.Run("exited shell", func(t *testing.T) {
		send("exit 3")
		waitFor(t, 10*time.Second, "the shell to exit", func() bool {
			r, _ := call[session.ShellReadResult](t, ctx, cs, "ssh_shell_read", args())
			return r.Exited
		})
		e := callErr(t, ctx, cs, "ssh_shell_send", args("data", "echo x"), session.CodeShellExited)
		if !strings.Contains(e.Message, "3") {
			t.Errorf("shell_exited should give the status: %v", e)
		}
	})
}
