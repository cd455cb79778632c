package sshdtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// leakCheck verifies at the very end of a test (its cleanup is registered
// before anything it watches) that the watched users and processes are gone.
type leakCheck struct {
	mu    sync.Mutex
	users []*User
	procs []procID
}

// newLeakCheck registers the final check; call it before NewUser and Start.
func newLeakCheck(t *testing.T) *leakCheck {
	t.Helper()
	lc := &leakCheck{}
	t.Cleanup(func() { lc.verify(t) })
	return lc
}

// user watches u.
func (lc *leakCheck) user(u *User) *User {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.users = append(lc.users, u)
	return u
}

// snapshot watches the server's listener and every process under it now.
func (lc *leakCheck) snapshot(t *testing.T, s *Server) {
	t.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		t.Fatal("snapshot: server not running")
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.procs = append(lc.procs, p.id)
	lc.procs = append(lc.procs, descendants(p.id.pid)...)
}

// verify reports watched users and processes that survived cleanup.
func (lc *leakCheck) verify(t *testing.T) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, id := range lc.procs {
		if alive(id) {
			cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(id.pid) + "/cmdline")
			t.Errorf("process %d (%q) survived cleanup", id.pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		}
	}
	for _, u := range lc.users {
		out, _ := exec.Command("getent", "passwd", u.Name).Output()
		if len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("user %s survived cleanup: %s", u.Name, out)
		}
		if out, _ := exec.Command("getent", "group", u.Name).Output(); len(bytes.TrimSpace(out)) != 0 {
			t.Errorf("group %s survived cleanup: %s", u.Name, out)
		}
		if _, err := os.Stat(u.Home); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("home %s of %s survived cleanup (stat: %v)", u.Home, u.Name, err)
		}
		if _, err := os.Stat(filepath.Join("/etc/sudoers.d", u.Name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("sudoers entry of %s survived cleanup (stat: %v)", u.Name, err)
		}
		if procs := userProcs(u.UID); len(procs) != 0 {
			t.Errorf("processes of %s (uid %d) survived cleanup: %v", u.Name, u.UID, procs)
		}
	}
}

// knownHostsFile writes the server's known_hosts lines into a fresh Env's
// ~/.ssh/known_hosts and returns its path.
func knownHostsFile(t *testing.T, s *Server) string {
	t.Helper()
	env := NewEnv(t)
	path := filepath.Join(env.Home, ".ssh", "known_hosts")
	s.WriteKnownHosts(t, path)
	return path
}

// dial connects to s as name, checking the host key against the known_hosts
// file and against HostKeyFingerprint, and returns the client and the
// fingerprint of the key the server showed.
func dial(t *testing.T, s *Server, knownHosts, name string, hostKeyAlgos []string, auth ...ssh.AuthMethod) (*ssh.Client, string, error) {
	t.Helper()
	check, err := knownhosts.New(knownHosts)
	if err != nil {
		t.Fatalf("read known_hosts: %v", err)
	}
	var seen string
	cfg := &ssh.ClientConfig{
		User: name,
		Auth: auth,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			if err := check(host, remote, key); err != nil {
				return err
			}
			seen = ssh.FingerprintSHA256(key)
			if want := s.HostKeyFingerprint(key.Type()); seen != want {
				t.Errorf("host key %s fingerprint %s, HostKeyFingerprint says %s", key.Type(), seen, want)
			}
			return nil
		},
		HostKeyAlgorithms: hostKeyAlgos,
		Timeout:           10 * time.Second,
	}
	c, err := ssh.Dial("tcp", s.Addr, cfg)
	if err != nil {
		return nil, "", err
	}
	t.Cleanup(func() { c.Close() })
	return c, seen, nil
}

// mustDial is dial failing the test on error.
func mustDial(t *testing.T, s *Server, knownHosts, name string, auth ...ssh.AuthMethod) *ssh.Client {
	t.Helper()
	c, _, err := dial(t, s, knownHosts, name, nil, auth...)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", s.Addr, name, err)
	}
	return c
}

