package session_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

func TestConnectAuthMethods(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	agentSock := sshdtest.StartAgent(t, f.user.KeyPath)
	no := false
	cases := []struct {
		name   string
		ctx    context.Context
		req    session.ConnectRequest
		method string
	}{
		{"key file", ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath}, "publickey"},
		{"rsa key file", ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.RSAKeyPath}, "publickey"},
		{"encrypted key with passphrase", ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.EncKeyPath, Passphrase: session.Secret(f.user.Passphrase)}, "publickey"},
		{"password", ctx, session.ConnectRequest{Host: f.target(), Password: session.Secret(f.user.Password), UseAgent: &no}, "password"},
		{"agent", session.WithCaller(ctx, session.Caller{AgentSocket: agentSock}), session.ConnectRequest{Host: f.target()}, "agent"},
		{"host and port fields", ctx, session.ConnectRequest{Host: f.srv.Host, Port: f.srv.Port, Username: f.user.Name, KeyPath: f.user.KeyPath}, "publickey"},
		{"ssh url", ctx, session.ConnectRequest{Host: fmt.Sprintf("ssh://%s@%s", f.user.Name, f.srv.Addr), KeyPath: f.user.KeyPath}, "publickey"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := f.h.Connect(c.ctx, c.req)
			if err != nil {
				t.Fatalf("connect: %v\n%s", err, f.srv.Log())
			}
			if res.AuthMethod != c.method {
				t.Errorf("auth method = %q, want %q", res.AuthMethod, c.method)
			}
			if res.User != f.user.Name || res.Port != f.srv.Port || len(res.SessionID) != 8 {
				t.Errorf("bad result %+v", res)
			}
			if !strings.HasPrefix(res.ServerVersion, "SSH-2.0-OpenSSH") {
				t.Errorf("server version %q", res.ServerVersion)
			}
			if want := f.srv.HostKeyFingerprint("ssh-ed25519"); res.HostKeyFingerprint != want {
				t.Errorf("fingerprint %q, want %q", res.HostKeyFingerprint, want)
			}
		})
	}
	list, _ := f.h.ListSessions(ctx, session.ListSessionsRequest{})
	if len(list.Sessions) != len(cases) {
		t.Errorf("%d sessions listed, want %d (connect always creates)", len(list.Sessions), len(cases))
	}
}

func TestEncryptedKeyPrompts(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 30*time.Second)
	// No prompter: a clear input_required, no hang.
	_, err := f.h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.EncKeyPath})
	e := wantCode(t, err, session.CodeInputRequired)
	if !strings.Contains(e.Message, f.user.EncKeyPath) || !strings.Contains(e.Hint, "passphrase") {
		t.Errorf("message should name the key and the flag: %v", e)
	}
	// A prompter answers: the key is decrypted only when the server accepts it.
	asked := 0
	pctx := session.WithCaller(ctx, session.Caller{Prompter: session.PrompterFunc(func(ctx context.Context, p session.Prompt) (string, error) {
		asked++
		if p.Kind != session.PromptPassphrase {
			t.Errorf("prompt kind %q", p.Kind)
		}
		return f.user.Passphrase, nil
	})})
	if _, err := f.h.Connect(pctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.EncKeyPath}); err != nil {
		t.Fatal(err)
	}
	if asked != 1 {
		t.Errorf("asked %d times", asked)
	}
	// Wrong passphrase: auth_failed naming the key.
	_, err = f.h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.EncKeyPath, Passphrase: "wrong"})
	wantCode(t, err, session.CodeAuthFailed)
}

