package session_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// prompt is the tail of the throwaway user's bash prompt (\u@\h:\w\$ ).
const prompt = "$ "

// marker returns a number unlikely to appear in any other process's command line.
func marker() string { return fmt.Sprintf("%d", 4_000_000+rand.IntN(5_000_000)) }

// openShell opens a shell and waits for its first prompt.
func openShell(t *testing.T, ctx context.Context, ops session.Operations, sessionID string) string {
	t.Helper()
	r, err := ops.ShellOpen(ctx, session.ShellOpenRequest{SessionID: sessionID})
	if err != nil {
		t.Fatalf("shell open: %v", err)
	}
	if r.ShellID == "" || r.SessionID != sessionID || r.Offset != 0 {
		t.Errorf("shell open result %+v", r)
	}
	w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: sessionID, ShellID: r.ShellID, Pattern: prompt, Timeout: 20})
	if err != nil || !w.Matched {
		t.Fatalf("first prompt: %+v %v", w, err)
	}
	return r.ShellID
}

// shellRun sends cmd and waits for the next prompt; it returns the wait's output.
func shellRun(t *testing.T, ctx context.Context, ops session.Operations, sessionID, shellID, cmd string) string {
	t.Helper()
	if _, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: sessionID, ShellID: shellID, Data: cmd}); err != nil {
		t.Fatalf("send %q: %v", cmd, err)
	}
	w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: sessionID, ShellID: shellID, Pattern: prompt, Timeout: 20})
	if err != nil || !w.Matched {
		t.Fatalf("wait after %q: %+v %v", cmd, w, err)
	}
	return w.Output
}

