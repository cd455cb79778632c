package sshdtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// readyTimeout bounds how long Start waits for sshd to listen.
const readyTimeout = 10 * time.Second

// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const stopTimeout = 5 * time.Second

// hostKeyTypes are the host keys every server gets, in HostKey order.
var hostKeyTypes = []struct {
	name, algo, bits string
}{
	{"ed25519", ssh.KeyAlgoED25519, ""},
	{"ecdsa", ssh.KeyAlgoECDSA256, "256"},
	{"rsa", ssh.KeyAlgoRSA, "2048"},
}

// Server is a running OpenSSH sshd on 127.0.0.1, started by [Start] and
// stopped at tb.Cleanup.
type Server struct {
	// Host is "127.0.0.1".
	Host string
	// Port is the TCP port sshd listens on; it stays the same across Restart.
	Port int
	// Addr is Host:Port.
	Addr string
	// Dir is the server's temporary directory: sshd_config, host keys,
	// sshd.pid, sshd.log and authorized_keys/<user>.
	Dir string
	// ConfigPath is the sshd_config file.
	ConfigPath string
	// LogPath is the file sshd logs to (LogLevel DEBUG1, -e), appended to
	// across restarts.
	LogPath string
	// Users are the accounts whose keys the server authorizes.
	Users []*User
	// Root is root's User when the server was started with [WithRoot] (or
	// root was passed to [WithUsers]), else nil.
	Root *User

	tb       testing.TB
	cfg      serverConfig
	hostKeys map[string]ssh.PublicKey // by key algorithm

	mu        sync.Mutex
	proc      *sshdProc // nil while stopped
	leftovers []procID  // processes spared by Kill and KillConnections
}

// sshdProc is one run of the sshd listener.
type sshdProc struct {
	cmd    *exec.Cmd
	id     procID
	exited chan struct{} // closed once Wait returns
	err    error         // Wait's result, set before exited is closed
}

// Option configures [Start].
type Option func(*serverConfig)

// serverConfig collects the options of Start.
type serverConfig struct {
	users []*User
	root  bool
	extra []string
	port  int
}

// WithUsers authorizes the keys of the given users (written to
// Dir/authorized_keys/<name>).
func WithUsers(u ...*User) Option {
	return func(c *serverConfig) { c.users = append(c.users, u...) }
}

// WithRoot allows root to log in (PermitRootLogin yes) and authorizes root's
// keys: those of a root User passed to [WithUsers], or else of a fresh one
// from [Root], available as Server.Root.
func WithRoot() Option {
	return func(c *serverConfig) { c.root = true }
}

// WithConfig adds sshd_config lines. They are written before the helper's
// own lines, since sshd keeps the first value of most keywords, and a
// default line whose keyword they set is left out, so they always win.
// ListenAddress, Port, HostKey and PidFile are managed by the helper and
// cannot be changed. Lines from the first Match line on are written at the
// end of the file.
func WithConfig(lines ...string) Option {
	return func(c *serverConfig) { c.extra = append(c.extra, lines...) }
}

// WithPort makes sshd listen on the given port instead of a random free one,
// for instance to start a new server where an old one listened.
func WithPort(port int) Option {
	return func(c *serverConfig) { c.port = port }
}

