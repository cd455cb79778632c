package session_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// fixture is a real sshd with a throwaway user, an isolated client home and
// an in-process holder.
type fixture struct {
	srv  *sshdtest.Server
	user *sshdtest.User
	env  *sshdtest.Env
	h    *session.Holder
	logs *strings.Builder
}

type fixtureOpt struct {
	sudo   sshdtest.SudoMode
	config []string
	root   bool
}

func newFixture(t *testing.T, o fixtureOpt) *fixture {
	t.Helper()
	sshdtest.Require(t)
	var uopts []sshdtest.UserOption
	if o.sudo != sshdtest.SudoNone {
		uopts = append(uopts, sshdtest.WithSudo(o.sudo))
	}
	u := sshdtest.NewUser(t, uopts...)
	sopts := []sshdtest.Option{sshdtest.WithUsers(u)}
	if o.root {
		sopts = append(sopts, sshdtest.WithRoot())
	}
	if len(o.config) > 0 {
		sopts = append(sopts, sshdtest.WithConfig(o.config...))
	}
	srv := sshdtest.Start(t, sopts...)
	env := sshdtest.NewEnv(t)
	logs := &strings.Builder{}
	h := session.NewHolder(session.HolderConfig{Logger: log.New(&lockedWriter{w: logs}), Home: env.Home, Keepalive: time.Second, KeepaliveMax: 3})
	t.Cleanup(func() { h.Close() })
	return &fixture{srv: srv, user: u, env: env, h: h, logs: logs}
}

func (f *fixture) target() string { return fmt.Sprintf("%s@%s", f.user.Name, f.srv.Addr) }

func (f *fixture) connect(t *testing.T, ctx context.Context) session.ConnectResult {
	t.Helper()
	res, err := f.h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath})
	if err != nil {
		t.Fatalf("connect: %v\nsshd log:\n%s", err, f.srv.Log())
	}
	return res
}

func (f *fixture) knownHosts() string { return filepath.Join(f.env.Home, ".ssh", "known_hosts") }

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code session.Code) *session.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %s, got nil", code)
	}
	e := session.AsError(err)
	if e.Code != code {
		t.Fatalf("want code %s, got %s: %v", code, e.Code, err)
	}
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