// waitAlive polls until a process whose command line contains m runs on the host.
func waitAlive(t *testing.T, m string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !remoteAlive(m) {
		if time.Now().After(deadline) {
			t.Fatalf("remote process %q did not start within %v", m, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
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

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestShellStateAndWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 90*time.Second)
	shellContract(t, ctx, f.h, f.connect(t, ctx).SessionID)
}

// shellContract checks the shell operations on ops (the Holder or a Client).
func shellContract(t *testing.T, ctx context.Context, ops session.Operations, id string) {
	sh := openShell(t, ctx, ops, id)
	t.Run("state persists across calls", func(t *testing.T) {
		shellRun(t, ctx, ops, id, sh, "cd /tmp")
		shellRun(t, ctx, ops, id, sh, "export X=1")
		out := shellRun(t, ctx, ops, id, sh, "echo $X $(pwd)")
		if !strings.Contains(out, "\n1 /tmp\n") {
			t.Errorf("output %q", out)
		}
	})
	t.Run("wait skips the echo", func(t *testing.T) {
		sent, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "echo abc"})
		if err != nil || sent.BytesSent != len("echo abc\r") || sent.ShellID != sh {
			t.Fatalf("send %+v %v", sent, err)
		}
		w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: "abc", Timeout: 10})
		if err != nil || !w.Matched || w.TimedOut {
			t.Fatalf("wait %+v %v", w, err)
		}
		if strings.Count(w.Output, "abc") != 2 || !strings.HasSuffix(w.Output, "abc") || !strings.Contains(w.Output, "echo abc") {
			t.Errorf("wait should end after the output line's abc, not the echo: %q", w.Output)
		}
		if w.NextOffset <= sent.OffsetBefore {
			t.Errorf("next offset %d not after %d", w.NextOffset, sent.OffsetBefore)
		}
		// The seed's literal prompt pattern finds the next prompt, not the old one.
		w, err = ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: prompt, Timeout: 10})
		if err != nil || !w.Matched || !strings.HasSuffix(w.Output, prompt) || !strings.Contains(w.Output, "\nabc\n") {
			t.Errorf("prompt wait %+v %v", w, err)
		}
	})
	t.Run("wait by regex", func(t *testing.T) {
		if _, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "echo num-$((6*7))"}); err != nil {
			t.Fatal(err)
		}
		w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: `num-\d+`, Regex: true, Timeout: 10})
		if err != nil || !w.Matched || !strings.HasSuffix(w.Output, "num-42") {
			t.Errorf("regex wait %+v %v", w, err)
		}
		shellRun(t, ctx, ops, id, sh, "true")
	})
	t.Run("wait by quiet period", func(t *testing.T) {
		if _, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "echo q1; sleep 0.3; echo q2"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, QuietMS: 1000, Timeout: 20})
		if err != nil || !w.Matched || w.TimedOut || !strings.Contains(w.Output, "\nq2\n") {
			t.Errorf("quiet wait %+v %v", w, err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("quiet wait returned after %v, before the quiet period", d)
		}
	})
	t.Run("wait times out", func(t *testing.T) {
		w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: "never-printed", Timeout: 0.3})
		if err != nil || w.Matched || !w.TimedOut || w.WaitedMS < 300 {
			t.Errorf("timeout wait %+v %v", w, err)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		_, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: "(a", Regex: true})
		e := wantCode(t, err, session.CodeInvalidArgument)
		if !strings.Contains(e.Message, "missing closing )") {
			t.Errorf("regex error should show the compile error: %v", e)
		}
		_, err = ops.ShellControl(ctx, session.ShellControlRequest{SessionID: id, ShellID: sh, Key: "nosuchkey"})
		e = wantCode(t, err, session.CodeInvalidArgument)
		if text := e.Message + e.Hint; !strings.Contains(text, "nosuchkey") || !strings.Contains(text, "pgdn") || !strings.Contains(text, "f12") {
			t.Errorf("unknown key should list the valid ones: %v", e)
		}
		for _, timeout := range []float64{-1, 1e9} {
			_, err = ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: "x", Timeout: timeout})
			wantCode(t, err, session.CodeInvalidArgument)
		}
		_, err = ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, QuietMS: -5})
		wantCode(t, err, session.CodeInvalidArgument)
		// Zero is the default (30 s), not "no time at all".
		if _, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "echo zero-timeout"}); err != nil {
			t.Fatal(err)
		}
		w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: prompt})
		if err != nil || !w.Matched {
			t.Errorf("zero timeout: %+v %v", w, err)
		}
		_, err = ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: "999", Data: "x"})
		e = wantCode(t, err, session.CodeNotFound)
		if !strings.Contains(e.Message, "999") {
			t.Errorf("message should name the shell: %v", e)
		}
		_, err = ops.ShellRead(ctx, session.ShellReadRequest{SessionID: "deadbeef", ShellID: sh})
		wantCode(t, err, session.CodeNotFound)
		_, err = ops.ShellOpen(ctx, session.ShellOpenRequest{SessionID: "deadbeef"})
		wantCode(t, err, session.CodeNotFound)
		_, err = ops.ShellOpen(ctx, session.ShellOpenRequest{SessionID: id, Cols: -3})
		wantCode(t, err, session.CodeInvalidArgument)
		neg := int64(-1)
		_, err = ops.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh, Since: &neg})
		wantCode(t, err, session.CodeInvalidArgument)
	})
	t.Run("ctrl c interrupts", func(t *testing.T) {
		m := "sleep " + marker()
		if _, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: m}); err != nil {
			t.Fatal(err)
		}
		waitAlive(t, m, 10*time.Second)
		c, err := ops.ShellControl(ctx, session.ShellControlRequest{SessionID: id, ShellID: sh, Key: "c"})
		if err != nil || c.Sent != "c" || c.ShellID != sh {
			t.Fatalf("control %+v %v", c, err)
		}
		waitGone(t, m, 5*time.Second)
		w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: prompt, Timeout: 10})
		if err != nil || !w.Matched {
			t.Errorf("prompt after ^C: %+v %v", w, err)
		}
	})
	t.Run("default shell is the first", func(t *testing.T) {
		out := shellRun(t, ctx, ops, id, "", "echo default-$((1+1))")
		if !strings.Contains(out, "\ndefault-2\n") {
			t.Errorf("output %q", out)
		}
	})
}

