package cmd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

// testFactory has buffers for streams and no terminal.
func testFactory(stdin string) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &Factory{Build: BuildInfo{Version: "test"}, IO: &IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}}, &out, &errOut
}

// parse runs c with args; it returns the error and whether runF was called.
func parse(c *cobra.Command, args ...string) error {
	c.SetArgs(args)
	c.SetOut(io.Discard)
	c.SetErr(io.Discard)
	c.SilenceErrors, c.SilenceUsage = true, true
	return c.ExecuteContext(context.Background())
}

func TestExecArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want ExecOptions
		err  string
	}{
		{"joins args after --", []string{"web", "--", "echo", "a b", "c"}, ExecOptions{Target: "web", Command: "echo a b c"}, ""},
		{"one quoted command", []string{"web", "--", "echo out; exit 3"}, ExecOptions{Target: "web", Command: "echo out; exit 3"}, ""},
		{"flags before --", []string{"web", "--json", "-n", "--timeout", "5s", "--cwd", "/srv", "--env", "K=V", "--env", "A=b=c", "--", "make", "test"},
			ExecOptions{Target: "web", Command: "make test", JSON: true, NoStdin: true, Timeout: 5 * time.Second, Cwd: "/srv", Env: []string{"K=V", "A=b=c"}}, ""},
		{"dashes after -- are the command's", []string{"web", "--", "ls", "-la", "--json"}, ExecOptions{Target: "web", Command: "ls -la --json"}, ""},
		{"host spec with connect flags", []string{"alice@db:2222", "-i", "/k", "--new", "--", "uptime"},
			ExecOptions{Target: "alice@db:2222", Command: "uptime", Flags: ConnectFlags{Identity: "/k", New: true}}, ""},
		{"sudo", []string{"web", "--sudo", "--sudo-password-stdin", "--", "id"}, ExecOptions{Target: "web", Command: "id", Sudo: true, SudoPasswordStdin: true}, ""},
		{"no command", []string{"web", "--"}, ExecOptions{}, "TARGET and a COMMAND"},
		{"nothing", []string{}, ExecOptions{}, "TARGET and a COMMAND"},
		{"bad timeout", []string{"web", "--timeout", "soon", "--", "true"}, ExecOptions{}, "soon"},
		{"unknown flag", []string{"web", "--bogus", "--", "true"}, ExecOptions{}, "unknown flag: --bogus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _, _ := testFactory("")
			var got *ExecOptions
			cmd := NewCmdExec(f, func(_ context.Context, o *ExecOptions) error { got = o; return nil })
			err := parse(cmd, c.args...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				if got != nil {
					t.Errorf("run func called despite the error")
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("err %v, run func called %v", err, got != nil)
			}
			w := c.want
			if w.Timeout == 0 {
				w.Timeout = 10 * time.Minute
			}
			if w.MaxOutput == 0 {
				w.MaxOutput = 1 << 20
			}
			if w.Flags.ConnectTimeout == 0 {
				w.Flags.ConnectTimeout = 15 * time.Second
			}
			if !reflect.DeepEqual(*got, w) {
				t.Errorf("options\n got %+v\nwant %+v", *got, w)
			}
		})
	}
}