func TestConnectErrors(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	no := false

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	loose := filepath.Join(t.TempDir(), "loose")
	data, _ := os.ReadFile(f.user.KeyPath)
	os.WriteFile(loose, data, 0o644)

	cases := []struct {
		name string
		req  session.ConnectRequest
		code session.Code
		want []string
	}{
		{"wrong password", session.ConnectRequest{Host: f.target(), Password: "nope", UseAgent: &no}, session.CodeAuthFailed, []string{f.user.Name, f.srv.Addr}},
		{"missing key file", session.ConnectRequest{Host: f.target(), KeyPath: "/nonexistent/key"}, session.CodeInvalidArgument, []string{"/nonexistent/key"}},
		{"key readable by others", session.ConnectRequest{Host: f.target(), KeyPath: loose}, session.CodePermissionDenied, []string{loose, "0644"}},
		{"closed port", session.ConnectRequest{Host: "u@" + closedAddr, UseAgent: &no}, session.CodeConnectionFailed, []string{closedAddr, "refused"}},
		{"unresolvable host", session.ConnectRequest{Host: "u@nohost.invalid", UseAgent: &no}, session.CodeConnectionFailed, []string{"nohost.invalid"}},
		{"malformed target", session.ConnectRequest{Host: "u@[::1:22"}, session.CodeInvalidArgument, []string{"accepted forms"}},
		{"bad port", session.ConnectRequest{Host: "u@host:99999"}, session.CodeInvalidArgument, []string{"99999"}},
		{"bad name", session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath, Name: "Bad Name"}, session.CodeInvalidArgument, []string{"Bad Name"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := f.h.Connect(ctx, c.req)
			e := wantCode(t, err, c.code)
			for _, w := range c.want {
				if !strings.Contains(e.Message+e.Hint, w) {
					t.Errorf("error %q should mention %q", e.Message, w)
				}
			}
			if e.Hint == "" {
				t.Errorf("error without a hint: %v", e)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("duplicate name", func(t *testing.T) {
		if _, err := f.h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath, Name: "dup"}); err != nil {
			t.Fatal(err)
		}
		_, err := f.h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath, Name: "dup"})
		wantCode(t, err, session.CodeExists)
	})
	t.Run("unknown session", func(t *testing.T) {
		_, err := f.h.CloseSession(ctx, session.CloseSessionRequest{SessionID: "deadbeef"})
		wantCode(t, err, session.CodeNotFound)
		_, err = f.h.Exec(ctx, session.ExecRequest{SessionID: "nosuch", Command: "true"})
		wantCode(t, err, session.CodeNotFound)
	})
}

// A server that sends its banner and then stalls must not hang connect.
func TestConnectStallAfterBanner(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 stall\r\n"))
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	env := sshdtest.NewEnv(t)
	h := session.NewHolder(session.HolderConfig{Home: env.Home})
	defer h.Close()
	start := time.Now()
	_, err = h.Connect(ctxT(t, 30*time.Second), session.ConnectRequest{Host: "u@" + ln.Addr().String(), Timeout: 1, Password: "x"})
	wantCode(t, err, session.CodeTimeout)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stalled connect took %v, want <= timeout+1s", d)
	}
}