// output runs cmd in a new session and returns its trimmed stdout.
func output(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	defer sess.Close()
	var stderr bytes.Buffer
	sess.Stderr = &stderr
	out, err := sess.Output(cmd)
	if err != nil {
		t.Fatalf("run %q: %v (stderr: %s)", cmd, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// keyAuth loads a private key file as an auth method.
func keyAuth(t *testing.T, path, passphrase string) ssh.AuthMethod {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read key: %v", err)
	}
	var s ssh.Signer
	if passphrase == "" {
		s, err = ssh.ParsePrivateKey(b)
	} else {
		s, err = ssh.ParsePrivateKeyWithPassphrase(b, []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("parse key %s: %v", path, err)
	}
	return ssh.PublicKeys(s)
}

// agentAuth returns an auth method using the agent at sock.
func agentAuth(t *testing.T, sock string) ssh.AuthMethod {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatalf("dial agent: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return ssh.PublicKeysCallback(agent.NewClient(conn).Signers)
}

func TestAuthMethods(t *testing.T) {
	t.Parallel()
	lc := newLeakCheck(t)
	u := lc.user(NewUser(t))
	s := Start(t, WithUsers(u))
	kh := knownHostsFile(t, s)
	sock := StartAgent(t, u.KeyPath)

	for _, p := range []string{u.KeyPath, u.EncKeyPath, u.RSAKeyPath} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key %s: mode %v, err %v; want 0600", p, fi.Mode().Perm(), err)
		}
	}

	tests := []struct {
		name string
		auth func() ssh.AuthMethod
	}{
		{"ed25519 key", func() ssh.AuthMethod { return keyAuth(t, u.KeyPath, "") }},
		{"encrypted key", func() ssh.AuthMethod { return keyAuth(t, u.EncKeyPath, u.Passphrase) }},
		{"rsa key", func() ssh.AuthMethod { return keyAuth(t, u.RSAKeyPath, "") }},
		{"signer", func() ssh.AuthMethod { return ssh.PublicKeys(u.Signer(t)) }},
		{"password", func() ssh.AuthMethod { return ssh.Password(u.Password) }},
		{"keyboard-interactive", func() ssh.AuthMethod {
			return ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
				answers := make([]string, len(qs))
				for i := range qs {
					answers[i] = u.Password
				}
				return answers, nil
			})
		}},
		{"agent", func() ssh.AuthMethod { return agentAuth(t, sock) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustDial(t, s, kh, u.Name, tc.auth())
			lc.snapshot(t, s)
			if got := output(t, c, "id -un"); got != u.Name {
				t.Errorf("id -un = %q, want %q", got, u.Name)
			}
		})
	}

	t.Run("wrong password", func(t *testing.T) {
		if _, _, err := dial(t, s, kh, u.Name, nil, ssh.Password("not-"+u.Password)); err == nil {
			t.Error("dial with a wrong password succeeded")
		}
	})
	t.Run("unknown host key", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := dial(t, s, empty, u.Name, nil, keyAuth(t, u.KeyPath, ""))
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			t.Errorf("dial with empty known_hosts: %v, want *knownhosts.KeyError", err)
		}
	})
}

