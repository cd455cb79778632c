package cmd_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
)

// rawDialEnv makes the test binary, re-executed, dial the unix socket it
// names and print the holder's answer (a client that is not our CLI, run as
// another uid, to prove the holder's SO_PEERCRED check).
const rawDialEnv = "MRS_E2E_RAW_DIAL"

func TestMain(m *testing.M) {
	if path := os.Getenv(rawDialEnv); path != "" {
		os.Exit(rawDial(path))
	}
	os.Exit(m.Run())
}

func rawDial(path string) int {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		fmt.Println("dial:", err)
		return 3
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /v1/version HTTP/1.1\r\nHost: holder\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		fmt.Println("read:", err)
		return 4
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d %s\n", resp.StatusCode, body)
	return 0
}

func TestHolderRace(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	const n = 50
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.runWith(runOpts{timeout: 60 * time.Second}, "sessions")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 || !strings.Contains(r.stderr, "no sessions") {
			t.Errorf("CLI %d: %v", i, r)
		}
		if strings.Contains(r.stderr, "previous holder") {
			t.Errorf("CLI %d saw a replaced holder: %v", i, r)
		}
	}
	pids := holderPIDs(h.env)
	if len(pids) != 1 {
		t.Fatalf("%d holder processes after %d racing CLIs, want 1: %v", len(pids), n, pids)
	}
	if got := h.holderPID(); got != pids[0] {
		t.Errorf("holder status says pid %d, the only holder process is %d", got, pids[0])
	}
}

func TestHolderKilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	want(t, h.run("connect", h.target(), "-i", h.user.KeyPath, "--name", "web"), 0)
	pid := h.holderPID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitFor(5*time.Second, func() bool { return !processAlive(pid) }) {
		t.Fatalf("holder %d survived SIGKILL", pid)
	}
	if _, err := os.Lstat(h.env.Socket); err != nil {
		t.Fatalf("a killed holder should leave its socket behind (the stale case under test): %v", err)
	}
	r := h.run("sessions")
	want(t, r, 0, "previous holder had stopped", "earlier sessions are gone", "no sessions")
	if r.elapsed > 5*time.Second {
		t.Errorf("the command after a killed holder took %v", r.elapsed)
	}
	if got := h.holderPID(); got == pid {
		t.Errorf("holder pid %d unchanged", got)
	}
	// The session is gone; its name is free again.
	want(t, h.run("exec", "web", "--", "true"), 255)
	want(t, h.run("connect", h.target(), "-i", h.user.KeyPath, "--name", "web"), 0)
	r = h.run("sessions")
	want(t, r, 0, "out:web")
	if strings.Contains(r.stderr, "previous holder") {
		t.Errorf("the notice should be given once: %v", r)
	}
}

func TestHolderKilledDuringExec(t *testing.T) {
	t.Parallel()
	h := newHarness(t, true)
	want(t, h.run("connect", h.target(), "-i", h.user.KeyPath, "--name", "web"), 0)
	pid := h.holderPID()
	r := h.runWith(runOpts{started: func(*exec.Cmd) {
		if !waitFor(20*time.Second, func() bool { return len(h.remoteProcs("sleep 3141")) > 0 }) {
			t.Errorf("the remote sleep 3141 never started")
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}}, "exec", "web", "--", "sleep 3141")
	want(t, r, 255, "holder_unavailable", "lost the holder")
	if r.elapsed > 20*time.Second {
		t.Errorf("took %v", r.elapsed)
	}
	want(t, h.run("sessions"), 0, "previous holder had stopped")
}

func TestHolderIdleExitAndLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	r := h.runWith(runOpts{env: []string{"MCP_REMOTE_SSH_IDLE=1s"}}, "sessions")
	want(t, r, 0, "no sessions")
	if strings.Contains(r.stderr, "holder") || r.stdout != "" {
		t.Errorf("the holder wrote to the terminal of the command that started it: %v", r)
	}
	pids := holderPIDs(h.env)
	if len(pids) != 1 {
		t.Fatalf("holders: %v", pids)
	}
	pid := pids[0]
	for fd := 0; fd <= 2; fd++ {
		if dst, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); err == nil && dst != "/dev/null" {
			t.Errorf("holder fd %d is %s, want /dev/null", fd, dst)
		}
	}
	if !waitFor(10*time.Second, func() bool { return !processAlive(pid) }) {
		t.Fatalf("holder with MCP_REMOTE_SSH_IDLE=1s and no sessions still runs after 10s")
	}
	if _, err := os.Lstat(h.env.Socket); err == nil {
		t.Errorf("the idle holder left its socket behind")
	}
	logPath := filepath.Join(h.env.StateDir, "mcp-remote-ssh", "holder.log")
	st, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("holder log mode %v, want 0600", st.Mode().Perm())
	}
	logData, _ := os.ReadFile(logPath)
	for _, w := range []string{"holder started", "idle", "holder stopped"} {
		if !strings.Contains(string(logData), w) {
			t.Errorf("holder log lacks %q:\n%s", w, logData)
		}
	}
	// The next command starts a new holder without the crash notice.
	r = h.run("sessions")
	want(t, r, 0)
	if strings.Contains(r.stderr, "previous holder") {
		t.Errorf("an idle exit is not a crash: %v", r)
	}
}

func TestHolderStopStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	want(t, h.run("holder", "status"), 1, "holder_unavailable", "no holder is running", h.env.Socket)
	want(t, h.run("holder", "stop"), 0, "no holder is running")
	if pids := holderPIDs(h.env); len(pids) != 0 {
		t.Fatalf("holder status or stop started a holder: %v", pids)
	}
	want(t, h.run("sessions"), 0)
	pid := h.holderPID()
	// stop returns once the holder no longer answers: the next command
	// starts a new one, with no crash notice.
	want(t, h.run("holder", "stop"), 0, "holder stopped")
	if _, err := os.Lstat(h.env.Socket); err == nil {
		t.Errorf("socket still there after holder stop")
	}
	r := h.run("sessions")
	want(t, r, 0)
	if strings.Contains(r.stderr, "previous holder") {
		t.Errorf("a stopped holder is not a crash: %v", r)
	}
	if got := h.holderPID(); got == pid {
		t.Errorf("same holder pid %d after stop", pid)
	}
	want(t, h.run("holder", "status", "extra"), 2, "no arguments")
}

func TestHolderVersionSkew(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	wd, _ := os.Getwd()
	other := filepath.Join(t.TempDir(), sshdtest.BinaryName)
	build := exec.Command("go", "build", "-o", other, "-ldflags", "-X main.version=other", ".")
	build.Dir = filepath.Dir(wd) // the module root (tests run in cmd/)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build a binary of another version: %v\n%s", err, out)
	}
	want(t, h.runWith(runOpts{bin: other}, "sessions"), 0)
	r := h.run("sessions")
	want(t, r, 1, "version_mismatch", "holder runs version other", "this command is version dev", "holder stop")
	r = h.run("holder", "status")
	want(t, r, 0, "out:version other")
	// holder stop works across versions, and then the command goes through.
	want(t, h.run("holder", "stop"), 0, "holder stopped")
	if !waitFor(5*time.Second, func() bool { return len(holderPIDs(h.env)) == 0 }) {
		t.Fatalf("old holder still runs after holder stop")
	}
	want(t, h.run("sessions"), 0, "no sessions")
	want(t, h.run("holder", "status"), 0, "out:version dev")
}

func TestSocketPathRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	other := sshdtest.NewUser(t)
	base := filepath.Dir(filepath.Dir(h.env.Socket))
	mk := func(name string) string {
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		return d
	}
	cases := []struct {
		name  string
		setup func() (socket, planted string)
		code  int
		want  []string
	}{
		{"symlink", func() (string, string) {
			d := mk("symlink")
			target := filepath.Join(d, "elsewhere.sock")
			os.Symlink(target, filepath.Join(d, "holder.sock"))
			return filepath.Join(d, "holder.sock"), filepath.Join(d, "holder.sock")
		}, 1, []string{"permission_denied", "is a symlink", "refusing"}},
		{"regular file", func() (string, string) {
			d := mk("file")
			p := filepath.Join(d, "holder.sock")
			os.WriteFile(p, []byte("precious"), 0o600)
			return p, p
		}, 1, []string{"permission_denied", "not a socket", "refusing"}},
		{"socket of another uid", func() (string, string) {
			d := mk("otheruid")
			p := filepath.Join(d, "holder.sock")
			ln, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			t.Cleanup(func() { ln.Close() })
			if err := os.Chown(p, other.UID, other.GID); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, 1, []string{"permission_denied", fmt.Sprintf("owned by uid %d", other.UID)}},
		{"directory of another user, mode 0777", func() (string, string) {
			d := mk("otherdir")
			os.Chown(d, other.UID, other.GID)
			os.Chmod(d, 0o777)
			return filepath.Join(d, "holder.sock"), d
		}, 1, []string{"permission_denied", "socket directory", fmt.Sprintf("owned by uid %d", other.UID)}},
		{"own directory writable by others", func() (string, string) {
			d := mk("loose")
			os.Chmod(d, 0o777)
			return filepath.Join(d, "holder.sock"), d
		}, 1, []string{"permission_denied", "writable by others", "chmod 700"}},
		{"path too long", func() (string, string) {
			d := filepath.Join(base, strings.Repeat("d", 100))
			return filepath.Join(d, "holder.sock"), ""
		}, 2, []string{"invalid_argument", "bytes long", "at most 107", "MCP_REMOTE_SSH_SOCKET"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sock, planted := c.setup()
			var before os.FileInfo
			if planted != "" {
				before, _ = os.Lstat(planted)
			}
			env := *h.env
			env.Socket = sock
			r := runBinary(t, &env, h.bin, runOpts{}, "sessions")
			want(t, r, c.code, c.want...)
			if planted != "" {
				after, err := os.Lstat(planted)
				if err != nil || after.Mode() != before.Mode() {
					t.Errorf("%s was changed or deleted: %v, mode %v -> %v", planted, err, before.Mode(), after)
				}
			}
			if c.name == "path too long" {
				if _, err := os.Stat(filepath.Dir(sock)); err == nil {
					t.Errorf("a directory was created for a socket path that cannot work")
				}
			}
			if pids := holderPIDs(&env); len(pids) > 0 {
				t.Errorf("a holder started on a refused socket path: %v", pids)
				for _, p := range pids {
					syscall.Kill(p, syscall.SIGKILL)
				}
			}
		})
	}
}