func TestHostKeyPolicies(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	kh := f.knownHosts()
	req := session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath}

	t.Run("strict refuses unknown before auth and leaves known_hosts alone", func(t *testing.T) {
		_, err := f.h.Connect(session.WithCaller(ctx, session.Caller{HostKeyPolicy: session.HostKeyStrict}), req)
		e := wantCode(t, err, session.CodeHostKeyUnknown)
		if !strings.Contains(e.Message, "SHA256:") {
			t.Errorf("message lacks fingerprint: %v", e)
		}
		if readFile(t, kh) != "" {
			t.Error("known_hosts was written under strict")
		}
		if strings.Contains(f.srv.Log(), "Accepted publickey for "+f.user.Name) {
			t.Error("authenticated although the host key was refused")
		}
	})
	t.Run("ask approves and declines", func(t *testing.T) {
		decline := session.PrompterFunc(func(ctx context.Context, p session.Prompt) (string, error) {
			if p.Kind != session.PromptHostKey || !strings.HasPrefix(p.Fingerprint, "SHA256:") {
				t.Errorf("prompt %+v", p)
			}
			return "no", nil
		})
		_, err := f.h.Connect(session.WithCaller(ctx, session.Caller{HostKeyPolicy: session.HostKeyAsk, Prompter: decline}), req)
		wantCode(t, err, session.CodeHostKeyUnknown)
		_, err = f.h.Connect(session.WithCaller(ctx, session.Caller{HostKeyPolicy: session.HostKeyAsk}), req)
		wantCode(t, err, session.CodeInputRequired)
	})
	t.Run("accept-new records exactly one line under 20 racing connects", func(t *testing.T) {
		// A file without a final newline and with one unparseable line.
		os.WriteFile(kh, []byte("garbage line that is not a key\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"), 0o600)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		recorded := make(chan bool, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := f.h.Connect(ctx, req)
				errs <- err
				recorded <- res.HostKeyRecorded
			}()
		}
		wg.Wait()
		close(errs)
		close(recorded)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		lines := strings.Split(strings.TrimSpace(readFile(t, kh)), "\n")
		ours := 0
		for _, l := range lines {
			if strings.HasPrefix(l, fmt.Sprintf("[127.0.0.1]:%d ", f.srv.Port)) {
				ours++
				if !strings.HasPrefix(l, fmt.Sprintf("[127.0.0.1]:%d ssh-", f.srv.Port)) || len(strings.Fields(l)) != 3 {
					t.Errorf("torn line %q", l)
				}
			}
		}
		if ours != 1 || len(lines) != 3 {
			t.Errorf("known_hosts has %d lines for us (want 1), %d in all (want 3):\n%s", ours, len(lines), readFile(t, kh))
		}
		st, _ := os.Stat(kh)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("known_hosts mode %v", st.Mode())
		}
		if !strings.Contains(f.logs.String(), "skipping unparseable known_hosts line") {
			t.Error("no warning for the bad line")
		}
	})
	t.Run("strict accepts a known host", func(t *testing.T) {
		res, err := f.h.Connect(session.WithCaller(ctx, session.Caller{HostKeyPolicy: session.HostKeyStrict}), req)
		if err != nil || res.HostKeyRecorded {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
	t.Run("changed key refused in every policy", func(t *testing.T) {
		wrong := fmt.Sprintf("[127.0.0.1]:%d ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n", f.srv.Port)
		os.WriteFile(kh, []byte("# comment\n"+wrong), 0o600)
		for _, pol := range []string{session.HostKeyStrict, session.HostKeyAcceptNew, session.HostKeyAsk} {
			_, err := f.h.Connect(session.WithCaller(ctx, session.Caller{HostKeyPolicy: pol}), req)
			e := wantCode(t, err, session.CodeHostKeyMismatch)
			if !strings.Contains(e.Message, kh+":2") || !strings.Contains(e.Message, f.srv.HostKeyFingerprint("ssh-ed25519")) {
				t.Errorf("%s: message should name file:line and fingerprint: %v", pol, e)
			}
		}
		if readFile(t, kh) != "# comment\n"+wrong {
			t.Error("known_hosts changed")
		}
	})
	t.Run("revoked key refused", func(t *testing.T) {
		var revoked strings.Builder
		for _, line := range strings.Split(strings.TrimSpace(f.srv.KnownHostsLine()), "\n") {
			revoked.WriteString("@revoked * " + strings.SplitN(line, " ", 2)[1] + "\n")
		}
		os.WriteFile(kh, []byte(revoked.String()), 0o600)
		_, err := f.h.Connect(ctx, req)
		wantCode(t, err, session.CodeHostKeyRevoked)
	})
	t.Run("off accepts with a warning", func(t *testing.T) {
		os.WriteFile(kh, nil, 0o600)
		if _, err := f.h.Connect(session.WithCaller(ctx, session.Caller{HostKeyPolicy: session.HostKeyOff}), req); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.logs.String(), "HOST KEY CHECKING IS OFF") {
			t.Error("no loud warning")
		}
	})
}

func TestSSHConfigAliasAndProxyJump(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	jump := sshdtest.Start(t, sshdtest.WithUsers(f.user))
	ctx := ctxT(t, 60*time.Second)
	cfg := fmt.Sprintf(`Host web
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes

Host viajump
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  ProxyJump jumphost

Host jumphost
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
`, f.srv.Port, f.user.Name, f.user.KeyPath, f.srv.Port, f.user.Name, f.user.KeyPath, jump.Port, f.user.Name, f.user.KeyPath)
	p := filepath.Join(f.env.Home, ".ssh", "config")
	os.WriteFile(p, []byte(cfg), 0o600)

	res, err := f.h.Connect(ctx, session.ConnectRequest{Host: "web"})
	if err != nil || res.User != f.user.Name || res.Port != f.srv.Port {
		t.Fatalf("alias: %+v %v", res, err)
	}
	res, err = f.h.Connect(ctx, session.ConnectRequest{Host: "viajump"})
	if err != nil {
		t.Fatalf("proxyjump: %v", err)
	}
	out, err := f.h.Exec(ctx, session.ExecRequest{SessionID: res.SessionID, Command: "echo $SSH_CLIENT"})
	if err != nil || !strings.HasPrefix(out.Stdout, "127.0.0.1 ") {
		t.Fatalf("exec via jump: %+v %v", out, err)
	}
	// Both hops were verified and recorded.
	kh := readFile(t, f.knownHosts())
	for _, port := range []int{f.srv.Port, jump.Port} {
		if !strings.Contains(kh, fmt.Sprintf("[127.0.0.1]:%d ", port)) {
			t.Errorf("known_hosts lacks port %d:\n%s", port, kh)
		}
	}
	// A config writable by others is refused, as ssh refuses it.
	os.Chmod(p, 0o666)
	_, err = f.h.Connect(ctx, session.ConnectRequest{Host: "web"})
	wantCode(t, err, session.CodePermissionDenied)
}

func TestResolveReusesSessions(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 30*time.Second)
	a, err := f.h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath, Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{a.SessionID, "web", f.target()} {
		r, err := f.h.Resolve(ctx, session.ResolveRequest{Target: target, Connect: session.ConnectRequest{KeyPath: f.user.KeyPath}})
		if err != nil || r.SessionID != a.SessionID {
			t.Errorf("resolve %q = %+v, %v; want %s", target, r, err, a.SessionID)
		}
	}
	r, err := f.h.Resolve(ctx, session.ResolveRequest{Target: f.target(), New: true, Connect: session.ConnectRequest{KeyPath: f.user.KeyPath}})
	if err != nil || r.SessionID == a.SessionID {
		t.Errorf("--new reused: %+v %v", r, err)
	}
	_, err = f.h.Resolve(ctx, session.ResolveRequest{Target: "no such thing!"})
	wantCode(t, err, session.CodeNotFound)
	c, err := f.h.CloseSession(ctx, session.CloseSessionRequest{SessionID: "web"})
	if err != nil || !c.Closed || c.SessionID != a.SessionID {
		t.Errorf("close by name: %+v %v", c, err)
	}
}

