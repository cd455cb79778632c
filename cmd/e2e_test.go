package cmd_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// harness runs the built binary as a user would: its own HOME, XDG dirs and
// holder socket, no controlling terminal, no stdin unless a test feeds one.
type harness struct {
	t    *testing.T
	bin  string
	env  *sshdtest.Env
	srv  *sshdtest.Server // nil without sshd
	user *sshdtest.User   // nil without sshd
}

// newHarness builds the binary (once per test process), optionally starts a
// real sshd with a throwaway user, and gives the test a fresh Env. The holder
// the test starts is stopped at cleanup.
func newHarness(t *testing.T, withSSHD bool) *harness {
	t.Helper()
	sshdtest.Require(t)
	h := &harness{t: t, bin: sshdtest.BuildBinary(t)}
	if withSSHD {
		h.user = sshdtest.NewUser(t)
		h.srv = sshdtest.Start(t, sshdtest.WithUsers(h.user))
	}
	h.env = sshdtest.NewEnv(t)
	t.Cleanup(func() { stopHolders(t, h.bin, h.env) })
	return h
}

// target is user@127.0.0.1:PORT.
func (h *harness) target() string { return h.user.Name + "@" + h.srv.Addr }

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout: %q\nstderr: %q", r.code, r.elapsed.Round(time.Millisecond), r.stdout, r.stderr)
}

// runOpts change how the binary runs.
type runOpts struct {
	stdin   io.Reader
	env     []string // KEY=VALUE added to (and overriding) the Env's
	timeout time.Duration
	cred    *syscall.Credential
	bin     string
	stdout  io.Writer // instead of capturing stdout
	started func(*exec.Cmd)
}

func (h *harness) run(args ...string) result { return h.runWith(runOpts{}, args...) }

// runWith runs the binary and waits for it, bounded (60 s by default). It
// may be called from any goroutine: it reports with t.Errorf, never Fatal.
func (h *harness) runWith(o runOpts, args ...string) result {
	return runBinary(h.t, h.env, h.bin, o, args...)
}