func TestHostKeys(t *testing.T) {
	t.Parallel()
	u := NewUser(t)
	s := Start(t, WithUsers(u))
	kh := knownHostsFile(t, s)

	if n := strings.Count(s.KnownHostsLine(), "\n") + 1; n != 3 {
		t.Errorf("KnownHostsLine has %d lines, want 3:\n%s", n, s.KnownHostsLine())
	}
	for _, line := range strings.Split(s.KnownHostsLine(), "\n") {
		if !strings.HasPrefix(line, "[127.0.0.1]:"+strconv.Itoa(s.Port)+" ") {
			t.Errorf("known_hosts line %q does not start with [127.0.0.1]:%d", line, s.Port)
		}
	}
	tests := []struct {
		algo, keyType, short string
	}{
		{ssh.KeyAlgoED25519, ssh.KeyAlgoED25519, "ed25519"},
		{ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA256, "ecdsa"},
		{ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA, "rsa"},
	}
	for _, tc := range tests {
		t.Run(tc.short, func(t *testing.T) {
			c, fp, err := dial(t, s, kh, u.Name, []string{tc.algo}, keyAuth(t, u.KeyPath, ""))
			if err != nil {
				t.Fatalf("dial with host key algorithm %s: %v", tc.algo, err)
			}
			if want := s.HostKeyFingerprint(tc.keyType); fp != want || !strings.HasPrefix(fp, "SHA256:") {
				t.Errorf("fingerprint %q, want %q", fp, want)
			}
			if s.HostKeyFingerprint(tc.short) != s.HostKeyFingerprint(tc.keyType) {
				t.Errorf("HostKeyFingerprint(%q) differs from HostKeyFingerprint(%q)", tc.short, tc.keyType)
			}
			if got := output(t, c, "id -un"); got != u.Name {
				t.Errorf("id -un = %q, want %q", got, u.Name)
			}
		})
	}
	cb := s.HostKeyCallback()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := cb(s.Addr, nil, other.PublicKey()); err == nil {
		t.Error("HostKeyCallback accepted a foreign key")
	}
	if err := cb("127.0.0.1:1", nil, s.HostKey("ed25519")); err == nil {
		t.Error("HostKeyCallback accepted the key for another address")
	}
	for _, k := range s.HostKeys() {
		if err := cb(s.Addr, nil, k); err != nil {
			t.Errorf("HostKeyCallback refused host key %s: %v", k.Type(), err)
		}
	}
	if fp := s.HostKeyFingerprint("ssh-dss"); fp != "" {
		t.Errorf("HostKeyFingerprint(ssh-dss) = %q, want empty", fp)
	}
}

func TestSubsystemsAndForwarding(t *testing.T) {
	t.Parallel()
	u := NewUser(t)
	s := Start(t, WithUsers(u))
	c, err := ssh.Dial("tcp", s.Addr, s.ClientConfig(t, u))
	if err != nil {
		t.Fatalf("dial with ClientConfig: %v", err)
	}
	defer c.Close()

	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.RequestSubsystem("sftp"); err != nil {
		t.Errorf("request sftp subsystem: %v", err)
	}

	// A direct-tcpip channel to the server itself reads its banner.
	conn, err := c.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatalf("forward to %s: %v", s.Addr, err)
	}
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		t.Errorf("banner through forward: %q, %v", line, err)
	}
}

func TestKillConnections(t *testing.T) {
	t.Parallel()
	lc := newLeakCheck(t)
	u := lc.user(NewUser(t))
	s := Start(t, WithUsers(u))
	kh := knownHostsFile(t, s)
	auth := keyAuth(t, u.KeyPath, "")

	c := mustDial(t, s, kh, u.Name, auth)
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	sess.Stdout = &out
	if err := sess.Start("echo started; exec sleep 60"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "started") })
	lc.snapshot(t, s)
	pid := s.PID()
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	s.KillConnections()

	select {
	case err := <-done:
		if err == nil {
			t.Error("session.Wait returned nil after KillConnections")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("session.Wait did not return within 10s of KillConnections")
	}
	if got := s.PID(); got != pid {
		t.Errorf("listener pid %d after KillConnections, want %d", got, pid)
	}
	c2 := mustDial(t, s, kh, u.Name, auth)
	if got := output(t, c2, "id -un"); got != u.Name {
		t.Errorf("id -un = %q, want %q", got, u.Name)
	}
}