func TestExecOptionErrors(t *testing.T) {
	// Errors found before the holder is reached: no socket is touched.
	t.Setenv("MCP_REMOTE_SSH_SOCKET", "/nonexistent/never/holder.sock")
	base := ExecOptions{Target: "web", Command: "true", Timeout: time.Minute, Flags: ConnectFlags{ConnectTimeout: time.Second}}
	cases := []struct {
		name  string
		mod   func(*ExecOptions)
		stdin string
		want  string
	}{
		{"env without =", func(o *ExecOptions) { o.Env = []string{"NOEQ"} }, "", `"NOEQ" has no NAME=`},
		{"env with empty name", func(o *ExecOptions) { o.Env = []string{"=v"} }, "", `"=v" has no NAME=`},
		{"zero timeout", func(o *ExecOptions) { o.Timeout = 0 }, "", "--timeout 0s is not positive"},
		{"negative timeout", func(o *ExecOptions) { o.Timeout = -time.Second }, "", "not positive"},
		{"sudo password without sudo", func(o *ExecOptions) { o.SudoPasswordStdin = true }, "", "need --sudo"},
		{"sudo from login without sudo", func(o *ExecOptions) { o.SudoFromLogin = true }, "", "need --sudo"},
		{"two secrets on stdin", func(o *ExecOptions) { o.Sudo, o.SudoPasswordStdin, o.Flags.PasswordStdin = true, true, true }, "pw\nsudo\n", "both want the first line"},
		{"sudo password stdin empty", func(o *ExecOptions) { o.Sudo, o.SudoPasswordStdin = true, true }, "", "no sudo password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, out, _ := testFactory(c.stdin)
			o := base
			c.mod(&o)
			err := runExec(context.Background(), f, &o)
			if e := session.AsError(err); e == nil || e.Code != session.CodeInvalidArgument || !strings.Contains(e.Message, c.want) {
				t.Fatalf("err %v, want invalid_argument containing %q", err, c.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %q", out)
			}
		})
	}
}

func TestConnectArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want ConnectOptions
		err  string
	}{
		{"target and name", []string{"alice@127.0.0.1:2222", "--name", "web"}, ConnectOptions{Target: "alice@127.0.0.1:2222", Name: "web"}, ""},
		{"all flags", []string{"web2", "-p", "2200", "-l", "bob", "-i", "~/.ssh/k", "--password-stdin", "--no-agent", "--connect-timeout", "3s", "--json"},
			ConnectOptions{Target: "web2", JSON: true, Flags: ConnectFlags{Port: 2200, User: "bob", Identity: "~/.ssh/k", PasswordStdin: true, NoAgent: true, ConnectTimeout: 3 * time.Second}}, ""},
		{"no target", []string{}, ConnectOptions{}, "one TARGET"},
		{"two targets", []string{"a", "b"}, ConnectOptions{}, "one TARGET"},
		{"no --new on connect", []string{"a", "--new"}, ConnectOptions{}, "unknown flag: --new"},
		{"bad port", []string{"a", "-p", "x"}, ConnectOptions{}, "invalid argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _, _ := testFactory("")
			var got *ConnectOptions
			cmd := NewCmdConnect(f, func(_ context.Context, o *ConnectOptions) error { got = o; return nil })
			err := parse(cmd, c.args...)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || got != nil {
					t.Fatalf("err %v (run called %v), want one containing %q", err, got != nil, c.err)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("err %v", err)
			}
			w := c.want
			if w.Flags.ConnectTimeout == 0 {
				w.Flags.ConnectTimeout = 15 * time.Second
			}
			if !reflect.DeepEqual(*got, w) {
				t.Errorf("options\n got %+v\nwant %+v", *got, w)
			}
		})
	}
}

func TestConnectRequest(t *testing.T) {
	t.Setenv("MCP_REMOTE_SSH_PASSWORD", "")
	t.Setenv("MCP_REMOTE_SSH_PASSPHRASE", "from-env")
	t.Setenv("HOME", "/home/test")
	f, _, _ := testFactory("s3cret\r\nrest of stdin")
	cf := ConnectFlags{Identity: "~/.ssh/k", PasswordStdin: true, NoAgent: true, ConnectTimeout: 2 * time.Second, Port: 22}
	req, err := cf.request(f, "web")
	if err != nil {
		t.Fatal(err)
	}
	if req.Host != "web" || req.Port != 22 || req.KeyPath != "/home/test/.ssh/k" || req.Password.Reveal() != "s3cret" ||
		req.Passphrase.Reveal() != "from-env" || req.UseAgent == nil || *req.UseAgent || req.Timeout != 2 {
		t.Errorf("request %+v", req)
	}
	// The rest of stdin is left for the command.
	rest, _ := io.ReadAll(f.Stdin())
	if string(rest) != "rest of stdin" {
		t.Errorf("stdin after the secret: %q", rest)
	}

	for _, c := range []struct {
		name string
		cf   ConnectFlags
		want string
	}{
		{"both on stdin", ConnectFlags{PasswordStdin: true, PassphraseStdin: true, ConnectTimeout: time.Second}, "both want stdin"},
		{"empty stdin", ConnectFlags{PasswordStdin: true, ConnectTimeout: time.Second}, "empty secret"},
		{"zero connect timeout", ConnectFlags{}, "not positive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, _, _ := testFactory("")
			_, err := c.cf.request(f, "web")
			if e := session.AsError(err); e == nil || e.Code != session.CodeInvalidArgument || !strings.Contains(e.Message, c.want) {
				t.Errorf("err %v, want invalid_argument containing %q", err, c.want)
			}
		})
	}
}

