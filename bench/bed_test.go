package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// cipher is the one cipher both sides use: x/crypto's first choice (so our
// client picks it unasked) forced on OpenSSH with -c, and the only one the
// benchmark sshd offers, so neither side can drift to another.
const cipher = "aes128-gcm@openssh.com"

// cmdTimeout bounds any single command a benchmark runs.
const cmdTimeout = 5 * time.Minute

// full reports whether MRS_BENCH_FULL asks for the full sizes and round
// counts (and -short is not set). Otherwise the benchmarks run in smoke mode.
func full() bool {
	v := os.Getenv("MRS_BENCH_FULL")
	return v != "" && v != "0" && !testing.Short()
}

// pick returns fullV in full mode and smokeV in smoke mode.
func pick[T any](fullV, smokeV T) T {
	if full() {
		return fullV
	}
	return smokeV
}

// bed is one benchmark's world: an sshd on loopback, a user with a clean home
// and its key, an isolated client environment (HOME, XDG dirs, holder socket)
// with the server's host keys in known_hosts, and the built binary.
type bed struct {
	tb         testing.TB
	bin        string
	srv        *sshdtest.Server
	user       *sshdtest.User
	env        *sshdtest.Env
	environ    []string
	knownHosts string
	// target is user@127.0.0.1:port, as our CLI takes it.
	target string
	// host is user@127.0.0.1 and port the sshd port, as OpenSSH takes them.
	host, port string
	// dir is a short scratch directory (control sockets, files).
	dir string

	holderPID     int
	holderVersion string
}

// newBed starts a bed. sshdConfig lines come first in sshd_config, so they
// win over the bed's own (sshd keeps the first value of a keyword).
func newBed(tb testing.TB, sshdConfig ...string) *bed {
	tb.Helper()
	sshdtest.Require(tb)
	for _, tool := range []string{"ssh", "scp", "sftp"} {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Fatalf("the OpenSSH client %s is missing (install openssh-client): %v", tool, err)
		}
	}
	bd := &bed{tb: tb}
	if bin := os.Getenv("MRS_BENCH_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			tb.Fatal(err)
		}
		bd.bin = abs
	} else {
		bd.bin = sshdtest.BuildBinary(tb)
	}
	bd.user = sshdtest.NewUser(tb)
	cleanHome(tb, bd.user)
	cfg := append(append([]string{}, sshdConfig...),
		"Ciphers "+cipher,
		"MaxStartups 100:30:200",
		"MaxSessions 20",
	)
	bd.srv = sshdtest.Start(tb, sshdtest.WithUsers(bd.user), sshdtest.WithConfig(cfg...))
	bd.env = sshdtest.NewEnv(tb)
	bd.knownHosts = filepath.Join(bd.env.Home, ".ssh", "known_hosts")
	bd.srv.WriteKnownHosts(tb, bd.knownHosts)
	// A holder that outlives a crashed benchmark leaves on its own.
	bd.environ = append(bd.env.Environ(), "MCP_REMOTE_SSH_IDLE=5m")
	bd.port = strconv.Itoa(bd.srv.Port)
	bd.host = bd.user.Name + "@127.0.0.1"
	bd.target = bd.host + ":" + bd.port
	dir, err := os.MkdirTemp("/tmp", "mrsb-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	bd.dir = dir
	// Cleanups run last in, first out: the holder stops before sshd does.
	tb.Cleanup(bd.stopHolder)
	return bd
}

// cleanHome empties the user's home (useradd copied /etc/skel into it): a
// shell start-up file on the remote side would cost more than what we measure,
// and both sides log in as this user.
func cleanHome(tb testing.TB, u *sshdtest.User) {
	tb.Helper()
	entries, err := os.ReadDir(u.Home)
	if err != nil {
		tb.Fatalf("read home of %s: %v", u.Name, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(u.Home, e.Name())); err != nil {
			tb.Fatalf("clean home of %s: %v", u.Name, err)
		}
	}
}

// remotePath is a path in the user's (remote) home.
func (bd *bed) remotePath(name string) string {
	return filepath.Join(bd.user.Home, name)
}