// syncBuffer is a bytes.Buffer safe for a session's copy goroutine and a
// polling test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	lc := newLeakCheck(t)
	u := lc.user(NewUser(t))
	s := Start(t, WithUsers(u))
	kh := knownHostsFile(t, s)
	auth := keyAuth(t, u.KeyPath, "")

	c, fp1, err := dial(t, s, kh, u.Name, nil, auth)
	if err != nil {
		t.Fatal(err)
	}
	lc.snapshot(t, s)
	port, pid := s.Port, s.PID()

	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	s.Kill()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("client still connected 10s after Kill")
	}
	if s.PID() != 0 {
		t.Errorf("PID() = %d after Kill, want 0", s.PID())
	}
	if conn, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("dial %s succeeded after Kill", s.Addr)
	}

	s.Restart(t)
	lc.snapshot(t, s)
	if s.Port != port {
		t.Errorf("port %d after Restart, want %d", s.Port, port)
	}
	if s.PID() == pid || s.PID() == 0 {
		t.Errorf("PID() = %d after Restart (was %d)", s.PID(), pid)
	}
	c2, fp2, err := dial(t, s, kh, u.Name, nil, auth)
	if err != nil {
		t.Fatalf("dial after Restart with the old known_hosts: %v", err)
	}
	if fp1 != fp2 {
		t.Errorf("host key changed across Restart: %s, then %s", fp1, fp2)
	}

	// Restart of a running server drops its connections.
	done2 := make(chan error, 1)
	go func() { done2 <- c2.Wait() }()
	s.Restart(t)
	select {
	case <-done2:
	case <-time.After(10 * time.Second):
		t.Fatal("client still connected 10s after Restart")
	}
	c3 := mustDial(t, s, kh, u.Name, auth)
	if got := output(t, c3, "id -un"); got != u.Name {
		t.Errorf("id -un = %q, want %q", got, u.Name)
	}

	s.Stop()
	s.Stop() // idempotent
	if s.PID() != 0 {
		t.Errorf("PID() = %d after Stop, want 0", s.PID())
	}
}

func TestRoot(t *testing.T) {
	t.Parallel()
	_, errBefore := os.Stat("/root/.ssh")
	lc := newLeakCheck(t)
	s := Start(t, WithRoot())
	if s.Root == nil || s.Root.Name != "root" || s.Root.UID != 0 {
		t.Fatalf("Server.Root = %+v, want root", s.Root)
	}
	if s.Root.Home == "/root" {
		t.Fatal("Root().Home is root's real home")
	}
	c := mustDial(t, s, knownHostsFile(t, s), "root", keyAuth(t, s.Root.KeyPath, ""))
	lc.snapshot(t, s)
	if got := output(t, c, "id -un"); got != "root" {
		t.Errorf("id -un = %q, want root", got)
	}
	if _, err := os.Stat("/root/.ssh"); errors.Is(errBefore, os.ErrNotExist) && !errors.Is(err, os.ErrNotExist) {
		t.Error("/root/.ssh was created")
	}
}

func TestRootKeyWithoutWithRoot(t *testing.T) {
	t.Parallel()
	r := Root(t)
	s := Start(t, WithUsers(r))
	if s.Root != r {
		t.Error("Server.Root is not the root User passed to WithUsers")
	}
	kh := knownHostsFile(t, s)
	c := mustDial(t, s, kh, "root", ssh.PublicKeys(r.Signer(t)))
	if got := output(t, c, "id -un"); got != "root" {
		t.Errorf("id -un = %q, want root", got)
	}
	if !strings.Contains(readFile(t, s.ConfigPath), "PermitRootLogin prohibit-password\n") {
		t.Error("sshd_config lacks PermitRootLogin prohibit-password without WithRoot")
	}
}