func TestShellReadCursors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	agent := session.WithCaller(ctx, session.Caller{Owner: "mcp-agent"})
	cli := session.WithCaller(ctx, session.Caller{Owner: session.OwnerCLI, All: true})
	other := session.WithCaller(ctx, session.Caller{Owner: "mcp-other"})
	c, err := f.h.Connect(agent, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath})
	if err != nil {
		t.Fatal(err)
	}
	sh := openShell(t, agent, f.h, c.SessionID)
	shellRun(t, agent, f.h, c.SessionID, sh, "echo one-$((1))")

	read := func(ctx context.Context, since *int64) session.ShellReadResult {
		t.Helper()
		r, err := f.h.ShellRead(ctx, session.ShellReadRequest{SessionID: c.SessionID, ShellID: sh, Since: since})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The wait moved the agent's cursor past what it returned; the CLI has read nothing yet.
	a1 := read(agent, nil)
	c1 := read(cli, nil)
	if c1.Offset != 0 || !strings.Contains(c1.Output, "one-1") {
		t.Errorf("cli's first read %+v", c1)
	}
	if strings.Contains(a1.Output, "one-1") {
		t.Errorf("agent read again what its wait returned: %q", a1.Output)
	}
	if c1.NextOffset != a1.NextOffset {
		t.Errorf("both read to the end: %d vs %d", c1.NextOffset, a1.NextOffset)
	}
	// The CLI sends, the agent waits: the wait moves only the agent's cursor.
	if _, err := f.h.ShellSend(cli, session.ShellSendRequest{SessionID: c.SessionID, ShellID: sh, Data: "echo two-$((2))"}); err != nil {
		t.Fatal(err)
	}
	w, err := f.h.ShellWait(agent, session.ShellWaitRequest{SessionID: c.SessionID, ShellID: sh, Pattern: prompt, Timeout: 10})
	if err != nil || !w.Matched {
		t.Fatalf("wait %+v %v", w, err)
	}
	c2 := read(cli, nil)
	if c2.Offset != c1.NextOffset || !strings.Contains(c2.Output, "two-2") || c2.NextOffset != w.NextOffset {
		t.Errorf("cli read %+v, want from its cursor %d to %d", c2, c1.NextOffset, w.NextOffset)
	}
	a2 := read(agent, nil)
	if a2.Offset != w.NextOffset || a2.Output != "" {
		t.Errorf("agent read %+v after its wait to %d", a2, w.NextOffset)
	}
	// Nothing is read twice; since overrides the cursor.
	if a3 := read(agent, nil); a3.Output != "" || a3.Offset != a2.NextOffset {
		t.Errorf("second read returned %+v", a3)
	}
	zero := int64(0)
	if all := read(agent, &zero); all.Offset != 0 || !strings.Contains(all.Output, "one-1") || !strings.Contains(all.Output, "two-2") {
		t.Errorf("since 0: %+v", all)
	}
	// Raw keeps the carriage returns; max_bytes bounds a read.
	r, err := f.h.ShellRead(agent, session.ShellReadRequest{SessionID: c.SessionID, ShellID: sh, Since: &zero, Raw: true, MaxBytes: 10})
	if err != nil || len(r.Output) > 10 || r.NextOffset != int64(len(r.Output)) {
		t.Errorf("raw bounded read %+v %v", r, err)
	}

	t.Run("other owners", func(t *testing.T) {
		_, err := f.h.ShellRead(other, session.ShellReadRequest{SessionID: c.SessionID, ShellID: sh})
		wantCode(t, err, session.CodeNotFound)
		_, err = f.h.ShellSend(other, session.ShellSendRequest{SessionID: c.SessionID, ShellID: sh, Data: "id"})
		wantCode(t, err, session.CodeNotFound)
		// A shell the CLI opened on the agent's session is the CLI's: the agent may not use it.
		cliShell, err := f.h.ShellOpen(cli, session.ShellOpenRequest{SessionID: c.SessionID})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.h.ShellSend(agent, session.ShellSendRequest{SessionID: c.SessionID, ShellID: cliShell.ShellID, Data: "id"})
		e := wantCode(t, err, session.CodeNotFound)
		if !strings.Contains(e.Message, cliShell.ShellID) {
			t.Errorf("message should name the shell: %v", e)
		}
		_, err = f.h.ShellClose(agent, session.ShellCloseRequest{SessionID: c.SessionID, ShellID: cliShell.ShellID})
		wantCode(t, err, session.CodeNotFound)
		// The agent's default shell stays its own.
		if r, err := f.h.ShellRead(agent, session.ShellReadRequest{SessionID: c.SessionID}); err != nil {
			t.Errorf("agent default shell: %v", err)
		} else if _, err := f.h.ShellClose(cli, session.ShellCloseRequest{SessionID: c.SessionID, ShellID: cliShell.ShellID}); err != nil {
			t.Error(err)
		} else {
			_ = r
		}
	})
}

