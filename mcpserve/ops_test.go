package mcpserve

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

func TestConnectExecuteClose(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 90*time.Second)
	cs := client(t, f.s, nil)

	conn, res := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
	if conn.AuthMethod != "publickey" || conn.User != f.user.Name || conn.Port != f.srv.Port || !conn.HostKeyRecorded {
		t.Errorf("connect result %+v", conn)
	}
	if want := f.srv.HostKeyFingerprint("ssh-ed25519"); conn.HostKeyFingerprint != want {
		t.Errorf("fingerprint %q, want %q", conn.HostKeyFingerprint, want)
	}
	if txt := resultText(res); !strings.Contains(txt, conn.SessionID) || !strings.Contains(txt, f.user.Name+"@") {
		t.Errorf("text rendering %q", txt)
	}

	t.Run("password", func(t *testing.T) {
		r, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", map[string]any{"host": f.target(), "password": f.user.Password, "use_agent": false})
		if r.AuthMethod != "password" {
			t.Errorf("auth method %q", r.AuthMethod)
		}
		call[session.CloseSessionResult](t, ctx, cs, "ssh_close_session", map[string]any{"session_id": r.SessionID})
	})
	t.Run("agent", func(t *testing.T) {
		sock := sshdtest.StartAgent(t, f.user.KeyPath)
		acs := client(t, f.newServer(Options{AgentSocket: sock}), nil)
		r, _ := call[session.ConnectResult](t, ctx, acs, "ssh_connect", map[string]any{"host": f.target()})
		if r.AuthMethod != "agent" {
			t.Errorf("auth method %q", r.AuthMethod)
		}
	})
	t.Run("list", func(t *testing.T) {
		l, _ := call[session.ListSessionsResult](t, ctx, cs, "ssh_list_sessions", nil)
		if len(l.Sessions) != 1 || l.Sessions[0].SessionID != conn.SessionID || l.Sessions[0].State != "connected" {
			t.Errorf("list %+v", l)
		}
	})
	t.Run("execute", func(t *testing.T) {
		r, res := call[session.ExecResult](t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": "echo out; echo err >&2; exit 3"})
		if r.Stdout != "out\n" || r.Stderr != "err\n" || r.ExitCode == nil || *r.ExitCode != 3 || r.Outcome != "exited" {
			t.Errorf("exec result %+v", r)
		}
		if txt := resultText(res); !strings.Contains(txt, "exit_code 3") || !strings.Contains(txt, "out\n") {
			t.Errorf("text rendering %q", txt)
		}
	})
	t.Run("neutralised", func(t *testing.T) {
		r, res := call[session.ExecResult](t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID,
			"command": `printf '\033[31mred\033[0m \342\200\256x\r\n'; printf '\033]0;title\007' >&2`})
		if want := `\x1b[31mred\x1b[0m \u202ex\x0d` + "\n"; r.Stdout != want {
			t.Errorf("stdout %q, want %q", r.Stdout, want)
		}
		if want := `\x1b]0;title\x07`; r.Stderr != want {
			t.Errorf("stderr %q, want %q", r.Stderr, want)
		}
		if txt := resultText(res); strings.ContainsAny(txt, "\x1b\u202e\r\a") {
			t.Errorf("raw control characters in text %q", txt)
		}
	})
	t.Run("invalid utf-8", func(t *testing.T) {
		r, _ := call[session.ExecResult](t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": `printf 'a\377\376b'`})
		if r.Encoding != "utf-8-lossy" || !strings.HasPrefix(r.Stdout, "a") || !strings.HasSuffix(r.Stdout, "b") {
			t.Errorf("exec result %+v", r)
		}
	})
	t.Run("errors", func(t *testing.T) {
		closed, _ := net.Listen("tcp", "127.0.0.1:0")
		closedAddr := closed.Addr().String()
		closed.Close()
		e := callErr(t, ctx, cs, "ssh_execute", map[string]any{"session_id": "deadbeef", "command": "true"}, session.CodeNotFound)
		if !strings.Contains(e.Message, "deadbeef") {
			t.Errorf("message should name the session: %v", e)
		}
		callErr(t, ctx, cs, "ssh_close_session", map[string]any{"session_id": "deadbeef"}, session.CodeNotFound)
		callErr(t, ctx, cs, "ssh_connect", map[string]any{"host": f.target(), "password": "wrong", "use_agent": false}, session.CodeAuthFailed)
		e = callErr(t, ctx, cs, "ssh_connect", map[string]any{"host": "u@" + closedAddr, "use_agent": false}, session.CodeConnectionFailed)
		if !strings.Contains(e.Message, closedAddr) {
			t.Errorf("message should name the address: %v", e)
		}
		callErr(t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": " "}, session.CodeInvalidArgument)
		// A malformed request (missing required argument) is an error result too, not a crash.
		res := callRaw(t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID})
		if !res.IsError {
			t.Errorf("missing command accepted: %s", resultText(res))
		}
	})
	t.Run("close", func(t *testing.T) {
		r, _ := call[session.CloseSessionResult](t, ctx, cs, "ssh_close_session", map[string]any{"session_id": conn.SessionID})
		if !r.Closed || r.SessionID != conn.SessionID {
			t.Errorf("close %+v", r)
		}
		callErr(t, ctx, cs, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": "true"}, session.CodeNotFound)
	})
	if a := f.audit.String(); strings.Contains(a, f.user.Password) || !strings.Contains(a, `"password":{"given":true}`) {
		t.Errorf("audit log leaks or misses the password:\n%s", a)
	}
}

func TestHostKeyMismatch(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 30*time.Second)
	// Another server's key recorded for this address.
	other := sshdtest.Start(t, sshdtest.WithUsers(f.user))
	line := strings.ReplaceAll(other.KnownHostsLine(), fmt.Sprintf("]:%d ", other.Port), fmt.Sprintf("]:%d ", f.srv.Port))
	kh := filepath.Join(f.env.Home, ".ssh", "known_hosts")
	if err := os.WriteFile(kh, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cs := client(t, f.s, nil)
	e := callErr(t, ctx, cs, "ssh_connect", f.connectArgs(), session.CodeHostKeyMismatch)
	if !strings.Contains(e.Message, "127.0.0.1") || !strings.Contains(e.Message, "SHA256:") {
		t.Errorf("mismatch should name host and fingerprint: %v", e)
	}
}

func TestAllowHosts(t *testing.T) {
	f := newFixture(t, fixtureOpt{opts: Options{AllowHosts: []string{"*.example.com"}}})
	ctx := ctxT(t, 30*time.Second)
	cs := client(t, f.s, nil)
	callErr(t, ctx, cs, "ssh_connect", f.connectArgs(), session.CodePolicyDenied)
	// --shared: the check happens here, before the (background) holder.
	scs := client(t, f.newServer(Options{Shared: true, AllowHosts: []string{"*.example.com"}}), nil)
	callErr(t, ctx, scs, "ssh_connect", f.connectArgs(), session.CodePolicyDenied)
}

func TestSudo(t *testing.T) {
	for _, mode := range []sshdtest.SudoMode{sshdtest.SudoPassword, sshdtest.SudoNoPassword} {
		t.Run(mode.String(), func(t *testing.T) {
			f := newFixture(t, fixtureOpt{sudo: mode})
			ctx := ctxT(t, 60*time.Second)
			cs := client(t, f.s, nil)
			conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
			r, _ := call[session.ExecResult](t, ctx, cs, "ssh_sudo_execute", map[string]any{"session_id": conn.SessionID, "command": "id -u; exit 4", "sudo_password": f.user.Password})
			if r.Stdout != "0\n" || r.ExitCode == nil || *r.ExitCode != 4 {
				t.Errorf("sudo result %+v", r)
			}
			if mode == sshdtest.SudoPassword {
				start := time.Now()
				callErr(t, ctx, cs, "ssh_sudo_execute", map[string]any{"session_id": conn.SessionID, "command": "true", "sudo_password": "wrong"}, session.CodeAuthFailed)
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("wrong sudo password took %v", d)
				}
				e := callErr(t, ctx, cs, "ssh_sudo_execute", map[string]any{"session_id": conn.SessionID, "command": "true"}, session.CodeInputRequired)
				if !strings.Contains(e.Hint, "sudo_password") {
					t.Errorf("input_required should name the argument: %v", e)
				}
			}
			if a := f.audit.String(); strings.Contains(a, f.user.Password) || !strings.Contains(a, `"sudo_password":{"given":true}`) {
				t.Errorf("audit log leaks or misses the sudo password:\n%s", a)
			}
		})
	}
}