// Start starts `/usr/sbin/sshd -D -e -f Dir/sshd_config` on 127.0.0.1 with a
// free port, its own ed25519, ECDSA and RSA host keys, StrictModes no,
// AuthorizedKeysFile Dir/authorized_keys/%u, password, keyboard-interactive
// (PAM) and public key authentication, TCP forwarding, the sftp subsystem and
// LogLevel DEBUG1. It returns once sshd has bound the port (its PidFile
// names it) and a dial reads its SSH banner, within 10 s. tb.Cleanup stops
// it and kills its per-connection children; when the test failed, the sshd
// log is printed.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	Require(tb)
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{Host: "127.0.0.1", tb: tb, cfg: cfg, hostKeys: make(map[string]ssh.PublicKey)}

	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		tb.Fatalf("sshdtest: create sshd privilege separation dir /run/sshd: %v", err)
	}

	// sshd reads authorized_keys with the user's uid, so the directory must
	// be searchable by everyone (a tb.TempDir is 0700).
	dir, err := tempDir("", "sshd")
	if err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("sshdtest: remove server dir: %v", err)
		}
	})
	s.Dir = dir
	s.ConfigPath = filepath.Join(dir, "sshd_config")
	s.LogPath = filepath.Join(dir, "sshd.log")
	if err := os.Chmod(dir, 0o711); err != nil {
		tb.Fatalf("sshdtest: chmod server dir: %v", err)
	}
	if err := os.Mkdir(s.authorizedKeysDir(), 0o755); err != nil {
		tb.Fatalf("sshdtest: create authorized_keys dir: %v", err)
	}

	if err := s.generateHostKeys(); err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}

	s.Users = append(s.Users, cfg.users...)
	for _, u := range s.Users {
		if u.Name == "root" {
			s.Root = u
		}
	}
	if cfg.root && s.Root == nil {
		s.Root = Root(tb)
		s.Users = append(s.Users, s.Root)
	}
	for _, u := range s.Users {
		if err := s.authorize(u); err != nil {
			tb.Fatalf("sshdtest: %v", err)
		}
	}

	// Cleanups run last-in first-out: the log is printed after the stop.
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("sshd log (%s):\n%s", s.LogPath, s.Log())
		}
	})
	tb.Cleanup(s.Stop)

	if err := s.start(); err != nil {
		tb.Fatalf("sshdtest: start sshd: %v", err) // the log follows at cleanup
	}
	return s
}

// authorizedKeysDir is where the per-user authorized_keys files live.
func (s *Server) authorizedKeysDir() string {
	return filepath.Join(s.Dir, "authorized_keys")
}

// AuthorizedKeysPath returns the authorized_keys file sshd reads for the
// named user. Tests may rewrite it (keep it readable by that user).
func (s *Server) AuthorizedKeysPath(name string) string {
	return filepath.Join(s.authorizedKeysDir(), name)
}

// authorize writes the user's public keys to its authorized_keys file,
// owned by the user since sshd reads it with the user's uid.
func (s *Server) authorize(u *User) error {
	keys, err := u.AuthorizedKeys()
	if err != nil {
		return fmt.Errorf("authorize %s: %w", u.Name, err)
	}
	path := s.AuthorizedKeysPath(u.Name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("authorize %s: %w", u.Name, err)
	}
	_, werr := f.WriteString(keys)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("authorize %s: write %s: %w", u.Name, path, err)
	}
	if err := os.Chown(path, u.UID, u.GID); err != nil {
		return fmt.Errorf("authorize %s: chown %s: %w", u.Name, path, err)
	}
	return nil
}