func TestCloseArgs(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want CloseOptions
		err  string
	}{
		{"ids and names", []string{"web", "a1b2c3d4"}, CloseOptions{Targets: []string{"web", "a1b2c3d4"}}, ""},
		{"all", []string{"--all", "--json"}, CloseOptions{Targets: []string{}, All: true, JSON: true}, ""},
		{"both ids and --all", []string{"web", "--all"}, CloseOptions{}, "not both"},
		{"neither", []string{}, CloseOptions{}, "or --all"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, _, _ := testFactory("")
			var got *CloseOptions
			cmd := NewCmdClose(f, func(_ context.Context, o *CloseOptions) error { got = o; return nil })
			err := parse(cmd, c.args...)
			if c.err != "" {
				var ae *argsError
				if !errors.As(err, &ae) || !strings.Contains(err.Error(), c.err) || got != nil {
					t.Fatalf("err %v, want a usage error containing %q", err, c.err)
				}
				return
			}
			if err != nil || got == nil {
				t.Fatalf("err %v", err)
			}
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("options\n got %+v\nwant %+v", *got, c.want)
			}
		})
	}
}

func TestSessionsArgs(t *testing.T) {
	f, _, _ := testFactory("")
	var got *SessionsOptions
	if err := parse(NewCmdSessions(f, func(_ context.Context, o *SessionsOptions) error { got = o; return nil }), "--json"); err != nil || got == nil || !got.JSON {
		t.Fatalf("sessions --json: %v %+v", err, got)
	}
	got = nil
	if err := parse(NewCmdSessions(f, func(_ context.Context, o *SessionsOptions) error { got = o; return nil }), "extra"); err == nil || got != nil {
		t.Fatalf("sessions extra: %v", err)
	}
}

// TestRunExitCodes checks the one place that maps errors to exit codes, for
// errors found before the holder is reached.
func TestRunExitCodes(t *testing.T) {
	t.Setenv("MCP_REMOTE_SSH_SOCKET", "/nonexistent/never/holder.sock")
	cases := []struct {
		args   []string
		code   int
		stderr []string
		stdout string
	}{
		{[]string{"close", "web", "--all"}, 2, []string{"not both", "Run 'mcp-remote-ssh close --help' for usage."}, ""},
		{[]string{"sessions", "--bogus"}, 2, []string{"unknown flag: --bogus", "mcp-remote-ssh sessions --help"}, ""},
		{[]string{"connect"}, 2, []string{"one TARGET"}, ""},
		{[]string{"exec", "web"}, 255, []string{"TARGET and a COMMAND", "exec --help"}, ""},
		{[]string{"exec", "web", "--env", "X", "--", "true"}, 255, []string{"invalid_argument", `"X" has no NAME=`, "hint: write --env NAME=value"}, ""},
		{[]string{"exec", "web", "--json", "--env", "X", "--", "true"}, 255, []string{"invalid_argument"}, `{"error":{"code":"invalid_argument"`},
		{[]string{"connect", "web", "--connect-timeout", "0s"}, 2, []string{"invalid_argument", "not positive"}, ""},
		{[]string{"--host-key-policy", "maybe", "version"}, 2, []string{`--host-key-policy "maybe"`}, ""},
		{[]string{"version"}, 0, nil, "mcp-remote-ssh test"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			f, out, errOut := testFactory("")
			code := Run(context.Background(), f, c.args)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout %q\nstderr %q", code, c.code, out, errOut)
			}
			for _, w := range c.stderr {
				if !strings.Contains(errOut.String(), w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
			if !strings.Contains(out.String(), c.stdout) {
				t.Errorf("stdout %q lacks %q", out, c.stdout)
			}
		})
	}
}