func TestKeyboardInteractiveAndSudoFromLogin(t *testing.T) {
	f := newFixture(t, fixtureOpt{sudo: sshdtest.SudoPassword, config: []string{"PasswordAuthentication no", "KbdInteractiveAuthentication yes"}})
	ctx := ctxT(t, 60*time.Second)
	no := false
	res, err := f.h.Connect(ctx, session.ConnectRequest{Host: f.target(), Password: session.Secret(f.user.Password), UseAgent: &no})
	if err != nil {
		t.Fatalf("keyboard-interactive: %v\n%s", err, f.srv.Log())
	}
	if res.AuthMethod != "keyboard-interactive" {
		t.Errorf("auth method %q", res.AuthMethod)
	}
	// A prompter answers keyboard-interactive when no password was given.
	asked := false
	pctx := session.WithCaller(ctx, session.Caller{Prompter: session.PrompterFunc(func(ctx context.Context, p session.Prompt) (string, error) {
		asked = p.Kind == session.PromptPassword
		return f.user.Password, nil
	})})
	if _, err := f.h.Connect(pctx, session.ConnectRequest{Host: f.target(), UseAgent: &no}); err != nil || !asked {
		t.Fatalf("prompted keyboard-interactive: asked=%v err=%v", asked, err)
	}
	// The login password is reused for sudo only when asked.
	out, err := f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: res.SessionID, Command: "id -u"}, PasswordFromLogin: true})
	if err != nil || out.Stdout != "0\n" {
		t.Fatalf("sudo with the login password: %+v %v", out, err)
	}
	_, err = f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: res.SessionID, Command: "id -u"}})
	wantCode(t, err, session.CodeInputRequired)
}
