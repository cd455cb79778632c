package session_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

func TestExecBasics(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	cases := []struct {
		name       string
		req        session.ExecRequest
		stdout     string
		stderr     string
		code       *int
		signal     string
		outcome    string
		truncated  bool
		encoding   string
		stdoutSize int64
	}{
		{name: "separate streams and exit code", req: session.ExecRequest{Command: "echo out; echo err >&2; exit 3"}, stdout: "out\n", stderr: "err\n", code: ip(3), outcome: "exited"},
		{name: "stderr after stdout EOF", req: session.ExecRequest{Command: "exec 1>&-; sleep 0.2; echo late >&2; exit 4"}, stderr: "late\n", code: ip(4), outcome: "exited"},
		{name: "kill -9 $$", req: session.ExecRequest{Command: "kill -9 $$"}, signal: "KILL", outcome: "signaled"},
		{name: "stdin", req: session.ExecRequest{Command: "wc -c", Stdin: "hello"}, stdout: "5\n", code: ip(0), outcome: "exited"},
		{name: "cwd and env", req: session.ExecRequest{Command: "pwd; echo \"$A|$B\"", Cwd: "/tmp", Env: map[string]string{"A": "x y", "B": "it's $(id)"}}, stdout: "/tmp\nx y|it's $(id)\n", code: ip(0), outcome: "exited"},
		{name: "cap keeps head and tail", req: session.ExecRequest{Command: "seq 1 100000", MaxOutputBytes: 1000}, code: ip(0), outcome: "exited", truncated: true, stdoutSize: 588895},
		{name: "invalid utf-8", req: session.ExecRequest{Command: `printf 'a\377b'`}, stdout: "a\ufffdb", code: ip(0), outcome: "exited", encoding: "utf-8-lossy"},
		{name: "shell metacharacters stay the command's", req: session.ExecRequest{Command: "echo a; echo b | tr b c"}, stdout: "a\nc\n", code: ip(0), outcome: "exited"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.req.SessionID = id
			res, err := f.h.Exec(ctx, c.req)
			if err != nil {
				t.Fatal(err)
			}
			if !c.truncated && (res.Stdout != c.stdout || res.Stderr != c.stderr) {
				t.Errorf("stdout %q stderr %q, want %q %q", res.Stdout, res.Stderr, c.stdout, c.stderr)
			}
			if (res.ExitCode == nil) != (c.code == nil) || (c.code != nil && *res.ExitCode != *c.code) {
				t.Errorf("exit code %v, want %v", deref(res.ExitCode), deref(c.code))
			}
			if res.Signal != c.signal || res.Outcome != c.outcome {
				t.Errorf("signal %q outcome %q", res.Signal, res.Outcome)
			}
			if c.truncated {
				if !res.StdoutTruncated || res.StdoutBytes != c.stdoutSize || !strings.HasPrefix(res.Stdout, "1\n2\n") || !strings.HasSuffix(res.Stdout, "99999\n100000\n") || len(res.Stdout) > 1100 {
					t.Errorf("cap: truncated=%v bytes=%d len=%d", res.StdoutTruncated, res.StdoutBytes, len(res.Stdout))
				}
			}
			if c.encoding != "" && res.Encoding != c.encoding {
				t.Errorf("encoding %q", res.Encoding)
			}
		})
	}
	t.Run("missing cwd", func(t *testing.T) {
		_, err := f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "pwd", Cwd: "/no/such/dir"})
		e := wantCode(t, err, session.CodeNotFound)
		if !strings.Contains(e.Message, "/no/such/dir") {
			t.Error(e)
		}
	})
	t.Run("empty command and bad env", func(t *testing.T) {
		_, err := f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "  "})
		wantCode(t, err, session.CodeInvalidArgument)
		_, err = f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "true", Env: map[string]string{"A=B": "x"}})
		wantCode(t, err, session.CodeInvalidArgument)
	})
}

func ip(i int) *int { return &i }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// remoteAlive reports whether a process whose command line contains marker runs on the host.
func remoteAlive(marker string) bool {
	return exec.Command("pgrep", "-f", marker).Run() == nil
}