func TestShellLimitsAndExit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	h := session.NewHolder(session.HolderConfig{Logger: log.New(io.Discard), Home: f.env.Home, MaxShells: 3})
	t.Cleanup(func() { h.Close() })
	c, err := h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath})
	if err != nil {
		t.Fatal(err)
	}
	id := c.SessionID
	var shells []string
	for range 3 {
		r, err := h.ShellOpen(ctx, session.ShellOpenRequest{SessionID: id})
		if err != nil {
			t.Fatal(err)
		}
		shells = append(shells, r.ShellID)
	}
	_, err = h.ShellOpen(ctx, session.ShellOpenRequest{SessionID: id})
	e := wantCode(t, err, session.CodeInvalidArgument)
	if !strings.Contains(e.Message, "3 shells") || e.Hint == "" {
		t.Errorf("limit error should say the maximum and what to do: %v", e)
	}

	t.Run("send to an exited shell", func(t *testing.T) {
		sh := shells[0]
		if _, err := h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "exit 7"}); err != nil {
			t.Fatal(err)
		}
		w, err := h.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: "never-printed", Timeout: 10})
		if err != nil || !w.Exited || w.Matched {
			t.Fatalf("wait on exiting shell %+v %v", w, err)
		}
		r, err := h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh})
		if err != nil || !r.Exited || r.ExitStatus == nil || *r.ExitStatus != 7 {
			t.Errorf("read after exit %+v %v", r, err)
		}
		_, err = h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "echo hi"})
		e := wantCode(t, err, session.CodeShellExited)
		if !strings.Contains(e.Message, "status 7") {
			t.Errorf("message should give the exit status: %v", e)
		}
		_, err = h.ShellControl(ctx, session.ShellControlRequest{SessionID: id, ShellID: sh, Key: "c"})
		wantCode(t, err, session.CodeShellExited)
		if _, err := h.ShellClose(ctx, session.ShellCloseRequest{SessionID: id, ShellID: sh}); err != nil {
			t.Error(err)
		}
		// A closed shell frees its slot.
		r2, err := h.ShellOpen(ctx, session.ShellOpenRequest{SessionID: id})
		if err != nil {
			t.Fatal(err)
		}
		if r2.ShellID == sh {
			t.Errorf("shell id %s reused", sh)
		}
		shells[0] = r2.ShellID
	})

	t.Run("close hangs up the shell's processes", func(t *testing.T) {
		sh := shells[1]
		m := "sleep " + marker()
		if _, err := h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: m}); err != nil {
			t.Fatal(err)
		}
		waitAlive(t, m, 10*time.Second)
		r, err := h.ShellClose(ctx, session.ShellCloseRequest{SessionID: id, ShellID: sh})
		if err != nil || !r.Closed || r.ShellID != sh {
			t.Fatalf("close %+v %v", r, err)
		}
		waitGone(t, m, 2*time.Second)
		_, err = h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "x"})
		wantCode(t, err, session.CodeNotFound)
	})

	t.Run("closing the session closes its shells", func(t *testing.T) {
		m := "sleep " + marker()
		if _, err := h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: shells[2], Data: m}); err != nil {
			t.Fatal(err)
		}
		waitAlive(t, m, 10*time.Second)
		r, err := h.CloseSession(ctx, session.CloseSessionRequest{SessionID: id})
		if err != nil || r.ShellsClosed != 2 {
			t.Fatalf("close session %+v %v", r, err)
		}
		waitGone(t, m, 2*time.Second)
		_, err = h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: shells[2]})
		wantCode(t, err, session.CodeNotFound)
	})
}

func TestShellAttach(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	attachContract(t, ctx, f.h, id)
}