func runBinary(t *testing.T, env *sshdtest.Env, bin string, o runOpts, args ...string) result {
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	if o.bin != "" {
		bin = o.bin
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	c := exec.CommandContext(ctx, bin, args...)
	c.Env = append(env.Environ(), o.env...)
	c.Stdin = o.stdin
	var so, se bytes.Buffer
	c.Stdout, c.Stderr = &so, &se
	if o.stdout != nil {
		c.Stdout = o.stdout
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: o.cred}
	c.WaitDelay = 5 * time.Second
	c.Dir = "/"
	start := time.Now()
	if err := c.Start(); err != nil {
		t.Errorf("start %s %q: %v", bin, args, err)
		return result{code: -2}
	}
	if o.started != nil {
		o.started(c)
	}
	err := c.Wait()
	r := result{stdout: so.String(), stderr: se.String(), elapsed: time.Since(start), code: -1}
	if c.ProcessState != nil {
		r.code = c.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		t.Errorf("mcp-remote-ssh %s: still running after %v (killed)\n%v", strings.Join(args, " "), o.timeout, r)
		r.code = -3
	} else if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Errorf("mcp-remote-ssh %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// want checks a run's exit code and that stdout and stderr contain the given
// strings (stdout strings prefixed "out:").
func want(t *testing.T, r result, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\n%v", r.code, code, r)
		return
	}
	for _, s := range contains {
		if rest, ok := strings.CutPrefix(s, "out:"); ok {
			if !strings.Contains(r.stdout, rest) {
				t.Errorf("stdout lacks %q\n%v", rest, r)
			}
			continue
		}
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q\n%v", s, r)
		}
	}
}

// holderPIDs lists the live holder processes serving env's socket (a
// `<...>/mcp-remote-ssh holder` whose environment names that socket).
func holderPIDs(env *sshdtest.Env) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(argv) != 2 || filepath.Base(argv[0]) != sshdtest.BinaryName || argv[1] != "holder" {
			continue
		}
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(environ, []byte("\x00MCP_REMOTE_SSH_SOCKET="+env.Socket+"\x00")) &&
			!bytes.HasPrefix(environ, []byte("MCP_REMOTE_SSH_SOCKET="+env.Socket+"\x00")) {
			continue
		}
		if !processAlive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// processAlive is true when pid exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// stopHolders stops every holder of env: `holder stop`, then SIGKILL for
// any still alive after 5 s.
func stopHolders(t *testing.T, bin string, env *sshdtest.Env) {
	pids := holderPIDs(env)
	if len(pids) == 0 {
		return
	}
	runBinary(t, env, bin, runOpts{timeout: 10 * time.Second}, "holder", "stop")
	if !waitFor(5*time.Second, func() bool { return len(holderPIDs(env)) == 0 }) {
		for _, pid := range holderPIDs(env) {
			t.Logf("holder pid %d still alive 5s after holder stop: killing it", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		waitFor(5*time.Second, func() bool { return len(holderPIDs(env)) == 0 })
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// remoteProcs lists the pids of the test user's processes whose command line
// matches pattern (the sshd runs on this machine: "remote" is local).
func (h *harness) remoteProcs(pattern string) []string {
	out, _ := exec.Command("pgrep", "-u", strconv.Itoa(h.user.UID), "-f", pattern).Output()
	return strings.Fields(string(out))
}

// holderPID returns the pid `holder status` reports.
func (h *harness) holderPID() int {
	h.t.Helper()
	r := h.run("holder", "status")
	m := regexp.MustCompile(`holder pid (\d+),`).FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		h.t.Fatalf("holder status: %v", r)
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

// holderAlive checks that `holder status` answers with the same holder.
func (h *harness) holderAlive(pid int) {
	h.t.Helper()
	if got := h.holderPID(); pid != 0 && got != pid {
		h.t.Errorf("holder pid changed from %d to %d: the holder died", pid, got)
	}
}

func (h *harness) sessions() session.ListSessionsResult {
	h.t.Helper()
	r := h.run("sessions", "--json")
	if r.code != 0 {
		h.t.Fatalf("sessions --json: %v", r)
	}
	var res session.ListSessionsResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		h.t.Fatalf("decode sessions --json: %v\n%s", err, r.stdout)
	}
	return res
}

var idLine = regexp.MustCompile(`^[0-9a-f]{8}\n$`)

func TestConnectSessionsClose(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	key := h.user.KeyPath

	r := h.run("connect", h.target(), "--name", "web", "-i", key)
	want(t, r, 0, "connected session", "(web)", h.target(), "publickey auth", h.srv.HostKeyFingerprint("ed25519"), "newly recorded in known_hosts")
	if !idLine.MatchString(r.stdout) {
		t.Fatalf("connect should print the session id alone on stdout: %v", r)
	}
	id := strings.TrimSpace(r.stdout)
	pid := h.holderPID()

	r = h.run("sessions")
	want(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "STATE") {
		t.Fatalf("sessions table: %v", r)
	}
	row := strings.Fields(lines[1])
	if len(row) != 8 || row[0] != id || row[1] != "web" || row[2] != h.target() || row[3] != "connected" {
		t.Errorf("sessions row %q, want id %s, name web, %s, connected", row, id, h.target())
	}

	// Another process (every run is one) sees the same session, as JSON.
	list := h.sessions()
	if len(list.Sessions) != 1 {
		t.Fatalf("sessions --json: %+v", list)
	}
	s := list.Sessions[0]
	if s.SessionID != id || s.Name != "web" || s.User != h.user.Name || s.Host != "127.0.0.1" || s.Port != h.srv.Port || s.State != "connected" || s.CreatedAt.IsZero() {
		t.Errorf("session %+v", s)
	}

	// connect always creates a new session; --json gives the result.
	r = h.run("connect", h.target(), "-i", key, "--json")
	want(t, r, 0)
	var cr session.ConnectResult
	if err := json.Unmarshal([]byte(r.stdout), &cr); err != nil {
		t.Fatalf("connect --json: %v\n%v", err, r)
	}
	if cr.SessionID == id || len(cr.SessionID) != 8 || cr.AuthMethod != "publickey" || cr.HostKeyRecorded || !strings.HasPrefix(cr.ServerVersion, "SSH-2.0-OpenSSH") {
		t.Errorf("second connect: %+v", cr)
	}
	if n := len(h.sessions().Sessions); n != 2 {
		t.Errorf("%d sessions after the second connect, want 2", n)
	}
	// A taken name is refused.
	want(t, h.run("connect", h.target(), "-i", key, "--name", "web"), 1, "exists", `"web"`)

	want(t, h.run("close", "web"), 0, "closed session "+id)
	if l := h.sessions().Sessions; len(l) != 1 || l[0].SessionID != cr.SessionID {
		t.Errorf("after close web: %+v", l)
	}
	r = h.run("close", "--all", "--json")
	want(t, r, 0, `out:"session_id":"`+cr.SessionID+`"`)
	r = h.run("sessions")
	want(t, r, 0, "no sessions")
	if r.stdout != "" {
		t.Errorf("sessions with none should print nothing on stdout: %v", r)
	}
	h.holderAlive(pid)
}

func TestConnectAliasPasswordStdin(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	cfg := fmt.Sprintf("Host web2\n  HostName 127.0.0.1\n  Port %d\n  User %s\n", h.srv.Port, h.user.Name)
	if err := os.WriteFile(filepath.Join(h.env.Home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.runWith(runOpts{stdin: strings.NewReader(h.user.Password + "\n")}, "connect", "web2", "--password-stdin", "--json")
	want(t, r, 0)
	var cr session.ConnectResult
	if err := json.Unmarshal([]byte(r.stdout), &cr); err != nil {
		t.Fatalf("%v\n%v", err, r)
	}
	if cr.AuthMethod != "password" && cr.AuthMethod != "keyboard-interactive" || cr.User != h.user.Name || cr.Port != h.srv.Port {
		t.Errorf("connect web2: %+v", cr)
	}
	if strings.Contains(r.stdout+r.stderr, h.user.Password) {
		t.Errorf("the password was echoed: %v", r)
	}
	// The alias is a target: exec reuses the session.
	r = h.run("exec", "web2", "--", "whoami")
	want(t, r, 0, "out:"+h.user.Name+"\n")
	if n := len(h.sessions().Sessions); n != 1 {
		t.Errorf("%d sessions, want 1 (the alias reuses the live session)", n)
	}
	// The password never reaches the holder's log.
	logData, _ := os.ReadFile(filepath.Join(h.env.StateDir, "mcp-remote-ssh", "holder.log"))
	if len(logData) == 0 || bytes.Contains(logData, []byte(h.user.Password)) {
		t.Errorf("holder log empty or holding the password:\n%s", logData)
	}

	// The password from the environment, and an encrypted key's passphrase on stdin.
	r = h.runWith(runOpts{env: []string{"MCP_REMOTE_SSH_PASSWORD=" + h.user.Password}}, "connect", h.target(), "--no-agent", "--json")
	want(t, r, 0, `out:"auth_method":"password"`)
	r = h.runWith(runOpts{stdin: strings.NewReader(h.user.Passphrase + "\n")}, "connect", h.target(), "-i", h.user.EncKeyPath, "--passphrase-stdin")
	want(t, r, 0, "publickey auth")
	r = h.runWith(runOpts{stdin: strings.NewReader("wrong\n")}, "connect", h.target(), "-i", h.user.EncKeyPath, "--passphrase-stdin")
	want(t, r, 1, "auth_failed", h.user.EncKeyPath)

}

func TestConnectAgentNotInHolderEnv(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	h.env.AgentSocket = sshdtest.StartAgent(t, h.user.KeyPath)
	// The first command starts the holder; its environment carries an agent
	// and secrets that the holder must not inherit.
	secrets := []string{"MCP_REMOTE_SSH_PASSWORD=pw-in-env", "MCP_REMOTE_SSH_PASSPHRASE=pp-in-env"}
	r := h.runWith(runOpts{env: secrets}, "connect", h.target(), "--json")
	want(t, r, 0)
	var cr session.ConnectResult
	json.Unmarshal([]byte(r.stdout), &cr)
	if cr.AuthMethod != "agent" {
		t.Errorf("auth method %q, want agent\n%v", cr.AuthMethod, r)
	}
	pid := h.holderPID()
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		for _, bad := range []string{"SSH_AUTH_SOCK=", "MCP_REMOTE_SSH_PASSWORD=", "MCP_REMOTE_SSH_PASSPHRASE="} {
			if bytes.HasPrefix(kv, []byte(bad)) {
				t.Errorf("holder environment has %s", kv)
			}
		}
	}
	// Without an agent in the CLI's environment the agent is not used: the
	// holder takes it from each connect, never from its own environment.
	h.env.AgentSocket = ""
	r = h.run("connect", h.target(), "--connect-timeout", "10s")
	want(t, r, 1, "auth_failed")
}

func TestExecTargetReuse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	for i := 0; i < 2; i++ {
		want(t, h.run("exec", h.target(), "-i", h.user.KeyPath, "--", "true"), 0)
	}
	if n := len(h.sessions().Sessions); n != 1 {
		t.Errorf("%d sessions after two execs on one target, want 1", n)
	}
	want(t, h.run("exec", h.target(), "-i", h.user.KeyPath, "--new", "--", "true"), 0)
	if n := len(h.sessions().Sessions); n != 2 {
		t.Errorf("%d sessions after exec --new, want 2", n)
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	r := h.run("connect", h.target(), "--name", "web", "-i", h.user.KeyPath)
	want(t, r, 0)
	pid := h.holderPID()
	t.Cleanup(func() {
		if !t.Failed() {
			h.holderAlive(pid)
		}
	})

	t.Run("stdout stderr and exit code", func(t *testing.T) {
		r := h.run("exec", "web", "--", "echo out; echo err >&2; exit 3")
		if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
			t.Errorf("want exit 3, stdout \"out\\n\", stderr \"err\\n\"; got %v", r)
		}
	})
	t.Run("args after -- are joined", func(t *testing.T) {
		r := h.run("exec", "web", "--", "echo", "a", "b")
		want(t, r, 0, "out:a b\n")
	})
	t.Run("json", func(t *testing.T) {
		r := h.run("exec", "web", "--json", "--", "echo out; echo err >&2; exit 3")
		if r.code != 3 {
			t.Errorf("exit %d, want 3\n%v", r.code, r)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
			t.Fatalf("%v\n%v", err, r)
		}
		for _, k := range []string{"stdout", "stderr", "exit_code", "signal", "duration_ms", "timed_out", "killed", "kill_confirmed",
			"stdout_bytes", "stderr_bytes", "stdout_truncated", "stderr_truncated", "outcome"} {
			if _, ok := m[k]; !ok {
				t.Errorf("--json lacks %q: %s", k, r.stdout)
			}
		}
		var res session.ExecResult
		json.Unmarshal([]byte(r.stdout), &res)
		if res.Stdout != "out\n" || res.Stderr != "err\n" || res.ExitCode == nil || *res.ExitCode != 3 || res.Signal != "" || res.Outcome != "exited" || res.StdoutBytes != 4 {
			t.Errorf("--json result %+v", res)
		}
	})
	t.Run("json truncation", func(t *testing.T) {
		r := h.run("exec", "web", "--json", "--max-output", "1000", "--", "head -c 5000 /dev/zero | tr '\\0' x")
		var res session.ExecResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
			t.Fatalf("%v\n%v", err, r)
		}
		if !res.StdoutTruncated || res.StdoutBytes != 5000 || len(res.Stdout) > 1200 {
			t.Errorf("truncated=%v bytes=%d len=%d", res.StdoutTruncated, res.StdoutBytes, len(res.Stdout))
		}
	})
	t.Run("kill -9", func(t *testing.T) {
		r := h.run("exec", "web", "--", "kill -9 $$")
		want(t, r, 137)
		r = h.run("exec", "web", "--json", "--", "kill -9 $$")
		var res session.ExecResult
		json.Unmarshal([]byte(r.stdout), &res)
		if r.code != 137 || res.Signal != "KILL" || res.ExitCode != nil || res.Outcome != "signaled" {
			t.Errorf("want 137 and signal KILL: %+v\n%v", res, r)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		r := h.runWith(runOpts{stdin: strings.NewReader("data\n")}, "exec", "web", "--", "wc -c")
		want(t, r, 0)
		if strings.TrimSpace(r.stdout) != "5" {
			t.Errorf("wc -c of forwarded stdin: %v", r)
		}
		r = h.runWith(runOpts{stdin: strings.NewReader("data\n")}, "exec", "web", "--json", "--", "wc -c")
		if r.code != 0 || !strings.Contains(r.stdout, `"stdout":"5\n"`) {
			t.Errorf("--json with stdin: %v", r)
		}
		r = h.runWith(runOpts{stdin: strings.NewReader("data\n")}, "exec", "web", "-n", "--", "cat; echo done")
		if r.code != 0 || r.stdout != "done\n" {
			t.Errorf("-n should give no stdin: %v", r)
		}
	})
	t.Run("env", func(t *testing.T) {
		r := h.run("exec", "web", "--env", "K=V w", "--env", "E=", "--", `printf '%s|%s' "$K" "${E-unset}"`)
		if r.code != 0 || r.stdout != "V w|" {
			t.Errorf("--env: %v", r)
		}
		want(t, h.run("exec", "web", "--env", "NOEQ", "--", "true"), 255, "invalid_argument", "NOEQ")
		want(t, h.run("exec", "web", "--env", "1X=y", "--", "true"), 255, "invalid_argument", "1X")
	})
	t.Run("cwd", func(t *testing.T) {
		r := h.run("exec", "web", "--cwd", "/tmp", "--", "pwd")
		want(t, r, 0, "out:/tmp\n")
		r = h.run("exec", "web", "--cwd", "/nonexistent", "--", "pwd")
		want(t, r, 255, "/nonexistent", "does not exist")
		if r.stdout != "" || strings.Contains(r.stderr, "\x1e") || strings.Contains(r.stderr, "cd:") {
			t.Errorf("--cwd error should be one clear message: %v", r)
		}
	})
	t.Run("empty command", func(t *testing.T) {
		want(t, h.run("exec", "web", "--"), 255, "COMMAND", "--help")
		want(t, h.run("exec", "web"), 255, "COMMAND")
		want(t, h.run("exec", "web", "--", " "), 255, "invalid_argument", "empty")
	})
	t.Run("unknown flag", func(t *testing.T) {
		want(t, h.run("exec", "web", "--bogus", "--", "true"), 255, "unknown flag: --bogus", "--help")
	})
	t.Run("binary output 50MiB", func(t *testing.T) {
		hs := sha256.New()
		r := h.runWith(runOpts{stdout: hs, timeout: 120 * time.Second}, "exec", "web", "--",
			`f=$(mktemp) && head -c 50M /dev/urandom >"$f" && sha256sum <"$f" >&2 && cat "$f"; rm -f "$f"`)
		want(t, r, 0)
		remote := strings.Fields(r.stderr)
		if got := hex.EncodeToString(hs.Sum(nil)); len(remote) == 0 || remote[0] != got {
			t.Errorf("50 MiB arrived with sha256 %s, remote says %q", got, r.stderr)
		}
	})
	t.Run("kill", func(t *testing.T) {
		t.Run("timeout", func(t *testing.T) {
			t.Parallel()
			r := h.run("exec", "web", "--timeout", "2s", "--", "(sleep 3132 &); sleep 3131")
			want(t, r, 255, "timed out after 2s", "killed")
			if r.elapsed > 15*time.Second {
				t.Errorf("took %v", r.elapsed)
			}
			if !waitFor(5*time.Second, func() bool { return len(h.remoteProcs("sleep 313[12]")) == 0 }) {
				t.Errorf("remote processes left after the timeout: %v", h.remoteProcs("sleep 313[12]"))
			}
		})
		t.Run("sigint", func(t *testing.T) {
			t.Parallel()
			r := h.runWith(runOpts{started: func(c *exec.Cmd) {
				if !waitFor(20*time.Second, func() bool { return len(h.remoteProcs("sleep 3133")) > 0 }) {
					t.Errorf("the remote sleep 3133 never started")
				}
				c.Process.Signal(syscall.SIGINT)
			}}, "exec", "web", "--", "(sleep 3134 &); sleep 3133")
			want(t, r, 255, "interrupted")
			if !waitFor(5*time.Second, func() bool { return len(h.remoteProcs("sleep 313[34]")) == 0 }) {
				t.Errorf("remote processes left after SIGINT: %v", h.remoteProcs("sleep 313[34]"))
			}
		})
		t.Run("closed pipe", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c := exec.CommandContext(ctx, "sh", "-c", `"$0" exec web -- 'seq 1e8' | head -1`, h.bin)
			c.Env = h.env.Environ()
			c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			out, err := c.Output()
			if err != nil || string(out) != "1\n" {
				t.Errorf("seq 1e8 | head -1: %q, %v", out, err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("exec | head -1 took %v", d)
			}
			if !waitFor(5*time.Second, func() bool { return len(h.remoteProcs("seq 1e8")) == 0 }) {
				t.Errorf("remote seq still runs after the reader went away: %v", h.remoteProcs("seq 1e8"))
			}
		})
	})
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	want(t, h.run("sessions"), 0)
	pid := h.holderPID()
	u := h.user

	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	loose := filepath.Join(t.TempDir(), "loose_key")
	data, _ := os.ReadFile(u.KeyPath)
	os.WriteFile(loose, data, 0o644)

	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  []string
		max   time.Duration
	}{
		{"wrong password", "wrong\n", []string{"connect", h.target(), "--password-stdin", "--no-agent"}, 1, []string{"auth_failed", u.Name, h.srv.Addr}, 30 * time.Second},
		{"unknown key file", "", []string{"connect", h.target(), "-i", "/nonexistent/key"}, 2, []string{"invalid_argument", "/nonexistent/key"}, 0},
		{"encrypted key without passphrase", "", []string{"connect", h.target(), "-i", u.EncKeyPath}, 1, []string{"input_required", u.EncKeyPath, "--passphrase-stdin"}, 10 * time.Second},
		{"closed port", "", []string{"connect", "u@" + closedPort, "--no-agent"}, 1, []string{"connection_failed", closedPort}, 5 * time.Second},
		{"unresolvable host", "", []string{"connect", "u@nohost.invalid", "--no-agent"}, 1, []string{"connection_failed", "nohost.invalid"}, 5 * time.Second},
		{"malformed target", "", []string{"connect", "u@[::1:22"}, 2, []string{"invalid_argument", "malformed target", "accepted forms"}, 0},
		{"bad port", "", []string{"connect", "u@host:99999"}, 2, []string{"invalid_argument", "99999"}, 0},
		{"bad name", "", []string{"connect", h.target(), "--name", "Bad Name"}, 2, []string{"invalid_argument", "Bad Name"}, 0},
		{"key readable by others", "", []string{"connect", h.target(), "-i", loose}, 1, []string{"permission_denied", loose, "0644"}, 0},
		{"unknown session by name", "", []string{"close", "nosuch"}, 1, []string{"not_found", `"nosuch"`}, 0},
		{"unknown session by id", "", []string{"close", "deadbeef"}, 1, []string{"not_found", `"deadbeef"`}, 0},
		{"unknown flag", "", []string{"sessions", "--bogus"}, 2, []string{"unknown flag: --bogus", "Run 'mcp-remote-ssh sessions --help' for usage"}, 0},
		{"unknown command", "", []string{"bogus"}, 2, []string{"unknown command", "--help"}, 0},
		{"extra argument", "", []string{"sessions", "x"}, 2, []string{"no arguments", "--help"}, 0},
		{"close without target", "", []string{"close"}, 2, []string{"--all"}, 0},
		{"bad host key policy", "", []string{"--host-key-policy", "maybe", "sessions"}, 2, []string{"maybe", "strict"}, 0},
		{"empty stdin password", "", []string{"connect", h.target(), "--password-stdin"}, 2, []string{"empty secret"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdin io.Reader
			if c.stdin != "" {
				stdin = strings.NewReader(c.stdin)
			}
			r := h.runWith(runOpts{stdin: stdin}, c.args...)
			want(t, r, c.code, c.want...)
			if max := c.max; max > 0 && r.elapsed > max {
				t.Errorf("took %v, want under %v", r.elapsed, max)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
				t.Errorf("stack trace: %v", r)
			}
			h.holderAlive(pid)
		})
	}

	t.Run("host key changed", func(t *testing.T) {
		kh := filepath.Join(h.env.Home, ".ssh", "known_hosts")
		pub, _ := os.ReadFile(u.KeyPath + ".pub") // an ed25519 key that is not the host's
		f := strings.Fields(string(pub))
		line := fmt.Sprintf("# a comment\n[127.0.0.1]:%d %s %s\n", h.srv.Port, f[0], f[1])
		if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(kh)
		r := h.run("connect", h.target(), "-i", u.KeyPath)
		want(t, r, 1, "host_key_mismatch", h.srv.Addr, h.srv.HostKeyFingerprint("ed25519"), kh+":2")
		h.holderAlive(pid)
	})
	t.Run("unknown host strict", func(t *testing.T) {
		r := h.run("--host-key-policy", "strict", "connect", h.target(), "-i", u.KeyPath)
		want(t, r, 1, "host_key_unknown", h.srv.Addr)
		if _, err := os.Stat(filepath.Join(h.env.Home, ".ssh", "known_hosts")); err == nil {
			b, _ := os.ReadFile(filepath.Join(h.env.Home, ".ssh", "known_hosts"))
			if bytes.Contains(b, []byte(strconv.Itoa(h.srv.Port))) {
				t.Errorf("strict recorded the host key:\n%s", b)
			}
		}
		h.holderAlive(pid)
	})
	t.Run("config writable by others", func(t *testing.T) {
		cfg := filepath.Join(h.env.Home, ".ssh", "config")
		if err := os.WriteFile(cfg, []byte("Host web\n  HostName 127.0.0.1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(cfg)
		os.Chmod(cfg, 0o666)
		r := h.run("connect", "web", "-i", u.KeyPath)
		want(t, r, 1, "permission_denied", cfg)
		h.holderAlive(pid)
	})
	if n := len(h.sessions().Sessions); n != 0 {
		t.Errorf("%d sessions left by failed connects", n)
	}
}

func TestVersionCompletionHelp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	r := h.run("version")
	want(t, r, 0, "out:mcp-remote-ssh dev (commit none")
	r = h.run("version", "--json")
	want(t, r, 0)
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["version"] != "dev" || v["commit"] != "none" || v["go"] == "" {
		t.Errorf("version --json: %v %v", v, err)
	}
	r = h.run("completion", "bash")
	want(t, r, 0, "out:__start_mcp-remote-ssh")
	for _, args := range [][]string{{"--help"}, {"connect", "--help"}, {"sessions", "--help"}, {"close", "--help"},
		{"exec", "--help"}, {"version", "--help"}, {"help", "exec"}} {
		r := h.run(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%v: want exit 0 and Examples\n%v", args, r)
		}
	}
	if pids := holderPIDs(h.env); len(pids) != 0 {
		t.Errorf("version, completion and help started a holder: %v", pids)
	}
}
