//go:build linux

package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// Fault-test keepalive: a dead link is noticed within keepalive x (max+1).
const (
	keepalive    = time.Second
	keepaliveMax = 3
	// lostWithin bounds how long a call may take to report a dead link:
	// keepalive x (max+1) plus slack for a loaded CI machine.
	lostWithin = keepalive*(keepaliveMax+1) + 6*time.Second
)

// bed is a real sshd with a throwaway user and an isolated client home.
type bed struct {
	srv  *sshdtest.Server
	user *sshdtest.User
	env  *sshdtest.Env
	logs *syncBuffer
}

func newBed(t *testing.T, opts ...sshdtest.Option) *bed {
	t.Helper()
	sshdtest.Require(t)
	u := sshdtest.NewUser(t)
	srv := sshdtest.Start(t, append([]sshdtest.Option{sshdtest.WithUsers(u)}, opts...)...)
	b := &bed{srv: srv, user: u, env: sshdtest.NewEnv(t), logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("holder log:\n%s", b.logs.String())
		}
	})
	return b
}

// holder returns an in-process holder with the fault tests' short
// keepalive, closed at cleanup. cfg's zero fields take those defaults.
func (b *bed) holder(t *testing.T, cfg session.HolderConfig) *session.Holder {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = log.New(b.logs)
	}
	if cfg.Home == "" {
		cfg.Home = b.env.Home
	}
	if cfg.Keepalive == 0 {
		cfg.Keepalive, cfg.KeepaliveMax = keepalive, keepaliveMax
	}
	h := session.NewHolder(cfg)
	t.Cleanup(func() { h.Close() })
	return h
}

// connect opens a session to addr (host:port) as the bed's user.
func (b *bed) connect(t *testing.T, ctx context.Context, h *session.Holder, addr string) string {
	t.Helper()
	res, err := h.Connect(ctx, session.ConnectRequest{Host: b.user.Name + "@" + addr, KeyPath: b.user.KeyPath})
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	return res.SessionID
}