// attachContract checks that an attached terminal sees a send's output, that
// its keystrokes and resizes reach the shell, and that it ends with its input.
func attachContract(t *testing.T, ctx context.Context, ops session.Operations, id string) {
	sh := openShell(t, ctx, ops, id)
	inR, inW := io.Pipe()
	out := &syncBuffer{}
	resize := make(chan [2]int, 1)
	type attached struct {
		res session.ShellAttachResult
		err error
	}
	done := make(chan attached, 1)
	go func() {
		r, err := ops.ShellAttach(ctx, session.ShellAttachRequest{SessionID: id, ShellID: sh}, session.Terminal{Output: out, Input: inR, Resize: resize})
		done <- attached{r, err}
	}()
	// The recent output is replayed first.
	waitFor(t, 10*time.Second, "replayed prompt", func() bool { return strings.Contains(out.String(), prompt) })

	shellRun(t, ctx, ops, id, sh, "echo via-send-$((40+2))")
	waitFor(t, 10*time.Second, "attached terminal sees the send's output", func() bool { return strings.Contains(out.String(), "via-send-42") })

	r, err := ops.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh, Since: new(int64)})
	if err != nil {
		t.Fatal(err)
	}
	end := r.NextOffset
	if _, err := io.WriteString(inW, "echo fromattach-$((5*5))\r"); err != nil {
		t.Fatal(err)
	}
	w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Since: &end, Pattern: `(?m)^fromattach-25`, Regex: true, Timeout: 10})
	if err != nil || !w.Matched {
		t.Fatalf("keystrokes of the attached terminal: %+v %v", w, err)
	}

	// A resize makes bash redraw its prompt at any moment, so from here on
	// waits look for unique output rather than for the next prompt.
	resize <- [2]int{77, 33}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		got := shellExpect(t, ctx, ops, id, sh, fmt.Sprintf("echo sz%d-$(stty size | tr ' ' x)", i), fmt.Sprintf(`sz%d-(\d+x\d+)`, i))
		if got == "33x77" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resize did not reach stty size: %q", got)
		}
	}
	inW.Close()
	select {
	case a := <-done:
		if a.err != nil || a.res.ShellID != sh || a.res.Exited {
			t.Errorf("attach ended with %+v %v", a.res, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("attach did not end when its input ended")
	}
	// The shell outlives the attachment.
	shellExpect(t, ctx, ops, id, sh, "echo still-$((3+3))", `still-(6)`)
}

// shellExpect sends cmd and waits for re; it returns re's first group.
func shellExpect(t *testing.T, ctx context.Context, ops session.Operations, id, sh, cmd, re string) string {
	t.Helper()
	if _, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: cmd}); err != nil {
		t.Fatal(err)
	}
	w, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: re, Regex: true, Timeout: 10})
	if err != nil || !w.Matched {
		t.Fatalf("wait for %s after %q: %+v %v", re, cmd, w, err)
	}
	return regexp.MustCompile(re).FindStringSubmatch(w.Output)[1]
}

func TestShellBufferBounded(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 180*time.Second)
	id := f.connect(t, ctx).SessionID
	sh := openShell(t, ctx, f.h, id)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	n := 50_000_000 + rand.IntN(1000)
	cmd := fmt.Sprintf("yes | head -c %d; echo flood-$((1+1))-done", n)
	if _, err := f.h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: cmd}); err != nil {
		t.Fatal(err)
	}
	w, err := f.h.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: `flood-2-done\n.*\$ $`, Regex: true, Timeout: 150})
	close(stop)
	<-sampled
	if err != nil || !w.Matched {
		t.Fatalf("wait for the end of the flood: matched %v timed out %v waited %d ms, %v", w.Matched, w.TimedOut, w.WaitedMS, err)
	}
	if growth := int64(peak) - int64(before.HeapInuse); growth > 64<<20 {
		t.Errorf("heap grew by %d MiB under a flood of %d bytes", growth>>20, n)
	}
	// The PTY turns each "\n" into "\r\n": the shell printed about 1.5 n bytes.
	huge := int64(1) << 62
	tail, err := f.h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh, Since: &huge})
	if err != nil {
		t.Fatal(err)
	}
	end := tail.NextOffset
	if end < int64(n)*3/2 || tail.Output != "" || tail.Offset != end {
		t.Fatalf("end offset %d for %d bytes of yes; tail %+v", end, n, tail)
	}
	start := end - session.DefaultShellBuffer
	for _, since := range []int64{0, 1000, start - 1} {
		r, err := f.h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh, Since: &since, Raw: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Offset != start || r.DroppedBytes != start-since || len(r.Output) != session.DefaultShellRead || r.NextOffset != start+int64(len(r.Output)) {
			t.Errorf("since %d: offset %d dropped %d len %d next %d; want offset %d dropped %d", since, r.Offset, r.DroppedBytes, len(r.Output), r.NextOffset, start, start-since)
		}
	}
	if r, _ := f.h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh, Since: &start}); r.DroppedBytes != 0 {
		t.Errorf("nothing dropped from the buffer's start, got %d", r.DroppedBytes)
	}
	if !regexp.MustCompile(`^(y\n)+`).MatchString(strings.TrimPrefix(mustRead(t, ctx, f.h, id, sh, start), "\n")) {
		t.Error("buffer does not hold the flood's tail")
	}
}