func TestSudo(t *testing.T) {
	t.Parallel()
	lc := newLeakCheck(t)
	nopw := lc.user(NewUser(t, WithSudo(SudoNoPassword)))
	pw := lc.user(NewUser(t, WithSudo(SudoPassword)))
	none := lc.user(NewUser(t))
	s := Start(t, WithUsers(nopw, pw, none))
	kh := knownHostsFile(t, s)

	for _, u := range []*User{nopw, pw} {
		fi, err := os.Stat(u.SudoersPath)
		if err != nil || fi.Mode().Perm() != 0o440 {
			t.Errorf("sudoers entry %s: %v, %v; want mode 0440", u.SudoersPath, fi, err)
		}
	}

	c := mustDial(t, s, kh, nopw.Name, ssh.PublicKeys(nopw.Signer(t)))
	if got := output(t, c, "sudo -n id -un"); got != "root" {
		t.Errorf("NOPASSWD sudo: id -un = %q, want root", got)
	}

	c = mustDial(t, s, kh, pw.Name, ssh.PublicKeys(pw.Signer(t)))
	if err := run1(c, "sudo -n true", ""); err == nil {
		t.Error("sudo -n without password succeeded for a SudoPassword user")
	}
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.Stdin = strings.NewReader(pw.Password + "\n")
	out, err := sess.Output("sudo -S -p '' id -un")
	if err != nil || strings.TrimSpace(string(out)) != "root" {
		t.Errorf("sudo -S with password: %q, %v; want root", out, err)
	}

	c = mustDial(t, s, kh, none.Name, ssh.PublicKeys(none.Signer(t)))
	if err := run1(c, "sudo -n true", ""); err == nil {
		t.Error("sudo succeeded for a user without a sudo rule")
	}
}

// run1 runs cmd with stdin and returns its error.
func run1(c *ssh.Client, cmd, stdin string) error {
	sess, err := c.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	sess.Stdin = strings.NewReader(stdin)
	return sess.Run(cmd)
}

func TestWithConfig(t *testing.T) {
	t.Parallel()
	u := NewUser(t)
	s := Start(t, WithUsers(u), WithConfig(
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"Match User nobody",
		"  AllowTcpForwarding no",
	))
	kh := knownHostsFile(t, s)
	if _, _, err := dial(t, s, kh, u.Name, nil, ssh.Password(u.Password)); err == nil {
		t.Error("password login succeeded with PasswordAuthentication no")
	}
	c := mustDial(t, s, kh, u.Name, ssh.PublicKeys(u.Signer(t)))
	if got := output(t, c, "id -un"); got != u.Name {
		t.Errorf("id -un = %q, want %q", got, u.Name)
	}
}

func TestQuietLogAndWithPort(t *testing.T) {
	t.Parallel()
	u := NewUser(t)
	s := Start(t, WithUsers(u), WithConfig("LogLevel QUIET"))
	kh := knownHostsFile(t, s)
	port := s.Port
	s.Stop()

	// A second server on the port the first one left.
	s2 := Start(t, WithUsers(u), WithPort(port))
	if s2.Port != port || s2.Addr != s.Addr {
		t.Errorf("WithPort(%d): listening on %s", port, s2.Addr)
	}
	// Host keys differ: the old known_hosts must refuse the new server.
	if _, _, err := dial(t, s2, kh, u.Name, nil, ssh.PublicKeys(u.Signer(t))); err == nil {
		t.Error("dial a new server with the old server's known_hosts succeeded")
	}
	c := mustDial(t, s2, knownHostsFile(t, s2), u.Name, ssh.PublicKeys(u.Signer(t)))
	if got := output(t, c, "id -un"); got != u.Name {
		t.Errorf("id -un = %q, want %q", got, u.Name)
	}
}