// command builds a command in the bed's environment, bounded by cmdTimeout.
func (bd *bed) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = bd.environ
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a command (stdin empty) and returns its stdout; the error holds
// its stderr.
func (bd *bed) run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := bd.command(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// must runs a command and fails the benchmark when it fails.
func (bd *bed) must(name string, args ...string) string {
	bd.tb.Helper()
	out, err := bd.run(name, args...)
	if err != nil {
		bd.tb.Fatal(err)
	}
	return out
}

// timed runs a command and returns how long it took, failing the benchmark
// when it fails.
func (bd *bed) timed(name string, args ...string) time.Duration {
	bd.tb.Helper()
	start := time.Now()
	bd.must(name, args...)
	return time.Since(start)
}

// mrs runs our binary.
func (bd *bed) mrs(args ...string) string {
	bd.tb.Helper()
	return bd.must(bd.bin, args...)
}

// common are the OpenSSH client options both ssh, scp and sftp get: no
// config files, the bed's key only, the bed's known_hosts only, the bed's
// cipher, nothing interactive.
func (bd *bed) common(extra ...string) []string {
	return append([]string{"-F", "/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", bd.user.KeyPath,
		"-o", "UserKnownHostsFile=" + bd.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR", "-c", cipher,
	}, extra...)
}

// sshArgs returns ssh's arguments: common options, the port, extra options,
// the host, then the remote command.
func (bd *bed) sshArgs(opts []string, command ...string) []string {
	a := append(bd.common("-p", bd.port), opts...)
	a = append(a, bd.host)
	return append(a, command...)
}

// muxArgs returns the arguments of an ssh client going through the
// ControlMaster at ctl.
func (bd *bed) muxArgs(ctl string, command ...string) []string {
	return bd.sshArgs([]string{"-S", ctl, "-o", "ControlMaster=no"}, command...)
}

// connect opens a new session with our CLI and returns its id.
func (bd *bed) connect(extra ...string) string {
	bd.tb.Helper()
	bd.holder()
	args := append([]string{"connect", bd.target, "-i", bd.user.KeyPath, "--no-agent"}, extra...)
	return strings.TrimSpace(bd.mrs(args...))
}

// holder starts the background holder (any command that needs it does) and
// returns its pid.
func (bd *bed) holder() int {
	bd.tb.Helper()
	if bd.holderPID != 0 {
		return bd.holderPID
	}
	bd.mrs("sessions", "--json")
	out := bd.mrs("holder", "status")
	var sock string
	if _, err := fmt.Sscanf(out, "holder pid %d, version %s socket %s", &bd.holderPID, &bd.holderVersion, &sock); err != nil {
		bd.tb.Fatalf("parse holder status %q: %v", out, err)
	}
	bd.holderVersion = strings.TrimSuffix(bd.holderVersion, ",")
	return bd.holderPID
}

// client returns a socket client of the holder, as the CLI uses it (an agent
// driving the holder in-process would too), and a context carrying the CLI's
// caller.
func (bd *bed) client() (*session.Client, context.Context) {
	bd.holder()
	ctx := session.WithCaller(context.Background(), session.Caller{Owner: session.OwnerCLI, All: true})
	return session.NewClient(bd.env.Socket, bd.holderVersion), ctx
}

// connectRequest is the request that connects the bed's user with its key.
func (bd *bed) connectRequest() session.ConnectRequest {
	no := false
	return session.ConnectRequest{Host: bd.target, KeyPath: bd.user.KeyPath, UseAgent: &no, Timeout: 60}
}

// stopHolder stops the holder of the bed's socket, if one runs (any CLI
// command may have started it): `holder stop`, then SIGKILL by pid if it
// still runs.
func (bd *bed) stopHolder() {
	pid := bd.holderPID
	bd.holderPID = 0
	if pid == 0 {
		out, err := bd.run(bd.bin, "holder", "status")
		if err != nil {
			return // none runs
		}
		if _, err := fmt.Sscanf(out, "holder pid %d,", &pid); err != nil {
			bd.tb.Logf("parse holder status %q: %v", out, err)
			return
		}
	}
	if _, err := bd.run(bd.bin, "holder", "stop"); err != nil {
		bd.tb.Logf("holder stop: %v", err)
	}
	if ours(pid, bd.bin) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ours reports whether pid still runs the binary at bin.
func ours(pid int, bin string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && strings.TrimSuffix(exe, " (deleted)") == bin
}

// controlMaster starts `ssh -M -S CTL -N` in the foreground (so it is ours
// to stop, by pid) and returns the control socket and the process, once the
// master accepts clients. stop ends it; it also runs at cleanup.
func (bd *bed) controlMaster(name string) (ctl string, pid int, stop func()) {
	bd.tb.Helper()
	ctl, pid, stop, err := bd.startControlMaster(name)
	if err != nil {
		bd.tb.Fatal(err)
	}
	return ctl, pid, stop
}

// startControlMaster is controlMaster returning its error; it may run on any
// goroutine.
func (bd *bed) startControlMaster(name string) (ctl string, pid int, stop func(), err error) {
	ctl = filepath.Join(bd.dir, name)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := bd.command(ctx, "ssh", bd.sshArgs([]string{"-M", "-S", ctl, "-N", "-o", "ControlPersist=no"})...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		cancel()
		return "", 0, nil, fmt.Errorf("start ControlMaster: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-exited
		})
	}
	bd.tb.Cleanup(stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", ctl); err == nil {
			c.Close()
			return ctl, cmd.Process.Pid, stop, nil
		}
		select {
		case <-exited:
			return "", 0, nil, fmt.Errorf("ControlMaster exited before it listened: %s", stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", 0, nil, fmt.Errorf("ControlMaster not ready after 60s: %s", stderr.String())
		}
	}
}

// logOffset is the current size of the sshd log.
func (bd *bed) logOffset() int64 {
	fi, err := os.Stat(bd.srv.LogPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

var (
	kexRe    = regexp.MustCompile(`kex: algorithm: (\S+)`)
	cipherRe = regexp.MustCompile(`kex: client->server cipher: (\S+)`)
)

// negotiated says which key exchanges and ciphers sshd logged (LogLevel
// DEBUG1) since the log offset from, e.g. "kex curve25519-sha256, cipher
// aes128-gcm@openssh.com".
func (bd *bed) negotiated(from int64) string {
	f, err := os.Open(bd.srv.LogPath)
	if err != nil {
		return "?"
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return "?"
	}
	var kex, ciph []string
	add := func(list []string, v string) []string {
		for _, x := range list {
			if x == v {
				return list
			}
		}
		return append(list, v)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := kexRe.FindStringSubmatch(sc.Text()); m != nil {
			kex = add(kex, m[1])
		}
		if m := cipherRe.FindStringSubmatch(sc.Text()); m != nil {
			ciph = add(ciph, m[1])
		}
	}
	if len(kex) == 0 && len(ciph) == 0 {
		return "no new connection"
	}
	return "kex " + strings.Join(kex, "+") + ", cipher " + strings.Join(ciph, "+")
}

// procMem reads VmRSS and VmHWM (peak RSS) of a process, in bytes.
func procMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		for _, f := range []struct {
			key string
			dst *int64
		}{{"VmRSS:", &rss}, {"VmHWM:", &hwm}} {
			if rest, ok := strings.CutPrefix(line, f.key); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err != nil {
					return 0, 0, fmt.Errorf("parse %s of %d: %w", f.key, pid, err)
				}
				*f.dst = kb << 10
			}
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS")
	}
	return rss, hwm, nil
}

// pss returns the proportional set size of pid in bytes (shared pages
// divided among the processes sharing them), or 0 when it cannot be read.
func pss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// rss returns the resident set size of pid in bytes, failing the benchmark
// when it cannot be read.
func rss(tb testing.TB, pid int) int64 {
	tb.Helper()
	r, _, err := procMem(pid)
	if err != nil {
		tb.Fatalf("read RSS of %d: %v", pid, err)
	}
	return r
}

// peakSampler polls the RSS of pid every 10 ms until stopped and returns the
// highest value seen.
func peakSampler(pid int) (stop func() int64) {
	done := make(chan struct{})
	res := make(chan int64, 1)
	go func() {
		var peak int64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if r, _, err := procMem(pid); err == nil && r > peak {
				peak = r
			}
			select {
			case <-done:
				res <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); return <-res }
}

// mib formats bytes as MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// mbps formats a rate as MB/s.
func mbps(bytesPerSec float64) string { return fmt.Sprintf("%.0f MB/s", bytesPerSec/1e6) }

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// msf is a duration in (fractional) milliseconds, for metrics.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