// generateHostKeys makes the host keys in Dir and loads their public halves.
func (s *Server) generateHostKeys() error {
	errs := make([]error, len(hostKeyTypes))
	var wg sync.WaitGroup
	for i, k := range hostKeyTypes {
		wg.Go(func() {
			errs[i] = keygen(s.hostKeyPath(k.name), k.name, k.bits, "", "sshdtest-host")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("generate host keys: %w", err)
	}
	for _, k := range hostKeyTypes {
		b, err := os.ReadFile(s.hostKeyPath(k.name) + ".pub")
		if err != nil {
			return fmt.Errorf("read %s host key: %w", k.name, err)
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return fmt.Errorf("parse %s host key: %w", k.name, err)
		}
		s.hostKeys[pub.Type()] = pub
	}
	return nil
}

// hostKeyPath is the private host key file of the given type name.
func (s *Server) hostKeyPath(name string) string {
	return filepath.Join(s.Dir, "ssh_host_"+name+"_key")
}

// configText renders sshd_config for the given port.
func (s *Server) configText(port int) string {
	var head, match []string
	for i, l := range s.cfg.extra {
		if configKey(l) == "match" {
			match = s.cfg.extra[i:]
			break
		}
		head = append(head, l)
	}
	set := make(map[string]bool)
	for _, l := range head {
		set[configKey(l)] = true
	}

	var b strings.Builder
	b.WriteString("# Written by internal/sshdtest.\n")
	if len(head) > 0 {
		b.WriteString("# Lines from WithConfig.\n")
		for _, l := range head {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("# Managed by sshdtest.\n")
	fmt.Fprintf(&b, "ListenAddress %s:%d\n", s.Host, port)
	for _, k := range hostKeyTypes {
		fmt.Fprintf(&b, "HostKey %s\n", s.hostKeyPath(k.name))
	}
	fmt.Fprintf(&b, "PidFile %s\n", s.pidFile())
	b.WriteString("# Defaults.\n")
	permitRoot := "prohibit-password"
	if s.cfg.root {
		permitRoot = "yes"
	}
	defaults := []string{
		"StrictModes no",
		"AuthorizedKeysFile " + filepath.Join(s.authorizedKeysDir(), "%u"),
		"PubkeyAuthentication yes",
		"PasswordAuthentication yes",
		"KbdInteractiveAuthentication yes",
		"UsePAM yes",
		"PermitRootLogin " + permitRoot,
		"LogLevel DEBUG1",
		"Subsystem sftp " + sftpServer(),
		"AllowTcpForwarding yes",
		"X11Forwarding no",
		"PrintMotd no",
		"PrintLastLog no",
		"UseDNS no",
	}
	if sshdAtLeast(9, 8) {
		// Many failed logins from 127.0.0.1 in one test package must not get
		// the address refused.
		defaults = append(defaults, "PerSourcePenalties no")
	}
	aliases := map[string]string{
		"challengeresponseauthentication": "kbdinteractiveauthentication",
	}
	for k, v := range aliases {
		if set[k] {
			set[v] = true
		}
	}
	for _, l := range defaults {
		if !set[configKey(l)] {
			b.WriteString(l + "\n")
		}
	}
	for _, l := range match {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// configKey returns the lowercased keyword of an sshd_config line ("" for a
// blank or comment line); Subsystem keys include the subsystem name.
func configKey(line string) string {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return ""
	}
	f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '=' })
	if len(f) == 0 {
		return ""
	}
	key := strings.ToLower(f[0])
	if key == "subsystem" && len(f) > 1 {
		key += " " + f[1]
	}
	return key
}

// sftpServer returns the sftp-server binary, or internal-sftp without one.
func sftpServer() string {
	for _, p := range []string{"/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return "internal-sftp"
}

// sshdVersion caches the OpenSSH version of SSHDPath.
var sshdVersion = sync.OnceValues(func() (major, minor int) {
	out, _ := exec.Command(SSHDPath, "-V").CombinedOutput()
	m := regexp.MustCompile(`OpenSSH_(\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil {
		return 0, 0
	}
	major, _ = strconv.Atoi(string(m[1]))
	minor, _ = strconv.Atoi(string(m[2]))
	return major, minor
})

// sshdAtLeast reports whether sshd is OpenSSH major.minor or newer.
func sshdAtLeast(major, minor int) bool {
	ma, mi := sshdVersion()
	return ma > major || ma == major && mi >= minor
}

// start launches sshd, picking a new free port and trying again (up to five
// times) when another process took the port between pick and bind. With a
// fixed port (WithPort, or after a first start) it retries that port.
func (s *Server) start() error {
	var lastErr error
	for range 5 {
		port := s.Port
		if port == 0 {
			port = s.cfg.port
		}
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return err
			}
			port = p
		}
		if err := os.WriteFile(s.ConfigPath, []byte(s.configText(port)), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", s.ConfigPath, err)
		}
		p, inUse, err := s.launch(port)
		if err == nil {
			s.mu.Lock()
			s.proc = p
			s.mu.Unlock()
			s.Port = port
			s.Addr = net.JoinHostPort(s.Host, strconv.Itoa(port))
			return nil
		}
		lastErr = err
		if !inUse {
			return err
		}
	}
	return fmt.Errorf("after 5 tries: %w", lastErr)
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// launch starts one sshd on port and waits until it is ready. inUse reports
// that sshd could not bind because the port was taken.
func (s *Server) launch(port int) (p *sshdProc, inUse bool, err error) {
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("open sshd log: %w", err)
	}
	defer logf.Close()
	fi, err := logf.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("stat sshd log: %w", err)
	}
	logStart := fi.Size()

	cmd := exec.Command(SSHDPath, "-D", "-e", "-f", s.ConfigPath)
	// An *os.File is handed to sshd as is: no copying goroutine, and
	// per-connection children log to the same file.
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("run %s: %w", SSHDPath, err)
	}
	p = &sshdProc{cmd: cmd, exited: make(chan struct{})}
	p.id = procID{pid: cmd.Process.Pid}
	if info, err := readProc(cmd.Process.Pid); err == nil {
		p.id = info.procID
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()

	// sshd writes its PidFile once its listening socket is bound: a banner
	// read while the file names this process comes from this sshd, not from
	// another process that took the port.
	addr := net.JoinHostPort(s.Host, strconv.Itoa(port))
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.exited:
			return nil, strings.Contains(s.logFrom(logStart), "Address already in use"),
				fmt.Errorf("sshd exited before it was ready: %v", p.err)
		default:
		}
		if s.pidFromFile() == p.id.pid && readBanner(addr) == nil {
			return p, false, nil
		}
		if time.Now().After(deadline) {
			s.killProc(p)
			return nil, false, fmt.Errorf("sshd not ready on %s after %v", addr, readyTimeout)
		}
		select {
		case <-p.exited:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// readBanner dials addr and reads the SSH identification line.
func readBanner(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return fmt.Errorf("set deadline on %s: %w", addr, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read banner from %s: %w", addr, err)
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("read banner from %s: got %q", addr, line)
	}
	return nil
}

// pidFile is sshd's PidFile.
func (s *Server) pidFile() string {
	return filepath.Join(s.Dir, "sshd.pid")
}

// pidFromFile returns the pid in sshd's PidFile, or 0.
func (s *Server) pidFromFile() int {
	b, err := os.ReadFile(s.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// logFrom returns the log from byte offset off on.
func (s *Server) logFrom(off int64) string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil || int64(len(b)) < off {
		return ""
	}
	return string(b[off:])
}

// Log returns everything sshd logged so far, across restarts.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(read sshd log: %v)", err)
	}
	return string(b)
}

// PID returns the process id of the sshd listener, or 0 while stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.id.pid
}

// Stop stops sshd gracefully: its per-connection children (and the commands
// they run) are killed, the listener gets SIGTERM and, if still running
// after 5 s, SIGKILL. Processes left over from Kill and KillConnections are
// killed too. Stop is idempotent and runs at tb.Cleanup.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.proc; p != nil {
		s.proc = nil
		// Freeze the listener so it accepts nothing while its children die.
		signal(p.id, syscall.SIGSTOP)
		killed, spared := killTree(p.id, false, nil)
		s.leftovers = append(s.leftovers, spared...)
		signal(p.id, syscall.SIGTERM)
		signal(p.id, syscall.SIGCONT)
		select {
		case <-p.exited:
		case <-time.After(stopTimeout):
			s.killProc(p)
		}
		s.waitGone(killed)
	}
	s.killLeftovers()
}

// Kill simulates an sshd crash: SIGKILL to the listener and every sshd
// process under it, so every connection drops at once. The commands those
// connections ran are not signalled (as after a real crash); they are killed
// at Stop or cleanup. Restart starts sshd again.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	s.proc = nil
	killed, spared := killTree(p.id, true, isSSHD)
	s.leftovers = append(s.leftovers, spared...)
	s.waitExited(p)
	s.waitGone(killed)
}

// KillConnections kills only the per-connection sshd processes, so every
// established connection drops as if the link broke, while the listener
// keeps accepting new ones. The commands those connections ran are not
// signalled; they are killed at Stop or cleanup.
func (s *Server) KillConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return
	}
	killed, spared := killTree(p.id, false, isSSHD)
	s.leftovers = append(s.leftovers, spared...)
	s.waitGone(killed)
}

// Restart stops sshd (dropping every connection) and starts it again on the
// same port with the same host keys and configuration.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		tb.Fatalf("sshdtest: restart sshd: %v", err) // the log follows at cleanup
	}
}

// killProc kills the listener with SIGKILL and waits for it.
func (s *Server) killProc(p *sshdProc) {
	signal(p.id, syscall.SIGKILL)
	s.waitExited(p)
}

// waitExited waits (bounded) for the listener to be reaped.
func (s *Server) waitExited(p *sshdProc) {
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		s.tb.Errorf("sshdtest: sshd (pid %d) still runs %v after SIGKILL", p.id.pid, stopTimeout)
	}
}

// killLeftovers kills the processes spared earlier, with their descendants.
func (s *Server) killLeftovers() {
	var killed []procID
	for _, id := range s.leftovers {
		if alive(id) {
			k, _ := killTree(id, true, nil)
			killed = append(killed, k...)
		}
	}
	s.leftovers = nil
	s.waitGone(killed)
}

// waitGone waits (bounded) until the killed processes are gone.
func (s *Server) waitGone(killed []procID) {
	if err := waitGone(killed, stopTimeout); err != nil {
		s.tb.Errorf("sshdtest: kill sshd children: %v", err)
	}
}

// HostKey returns the server's public host key of the given type: an SSH
// key type such as "ssh-ed25519", "ecdsa-sha2-nistp256" or "ssh-rsa" (or
// the RSA signature algorithms "rsa-sha2-256" and "rsa-sha2-512"), or the
// short names "ed25519", "ecdsa" and "rsa". It returns nil for any other
// type.
func (s *Server) HostKey(keyType string) ssh.PublicKey {
	if k, ok := s.hostKeys[keyType]; ok {
		return k
	}
	switch keyType {
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		return s.hostKeys[ssh.KeyAlgoRSA]
	}
	for _, t := range hostKeyTypes {
		if t.name == keyType {
			return s.hostKeys[t.algo]
		}
	}
	return nil
}

// HostKeys returns the server's public host keys: ed25519, ECDSA, RSA.
func (s *Server) HostKeys() []ssh.PublicKey {
	keys := make([]ssh.PublicKey, 0, len(hostKeyTypes))
	for _, t := range hostKeyTypes {
		keys = append(keys, s.hostKeys[t.algo])
	}
	return keys
}

// HostKeyFingerprint returns the "SHA256:..." fingerprint of the host key of
// the given type (see HostKey), or "" for an unknown type.
func (s *Server) HostKeyFingerprint(keyType string) string {
	k := s.HostKey(keyType)
	if k == nil {
		return ""
	}
	return ssh.FingerprintSHA256(k)
}

// HostKeyCallback returns a strict ssh.HostKeyCallback for in-process
// clients: it accepts exactly the server's host keys, presented for Addr
// (as it is at call time), and refuses anything else with an error naming
// the host and fingerprint.
func (s *Server) HostKeyCallback() ssh.HostKeyCallback {
	want := knownhosts.Normalize(s.Addr)
	keys := s.HostKeys()
	return func(hostname string, _ net.Addr, key ssh.PublicKey) error {
		if got := knownhosts.Normalize(hostname); got != want {
			return fmt.Errorf("host key for %s: expected host %s", got, want)
		}
		for _, k := range keys {
			if bytes.Equal(k.Marshal(), key.Marshal()) {
				return nil
			}
		}
		return fmt.Errorf("host key for %s: unknown %s key %s", want, key.Type(), ssh.FingerprintSHA256(key))
	}
}

// ClientConfig returns an ssh.ClientConfig logging in as u with its
// unencrypted ed25519 key (KeyPath) and checking the host key with
// HostKeyCallback, with a 10 s connect timeout.
func (s *Server) ClientConfig(tb testing.TB, u *User) *ssh.ClientConfig {
	tb.Helper()
	return &ssh.ClientConfig{
		User:            u.Name,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(u.Signer(tb))},
		HostKeyCallback: s.HostKeyCallback(),
		Timeout:         readyTimeout,
	}
}

// KnownHostsLine returns known_hosts lines for all host keys, one per key,
// such as "[127.0.0.1]:PORT ssh-ed25519 AAAA...", joined by newlines
// without a final newline.
func (s *Server) KnownHostsLine() string {
	lines := make([]string, 0, len(hostKeyTypes))
	for _, k := range s.HostKeys() {
		lines = append(lines, knownhosts.Line([]string{s.Addr}, k))
	}
	return strings.Join(lines, "\n")
}

// WriteKnownHosts appends KnownHostsLine to the known_hosts file at path,
// creating it (0600) and its directory (0700) when missing.
func (s *Server) WriteKnownHosts(tb testing.TB, path string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		tb.Fatalf("sshdtest: create dir of %s: %v", path, err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		tb.Fatalf("sshdtest: read %s: %v", path, err)
	}
	text := s.KnownHostsLine() + "\n"
	if len(old) > 0 && old[len(old)-1] != '\n' {
		text = "\n" + text
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatalf("sshdtest: open %s: %v", path, err)
	}
	_, werr := f.WriteString(text)
	if err := errors.Join(werr, f.Close()); err != nil {
		tb.Fatalf("sshdtest: write %s: %v", path, err)
	}
}