// Two MCP client sessions do not see each other's SSH sessions, unless shared.
func TestIsolation(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	a := client(t, f.s, nil)
	b := client(t, f.s, nil)
	conn, _ := call[session.ConnectResult](t, ctx, a, "ssh_connect", f.connectArgs())
	l, _ := call[session.ListSessionsResult](t, ctx, b, "ssh_list_sessions", nil)
	if len(l.Sessions) != 0 {
		t.Errorf("b sees %+v", l.Sessions)
	}
	callErr(t, ctx, b, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": "true"}, session.CodeNotFound)
	callErr(t, ctx, b, "ssh_close_session", map[string]any{"session_id": conn.SessionID}, session.CodeNotFound)

	shared := client(t, f.newServer(Options{Shared: true}), nil)
	l, _ = call[session.ListSessionsResult](t, ctx, shared, "ssh_list_sessions", nil)
	if len(l.Sessions) != 1 {
		t.Errorf("shared client sees %d sessions", len(l.Sessions))
	}

	// When a's client session ends, its SSH sessions close.
	a.Close()
	waitFor(t, 10*time.Second, "a's sessions to close", func() bool {
		l, _ := f.h.ListSessions(session.WithCaller(ctx, session.Caller{All: true}), session.ListSessionsRequest{})
		return len(l.Sessions) == 0
	})
}
