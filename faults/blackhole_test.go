//go:build linux

package faults

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/faultproxy"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// proxied is a holder with one session whose connection runs through a fault proxy.
type proxied struct {
	b  *bed
	p  *faultproxy.Proxy
	h  *session.Holder
	id string
}

func newProxied(t *testing.T, b *bed) *proxied {
	t.Helper()
	p := faultproxy.Start(t, b.srv.Addr)
	h := b.holder(t, session.HolderConfig{})
	id := b.connect(t, ctxT(t, time.Minute), h, p.Addr)
	return &proxied{b: b, p: p, h: h, id: id}
}

// afterFreeze waits for done after the proxy froze, within lostWithin, and
// returns how long it took.
func afterFreeze[T any](t *testing.T, what string, done <-chan T) (T, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case v := <-done:
		return v, time.Since(start)
	case <-time.After(lostWithin):
		t.Fatalf("%s still blocked %v after the link froze (keepalive %v x %d)", what, lostWithin, keepalive, keepaliveMax)
		panic("unreachable")
	}
}

// TestBlackhole freezes the link (the proxy stops forwarding without
// closing anything) in the middle of an exec, an upload and a forwarded
// connection: each fails within the keepalive bound, and once the link
// works again the next call reconnects the same session.
func TestBlackhole(t *testing.T) {
	b := newBed(t)

	t.Run("exec", func(t *testing.T) {
		px := newProxied(t, b)
		ctx := ctxT(t, time.Minute)
		cmd, marker := sleeper(30)
		type out struct {
			res session.ExecResult
			err error
		}
		done := make(chan out, 1)
		go func() {
			r, err := px.h.Exec(ctx, session.ExecRequest{SessionID: px.id, Command: cmd})
			done <- out{r, err}
		}()
		if !waitFor(10*time.Second, func() bool { return remoteAlive(marker) }) {
			t.Fatalf("remote %q never started", cmd)
		}
		px.p.Stall()
		o, took := afterFreeze(t, "exec", done)
		t.Logf("frozen exec failed after %v", took.Round(time.Millisecond))
		wantCode(t, o.err, session.CodeConnectionLost)
		if o.res.Outcome != session.OutcomeUnknown || o.res.ExitCode != nil {
			t.Errorf("frozen exec: outcome %q exit %v, want unknown and null", o.res.Outcome, o.res.ExitCode)
		}
		px.p.Resume()
		r, err := px.h.Exec(ctx, session.ExecRequest{SessionID: px.id, Command: "echo ok"})
		if err != nil || r.Stdout != "ok\n" {
			t.Fatalf("exec after the link thawed: %+v %v", r, err)
		}
	})

	t.Run("upload", func(t *testing.T) {
		px := newProxied(t, b)
		px.p.SetRate(2 << 20)
		ctx := ctxT(t, time.Minute)
		old := []byte("before\n")
		dst := b.remoteFile(t, "frozen-"+randomHex(3), old)
		src := filepath.Join(t.TempDir(), "big")
		data := randomBytes(t, 16<<20)
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := px.h.Upload(ctx, session.UploadRequest{SessionID: px.id, LocalPath: src, RemotePath: dst})
			done <- err
		}()
		if !waitFor(30*time.Second, func() bool { return tempGrown(t, b.user.Home, 256<<10) }) {
			t.Fatal("the upload never got going")
		}
		px.p.Stall()
		err, took := afterFreeze(t, "upload", done)
		t.Logf("frozen upload failed after %v: %v", took.Round(time.Millisecond), err)
		wantCode(t, err, session.CodeConnectionLost)
		if got, _ := os.ReadFile(dst); string(got) != string(old) {
			t.Errorf("destination changed by a frozen upload: %d bytes", len(got))
		}
		px.p.Resume()
		px.p.SetRate(0)
		if _, err := px.h.Upload(ctx, session.UploadRequest{SessionID: px.id, LocalPath: src, RemotePath: dst}); err != nil {
			t.Fatalf("upload after the link thawed: %v", err)
		}
	})

	t.Run("forward", func(t *testing.T) {
		px := newProxied(t, b)
		ctx := ctxT(t, time.Minute)
		_, echoPort := echoServer(t)
		fw, err := px.h.ForwardOpen(ctx, session.ForwardRequest{SessionID: px.id, LocalPort: 0, RemoteHost: "127.0.0.1", RemotePort: echoPort})
		if err != nil {
			t.Fatal(err)
		}
		if err := echoThrough(fw.Listen, []byte("hello"), 10*time.Second); err != nil {
			t.Fatalf("forward before the freeze: %v", err)
		}
		c, err := net.DialTimeout("tcp", fw.Listen, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		px.p.Stall()
		done := make(chan error, 1)
		go func() {
			c.SetDeadline(time.Now().Add(2 * lostWithin))
			c.Write([]byte("pong"))
			_, err := io.ReadFull(c, make([]byte, 4))
			done <- err
		}()
		err, took := afterFreeze(t, "forwarded connection", done)
		t.Logf("forwarded connection ended %v after the freeze: %v", took.Round(time.Millisecond), err)
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("forwarded connection over a frozen link: %v, want it closed", err)
		}
		px.p.Resume()
		// The forward reconnects the session for its next connection.
		if err := echoThrough(fw.Listen, []byte("again"), 20*time.Second); err != nil {
			t.Fatalf("forward after the link thawed: %v", err)
		}
		if st := sessionState(t, px.h, px.id); st != session.StateConnected {
			t.Errorf("session %q after the forward reconnected it", st)
		}
	})
}

// TestResetMidExec aborts the connection with a TCP reset while a command
// runs: its outcome is unknown (exit_code null, never 0), at once.
func TestResetMidExec(t *testing.T) {
	b := newBed(t)
	px := newProxied(t, b)
	ctx := ctxT(t, time.Minute)
	cmd, marker := sleeper(30)
	type out struct {
		res session.ExecResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := px.h.Exec(ctx, session.ExecRequest{SessionID: px.id, Command: "echo started; " + cmd})
		done <- out{r, err}
	}()
	if !waitFor(10*time.Second, func() bool { return remoteAlive(marker) }) {
		t.Fatalf("remote %q never started", cmd)
	}
	px.p.Reset()
	o, took := afterFreeze(t, "exec", done)
	if took > 5*time.Second {
		t.Errorf("a reset took %v to be reported", took)
	}
	e := wantCode(t, o.err, session.CodeConnectionLost)
	if o.res.ExitCode != nil || o.res.Outcome != session.OutcomeUnknown {
		t.Errorf("after a reset: exit code %v, outcome %q; want null and unknown", o.res.ExitCode, o.res.Outcome)
	}
	t.Logf("reset mid-exec: %v", e)
	r, err := px.h.Exec(ctx, session.ExecRequest{SessionID: px.id, Command: "echo " + strconv.Itoa(7)})
	if err != nil || r.Stdout != "7\n" {
		t.Fatalf("exec after the reset: %+v %v", r, err)
	}
}