func mustRead(t *testing.T, ctx context.Context, ops session.Operations, id, sh string, since int64) string {
	t.Helper()
	r, err := ops.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh, Since: &since, MaxBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return r.Output
}

func TestShellConcurrentOpensRespectTheLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	h := session.NewHolder(session.HolderConfig{Logger: log.New(io.Discard), Home: f.env.Home, MaxShells: 3})
	t.Cleanup(func() { h.Close() })
	c, err := h.Connect(ctx, session.ConnectRequest{Host: f.target(), KeyPath: f.user.KeyPath})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.ShellOpen(ctx, session.ShellOpenRequest{SessionID: c.SessionID})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
		} else if session.CodeOf(err) != session.CodeInvalidArgument {
			t.Errorf("unexpected error %v", err)
		}
	}
	l, _ := h.ListSessions(ctx, session.ListSessionsRequest{})
	if ok != 3 || len(l.Sessions) != 1 || l.Sessions[0].Shells != 3 {
		t.Errorf("%d opens succeeded, %+v; want exactly 3", ok, l.Sessions)
	}
}

func TestShellConnectionLost(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	sh := openShell(t, ctx, f.h, id)
	f.srv.KillConnections()
	w, err := f.h.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: sh, Pattern: "never-printed", Timeout: 10})
	if err != nil || !w.Exited {
		t.Fatalf("wait on a shell whose connection dropped: %+v %v", w, err)
	}
	_, err = f.h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh, Data: "echo hi"})
	e := wantCode(t, err, session.CodeShellExited)
	if !strings.Contains(e.Message, "connection was lost") {
		t.Errorf("message should say the connection was lost: %v", e)
	}
	r, err := f.h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh})
	if err != nil || !r.Exited || r.ExitStatus != nil {
		t.Errorf("read %+v %v", r, err)
	}
	// A new shell on the same session reconnects.
	sh2 := openShell(t, ctx, f.h, id)
	if out := shellRun(t, ctx, f.h, id, sh2, "echo again-$((1+1))"); !strings.Contains(out, "\nagain-2\n") {
		t.Errorf("new shell after reconnect: %q", out)
	}
}

// Several viewers at once, through the socket too: all see the output; a
// read-only viewer's keystrokes never reach the shell.
func TestShellAttachViewers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	sh := openShell(t, ctx, f.h, id)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var outs []*syncBuffer
	roR, roW := io.Pipe()
	for i := 0; i < 3; i++ {
		out := &syncBuffer{}
		outs = append(outs, out)
		req := session.ShellAttachRequest{SessionID: id, ShellID: sh, ReadOnly: i == 2}
		term := session.Terminal{Output: out}
		if i == 2 {
			term.Input = roR
		}
		go f.h.ShellAttach(actx, req, term)
	}
	for i, out := range outs {
		waitFor(t, 10*time.Second, fmt.Sprintf("viewer %d sees the prompt", i), func() bool { return strings.Contains(out.String(), prompt) })
	}
	// The read-only viewer types: nothing reaches the shell (in-process, its
	// input is never read, so the write is left pending).
	go io.WriteString(roW, "echo typed-by-a-watcher\r")
	defer roW.Close()
	shellRun(t, ctx, f.h, id, sh, "echo for-all-$((3*3))")
	for i, out := range outs {
		waitFor(t, 10*time.Second, fmt.Sprintf("viewer %d sees the output", i), func() bool { return strings.Contains(out.String(), "for-all-9") })
	}
	r, err := f.h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh, Since: new(int64)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Output, "typed-by-a-watcher") {
		t.Errorf("a read-only viewer's keystrokes reached the shell:\n%s", r.Output)
	}
}