func waitGone(t *testing.T, marker string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for remoteAlive(marker) {
		if time.Now().After(deadline) {
			t.Fatalf("remote process %q still alive after %v", marker, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExecTimeoutAndCancelKillTheProcessGroup(t *testing.T) {
	f := newFixture(t, fixtureOpt{root: true})
	ctx := ctxT(t, 120*time.Second)
	root := f.srv.Root
	for _, who := range []string{"user", "root"} {
		t.Run(who, func(t *testing.T) {
			req := session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath}
			if who == "root" {
				req = session.ConnectRequest{Host: "root@" + f.srv.Addr, KeyPath: root.KeyPath}
			}
			c, err := f.h.Connect(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			n := time.Now().UnixNano() % 100000
			m1, m2 := fmt.Sprintf("sleep %d1", n), fmt.Sprintf("sleep %d2", n)
			// A backgrounded grandchild carries the marker too.
			cmd := fmt.Sprintf("(%s &) ; %s", m1, m2)
			start := time.Now()
			res, err := f.h.Exec(ctx, session.ExecRequest{SessionID: c.SessionID, Command: cmd, Timeout: 1})
			if err != nil {
				t.Fatal(err)
			}
			if !res.TimedOut || !res.Killed || res.Outcome != "timed_out" || res.ExitCode != nil {
				t.Errorf("result %+v", res)
			}
			if !res.KillConfirmed {
				t.Error("kill not confirmed")
			}
			waitGone(t, m1, 5*time.Second)
			waitGone(t, m2, 5*time.Second)
			if d := time.Since(start); d > 8*time.Second {
				t.Errorf("timeout took %v", d)
			}

			m3 := fmt.Sprintf("sleep %d3", n)
			cctx, cancel := context.WithCancel(ctx)
			done := make(chan session.ExecResult, 1)
			go func() {
				r, _ := f.h.Exec(cctx, session.ExecRequest{SessionID: c.SessionID, Command: "(" + m3 + " &); " + m3})
				done <- r
			}()
			deadline := time.Now().Add(10 * time.Second)
			for !remoteAlive(m3) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			r := <-done
			if r.Outcome != "canceled" || !r.Killed || !r.KillConfirmed {
				t.Errorf("cancel result %+v\nlogs: %s", r, f.logs.String())
			}
			waitGone(t, m3, 5*time.Second)
		})
	}
}

func TestExecConcurrent100(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 120*time.Second)
	id := f.connect(t, ctx).SessionID
	var wg sync.WaitGroup
	var maxLive atomic.Int64
	errs := make(chan error, 100)
	marker := fmt.Sprintf("/tmp/mrs-overlap-%d", time.Now().UnixNano())
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each command records how many ran at once, then prints only its own token.
			cmd := fmt.Sprintf("mkdir -p %s; touch %s/%d; sleep 0.3; ls %s | wc -l >&2; rm %s/%d; echo token-%d", marker, marker, i, marker, marker, i, i)
			res, err := f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: cmd})
			if err != nil {
				errs <- err
				return
			}
			if res.Stdout != fmt.Sprintf("token-%d\n", i) {
				errs <- fmt.Errorf("exec %d: mixed output %q", i, res.Stdout)
				return
			}
			n, _ := strconv.Atoi(strings.TrimSpace(res.Stderr))
			for {
				cur := maxLive.Load()
				if int64(n) <= cur || maxLive.CompareAndSwap(cur, int64(n)) {
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if maxLive.Load() < 5 {
		t.Errorf("at most %d commands overlapped; want real concurrency", maxLive.Load())
	}
}

func TestExecReconnectAfterConnectionLoss(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	done := make(chan error, 1)
	var res session.ExecResult
	marker := fmt.Sprintf("sleep 30%d", time.Now().UnixNano()%100000) // unique: other packages' tests run too
	go func() {
		var err error
		res, err = f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "echo started; " + marker})
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !remoteAlive(marker) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	f.srv.KillConnections()
	err := <-done
	e := wantCode(t, err, session.CodeConnectionLost)
	if res.ExitCode != nil || res.Outcome != "unknown" {
		t.Errorf("lost connection reported as %+v", res)
	}
	if !strings.Contains(e.Message, "unknown") {
		t.Errorf("message should say the outcome is unknown: %v", e)
	}
	// The next operation reconnects the same session.
	r2, err := f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "echo again"})
	if err != nil || r2.Stdout != "again\n" {
		t.Fatalf("after reconnect: %+v %v", r2, err)
	}
	list, _ := f.h.ListSessions(ctx, session.ListSessionsRequest{})
	if len(list.Sessions) != 1 || list.Sessions[0].SessionID != id || list.Sessions[0].State != session.StateConnected {
		t.Errorf("sessions %+v", list.Sessions)
	}
}