func TestConfigText(t *testing.T) {
	s := &Server{Host: "127.0.0.1", Dir: "/x", cfg: serverConfig{extra: []string{
		"PasswordAuthentication no",
		"Subsystem sftp internal-sftp",
		"ChallengeResponseAuthentication no",
		"Match User bob",
		"  X11Forwarding yes",
	}}}
	text := s.configText(2222)
	for _, want := range []string{"ListenAddress 127.0.0.1:2222\n", "HostKey /x/ssh_host_ed25519_key\n",
		"AuthorizedKeysFile /x/authorized_keys/%u\n", "StrictModes no\n", "PermitRootLogin prohibit-password\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("config lacks %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"PasswordAuthentication yes", "Subsystem sftp /", "KbdInteractiveAuthentication yes"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("config holds overridden default %q:\n%s", unwanted, text)
		}
	}
	if i, j := strings.Index(text, "PasswordAuthentication no"), strings.Index(text, "ListenAddress"); i < 0 || i > j {
		t.Errorf("extra lines are not first:\n%s", text)
	}
	if !strings.HasSuffix(text, "Match User bob\n  X11Forwarding yes\n") {
		t.Errorf("Match block is not last:\n%s", text)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "/nonexistent/agent.sock")
	t.Setenv("MCP_REMOTE_SSH_PASSWORD", "outer-secret")
	e := NewEnv(t)
	for _, d := range []string{filepath.Join(e.Home, ".ssh"), e.RuntimeDir, filepath.Dir(e.Socket)} {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a 0700 dir", d, fi, err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(e.Home, ".ssh")); len(entries) != 0 {
		t.Errorf("~/.ssh is not empty: %v", entries)
	}
	if len(e.Socket) > 60 {
		t.Errorf("socket path %q is %d bytes: not short", e.Socket, len(e.Socket))
	}

	env := e.Environ()
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := got[k]; dup {
			t.Errorf("Environ sets %s twice", k)
		}
		got[k] = v
	}
	for k, v := range map[string]string{"HOME": e.Home, "XDG_RUNTIME_DIR": e.RuntimeDir, "XDG_STATE_HOME": e.StateDir,
		"XDG_CACHE_HOME": e.CacheDir, "XDG_CONFIG_HOME": e.ConfigDir, "MCP_REMOTE_SSH_SOCKET": e.Socket} {
		if got[k] != v {
			t.Errorf("Environ %s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range []string{"SSH_AUTH_SOCK", "MCP_REMOTE_SSH_PASSWORD"} {
		if _, ok := got[k]; ok {
			t.Errorf("Environ keeps %s", k)
		}
	}

	e.Setenv(t)
	if os.Getenv("HOME") != e.Home || os.Getenv("MCP_REMOTE_SSH_SOCKET") != e.Socket {
		t.Error("Setenv did not set HOME and MCP_REMOTE_SSH_SOCKET")
	}
	for _, k := range []string{"SSH_AUTH_SOCK", "MCP_REMOTE_SSH_PASSWORD"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Errorf("Setenv left %s set", k)
		}
	}

	e.AgentSocket = "/tmp/agent.sock"
	if !contains(e.Environ(), "SSH_AUTH_SOCK=/tmp/agent.sock") {
		t.Error("Environ does not export AgentSocket as SSH_AUTH_SOCK")
	}
}

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestParseStat(t *testing.T) {
	p, err := parseStat(42, "42 (a) b (c)) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0")
	if err != nil {
		t.Fatal(err)
	}
	if p.ppid != 7 || p.start != 12345 || p.zombie {
		t.Errorf("parseStat = %+v", p)
	}
	if _, err := parseStat(1, "1 (x"); err == nil {
		t.Error("parseStat accepted a truncated line")
	}
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot(startDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("module root %s has no go.mod: %v", root, err)
	}
	if _, err := moduleRoot("/"); err == nil {
		t.Error("moduleRoot(/) found a go.mod")
	}
}

func TestBuildBinary(t *testing.T) {
	root, err := moduleRoot(startDir)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "*.go")); len(m) == 0 {
		t.Skip("no main package at the module root yet")
	}
	path := BuildBinary(t)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("built binary %s: %v, %v", path, fi, err)
	}
	if again := BuildBinary(t); again != path {
		t.Errorf("second BuildBinary = %s, want %s (built once)", again, path)
	}
}

func TestBuildIn(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.21\n",
		"main.go": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path, err := buildIn(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(path)) })
	if filepath.Base(path) != BinaryName {
		t.Errorf("binary %s, want name %s", path, BinaryName)
	}
	out, err := exec.Command(path).Output()
	if err != nil || string(out) != "hello\n" {
		t.Errorf("built binary printed %q, %v", out, err)
	}

	if err := os.WriteFile(filepath.Join(root, "main.go"), []byte("package main\nfunc main() { undefined() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := buildIn(root); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("build of broken code: %v, want the compiler's message", err)
	}
}

// readFile returns a file's content, failing the test on error.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