func TestHolderRefusesOtherUID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, false)
	other := sshdtest.NewUser(t)
	want(t, h.run("sessions"), 0)
	pid := h.holderPID()

	// Open everything up, just for this test: only SO_PEERCRED stands.
	base := filepath.Dir(filepath.Dir(h.env.Socket))
	restore := func() {
		for p, mode := range map[string]os.FileMode{base: 0o700, filepath.Dir(h.env.Socket): 0o700, h.env.Socket: 0o600} {
			os.Chmod(p, mode)
		}
	}
	t.Cleanup(restore) // before the holder is stopped
	for p, mode := range map[string]os.FileMode{base: 0o755, filepath.Dir(h.env.Socket): 0o777, h.env.Socket: 0o777} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	// The other user runs copies of our binaries from a directory it can read.
	pub, err := os.MkdirTemp("", "mrs-e2e-pub-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	os.Chmod(pub, 0o755)
	bin := filepath.Join(pub, sshdtest.BinaryName)
	self, _ := os.Executable()
	testBin := filepath.Join(pub, "cmd.test")
	for src, dst := range map[string]string{h.bin: bin, self: testBin} {
		if err := copyFile(src, dst, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cred := &syscall.Credential{Uid: uint32(other.UID), Gid: uint32(other.GID)}
	oenv := &sshdtest.Env{Home: other.Home, RuntimeDir: filepath.Join(other.Home, "run"), StateDir: filepath.Join(other.Home, "state"),
		CacheDir: filepath.Join(other.Home, "cache"), ConfigDir: filepath.Join(other.Home, "config"), DataDir: filepath.Join(other.Home, "data"),
		Socket: h.env.Socket}

	// Our CLI, run by the other user, refuses a holder it does not own.
	r := runBinary(t, oenv, bin, runOpts{cred: cred}, "sessions")
	want(t, r, 1, "permission_denied", "owned by uid 0")

	want(t, runBinary(t, oenv, bin, runOpts{cred: cred}, "holder", "status"), 1, "permission_denied", "owned by uid 0")
	want(t, runBinary(t, oenv, bin, runOpts{cred: cred}, "holder", "stop"), 1, "permission_denied", "owned by uid 0")

	// A raw client of the other uid reaches the socket: the holder refuses it.
	c := exec.Command(testBin)
	c.Env = append(oenv.Environ(), rawDialEnv+"="+h.env.Socket)
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: cred}
	c.Dir = "/"
	c.WaitDelay = 5 * time.Second
	out, err := c.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "403 ") || !strings.Contains(string(out), "permission_denied") ||
		!strings.Contains(string(out), fmt.Sprintf("uid %d may not use it", other.UID)) {
		t.Errorf("raw client of uid %d: want a 403 permission_denied, got %v: %s", other.UID, err, out)
	}
	logData, _ := os.ReadFile(filepath.Join(h.env.StateDir, "mcp-remote-ssh", "holder.log"))
	if !strings.Contains(string(logData), "refused a connection from another user") {
		t.Errorf("holder log does not record the refusal:\n%s", logData)
	}
	restore()
	h.holderAlive(pid)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