func TestExecStreamLargeOutputBoundedMemory(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 120*time.Second)
	id := f.connect(t, ctx).SessionID
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	h := sha256.New()
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak {
					peak = m.HeapInuse
				}
			}
		}
	}()
	res, err := f.h.ExecStream(ctx, session.ExecStreamRequest{SudoExecRequest: session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id,
		Command: "head -c 200000000 /dev/zero | tr '\\0' x; head -c 50000000 /dev/urandom > /tmp/mrs-rand-$$; cat /tmp/mrs-rand-$$; sha256sum /tmp/mrs-rand-$$ >&2; rm /tmp/mrs-rand-$$"}}},
		session.Stdio{Stdout: h, Stderr: io.Discard})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if res.StdoutBytes != 250000000 || *res.ExitCode != 0 {
		t.Errorf("result %+v", res)
	}
	_ = hex.EncodeToString(h.Sum(nil))
	if growth := int64(peak) - int64(before.HeapInuse); growth > 64<<20 {
		t.Errorf("heap grew by %d MiB while streaming", growth>>20)
	}
}

func TestExecBinaryOutputCapped(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	res, err := f.h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "head -c 52428800 /dev/urandom"})
	if err != nil {
		t.Fatal(err)
	}
	if res.StdoutBytes != 52428800 || !res.StdoutTruncated || len(res.Stdout) > 3*session.DefaultMaxOutputBytes || res.Encoding != "utf-8-lossy" {
		t.Errorf("bytes %d truncated %v len %d encoding %s", res.StdoutBytes, res.StdoutTruncated, len(res.Stdout), res.Encoding)
	}
}

func TestSudo(t *testing.T) {
	ctx := ctxT(t, 120*time.Second)
	t.Run("password", func(t *testing.T) {
		f := newFixture(t, fixtureOpt{sudo: sshdtest.SudoPassword})
		id := f.connect(t, ctx).SessionID
		// Sample the host's process table while sudo runs: the password never shows.
		stop := make(chan struct{})
		leaked := make(chan string, 1)
		go func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, _ := exec.Command("ps", "-eo", "args").Output()
				if strings.Contains(string(out), f.user.Password) {
					select {
					case leaked <- string(out):
					default:
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		res, err := f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id, Command: "id -u; echo $((1+1)); sleep 0.5"}, SudoPassword: session.Secret(f.user.Password)})
		close(stop)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stdout != "0\n2\n" || res.Stderr != "" || *res.ExitCode != 0 {
			t.Errorf("sudo result %+v", res)
		}
		select {
		case ps := <-leaked:
			t.Errorf("password visible in ps:\n%s", ps)
		default:
		}
		if strings.Contains(f.logs.String(), f.user.Password) {
			t.Error("password in the holder log")
		}
		// stdin after the password reaches the command.
		res, err = f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id, Command: "cat", Stdin: "data"}, SudoPassword: session.Secret(f.user.Password)})
		if err != nil || res.Stdout != "data" {
			t.Errorf("stdin through sudo: %+v %v", res, err)
		}
		start := time.Now()
		_, err = f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id, Command: "id -u"}, SudoPassword: "wrong"})
		wantCode(t, err, session.CodeAuthFailed)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("wrong password took %v", d)
		}
		_, err = f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id, Command: "id -u"}})
		wantCode(t, err, session.CodeInputRequired)
	})
	t.Run("nopasswd", func(t *testing.T) {
		f := newFixture(t, fixtureOpt{sudo: sshdtest.SudoNoPassword})
		id := f.connect(t, ctx).SessionID
		res, err := f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id, Command: "id -u; cat", Stdin: "in"}, SudoPassword: "given-but-unneeded"})
		if err != nil || res.Stdout != "0\nin" {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("no sudo rights", func(t *testing.T) {
		f := newFixture(t, fixtureOpt{})
		id := f.connect(t, ctx).SessionID
		start := time.Now()
		_, err := f.h.SudoExec(ctx, session.SudoExecRequest{ExecRequest: session.ExecRequest{SessionID: id, Command: "id -u"}, SudoPassword: session.Secret(f.user.Password)})
		e := session.AsError(err)
		if e == nil || (e.Code != session.CodePermissionDenied && e.Code != session.CodeAuthFailed) {
			t.Fatalf("want permission_denied, got %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
}