func TestExecExit(t *testing.T) {
	three, zero := 3, 0
	opts := &ExecOptions{Timeout: 2 * time.Second}
	cases := []struct {
		name string
		res  session.ExecResult
		code int // exit status; -1 for an error of ours
		msg  string
	}{
		{"zero", session.ExecResult{ExitCode: &zero, Outcome: session.OutcomeExited}, 0, ""},
		{"three", session.ExecResult{ExitCode: &three, Outcome: session.OutcomeExited}, 3, ""},
		{"kill", session.ExecResult{Signal: "KILL", Outcome: session.OutcomeSignaled}, 137, ""},
		{"term", session.ExecResult{Signal: "TERM", Outcome: session.OutcomeSignaled}, 143, ""},
		{"other signal", session.ExecResult{Signal: "XCPU", Outcome: session.OutcomeSignaled}, 128 + 24, ""},
		{"openssh-style name", session.ExecResult{Signal: "SIGBUS@openssh.com", Outcome: session.OutcomeSignaled}, 128 + 7, ""},
		{"unknown signal", session.ExecResult{Signal: "SIG@openssh.com", Outcome: session.OutcomeSignaled}, 255, ""},
		{"timed out", session.ExecResult{Outcome: session.OutcomeTimedOut, Killed: true, KillConfirmed: true}, -1, "timed out after 2s; the remote process group was killed"},
		{"timed out unconfirmed", session.ExecResult{Outcome: session.OutcomeTimedOut, Killed: true}, -1, "could NOT confirm"},
		{"canceled", session.ExecResult{Outcome: session.OutcomeCanceled, Killed: true, KillConfirmed: true}, -1, "interrupted"},
		{"unknown", session.ExecResult{Outcome: session.OutcomeUnknown}, -1, "unknown"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := execExit(c.res, opts)
			var es ExitStatus
			switch {
			case c.code == 0:
				if err != nil {
					t.Errorf("err %v", err)
				}
			case c.code > 0:
				if !errors.As(err, &es) || int(es) != c.code {
					t.Errorf("err %v, want exit status %d", err, c.code)
				}
			default:
				if e := session.AsError(err); e == nil || !strings.Contains(e.Message, c.msg) || errors.As(err, &es) {
					t.Errorf("err %v, want an error containing %q", err, c.msg)
				}
			}
		})
	}
}

func TestRenderSessions(t *testing.T) {
	f, out, errOut := testFactory("")
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	renderSessions(f, session.ListSessionsResult{Sessions: []session.SessionInfo{
		{SessionID: "a1b2c3d4", Name: "web", User: "alice", Host: "127.0.0.1", Port: 2222, State: "connected", CreatedAt: created, IdleMS: 1500, Shells: 1},
		{SessionID: "d4c3b2a1", User: "bob", Host: "::1", Port: 22, State: "disconnected", CreatedAt: created},
	}}, created.Add(time.Hour))
	want := "ID        NAME  TARGET                STATE         AGE                   IDLE    SHELLS  FORWARDS\n" +
		"a1b2c3d4  web   alice@127.0.0.1:2222  connected     2025-01-02T03:04:05Z  1500ms  1       0\n" +
		"d4c3b2a1  -     bob@[::1]:22          disconnected  2025-01-02T03:04:05Z  0ms     0       0\n"
	if out.String() != want {
		t.Errorf("table\n%s\nwant\n%s", out, want)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr %q", errOut)
	}
	out.Reset()
	f.IO.OutTTY = true
	renderSessions(f, session.ListSessionsResult{Sessions: []session.SessionInfo{{SessionID: "a1b2c3d4", User: "a", Host: "h", Port: 22, State: "connected", CreatedAt: created, IdleMS: 90_000}}}, created.Add(3*time.Hour+5*time.Minute))
	if !strings.Contains(out.String(), " 3h5m ") || !strings.Contains(out.String(), " 1m ") {
		t.Errorf("on a TTY ages are relative:\n%s", out)
	}
}