// remoteFile writes content to name in the user's home, owned by the user,
// and returns its path.
func (b *bed) remoteFile(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(b.user.Home, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, b.user.UID, b.user.GID); err != nil {
		t.Fatal(err)
	}
	return p
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
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

// waitFor polls cond every 20 ms until it holds or d passes.
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

// remoteAlive reports whether a process whose command line contains marker runs.
func remoteAlive(marker string) bool {
	return exec.Command("pgrep", "-f", marker).Run() == nil
}

// marker returns a command that sleeps for secs seconds with a unique
// command line to find it by (sleep's argument carries random digits).
func sleeper(secs int) (cmd, marker string) {
	n := make([]byte, 3)
	rand.Read(n)
	frac := fmt.Sprintf("%d.%07d", secs, int(n[0])<<16|int(n[1])<<8|int(n[2]))
	return "sleep " + frac, "sleep " + frac
}

func sessionState(t *testing.T, h *session.Holder, id string) string {
	t.Helper()
	list, err := h.ListSessions(context.Background(), session.ListSessionsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Sessions {
		if s.SessionID == id {
			return s.State
		}
	}
	return "absent"
}

// tempFiles lists the transfer temporary files (".NAME.mrs-tmp-*") in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.mrs-tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tempGrown reports whether a temporary file in dir holds at least n bytes.
func tempGrown(t *testing.T, dir string, n int64) bool {
	for _, p := range tempFiles(t, dir) {
		if fi, err := os.Stat(p); err == nil && fi.Size() >= n {
			return true
		}
	}
	return false
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// echoServer accepts connections on 127.0.0.1 and echoes them until the test ends.
func echoServer(t *testing.T) (addr string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
}

// echoThrough writes msg to addr and checks the echo, within d.
func echoThrough(addr string, msg []byte, d time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(d))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo of %d bytes: %w", len(msg), err)
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, msg) {
		return errors.New("echo differs")
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// netns is a network namespace of the test's own, joined to the test's
// namespace by a veth pair: the host side has .1, the namespace side .2 of
// a /30 in 10.200.0.0/16.
type netns struct {
	name, hostIf, nsIf string
	hostIP, nsIP       string
}

// newNetns creates the namespace and the veth pair, removed at cleanup
// together with every process still running in the namespace. It skips
// the test (with the reason) when namespaces cannot be made here, unless
// CI=true.
func newNetns(t *testing.T) *netns {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		skipOrFail(t, "iproute2 (ip) is missing: cannot create network namespaces")
	}
	id := randomHex(3)
	n := &netns{name: "mrs-" + id, hostIf: "mrsh" + id, nsIf: "mrsn" + id}
	if err := ipCmd("netns", "add", n.name); err != nil {
		skipOrFail(t, "cannot create a network namespace: "+err.Error())
	}
	t.Cleanup(n.remove)
	// A /30 nobody else on this machine uses.
	var third int
	for i := 0; ; i++ {
		b := make([]byte, 2)
		rand.Read(b)
		third = 1 + int(b[0])%250
		fourth := int(b[1]%63) * 4
		n.hostIP = fmt.Sprintf("10.200.%d.%d", third, fourth+1)
		n.nsIP = fmt.Sprintf("10.200.%d.%d", third, fourth+2)
		out, _ := exec.Command("ip", "-4", "addr").Output()
		if !bytes.Contains(out, []byte(n.hostIP+"/")) || i > 20 {
			break
		}
	}
	steps := [][]string{
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf},
		{"link", "set", n.nsIf, "netns", n.name},
		{"addr", "add", n.hostIP + "/30", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"netns", "exec", n.name, "ip", "addr", "add", n.nsIP + "/30", "dev", n.nsIf},
		{"netns", "exec", n.name, "ip", "link", "set", n.nsIf, "up"},
		{"netns", "exec", n.name, "ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			t.Fatalf("set up network namespace: %v", err)
		}
	}
	return n
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// setLink brings the host side of the veth pair up or down.
func (n *netns) setLink(t *testing.T, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	if err := ipCmd("link", "set", n.hostIf, state); err != nil {
		t.Fatal(err)
	}
}

// pids lists the processes in the namespace.
func (n *netns) pids() []int {
	out, _ := exec.Command("ip", "netns", "pids", n.name).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// remove kills every process in the namespace and deletes it with its veth pair.
func (n *netns) remove() {
	for range 50 {
		pids := n.pids()
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ipCmd("link", "del", n.hostIf) // deleting one end deletes both
	ipCmd("netns", "del", n.name)
}

// startSSHD runs a second sshd inside the namespace, on nsIP:22, with the
// configuration, host keys and users of srv. Its processes end with the
// namespace at cleanup.
func (n *netns) startSSHD(t *testing.T, srv *sshdtest.Server) string {
	t.Helper()
	cfg, err := os.ReadFile(srv.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var lines []string
	for _, l := range strings.Split(string(cfg), "\n") {
		switch {
		case strings.HasPrefix(l, "ListenAddress "):
			l = "ListenAddress " + n.nsIP + ":22"
		case strings.HasPrefix(l, "PidFile "):
			l = "PidFile " + filepath.Join(dir, "sshd.pid")
		}
		lines = append(lines, l)
	}
	cfgPath := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "sshd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("ip", "netns", "exec", n.name, sshdtest.SSHDPath, "-D", "-e", "-f", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Errorf("sshd in %s did not exit", n.name)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("namespace sshd log:\n%s", b)
		}
	})
	addr := net.JoinHostPort(n.nsIP, "22")
	ok := waitFor(10*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 4)
		_, err = io.ReadFull(c, b)
		return err == nil && string(b) == "SSH-"
	})
	select {
	case <-exited:
		b, _ := os.ReadFile(logPath)
		t.Fatalf("sshd in namespace %s exited:\n%s", n.name, b)
	default:
	}
	if !ok {
		t.Fatalf("sshd in namespace %s not ready on %s", n.name, addr)
	}
	return addr
}
