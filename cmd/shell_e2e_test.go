package cmd_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// ptyRun starts the binary on a new pseudo-terminal (its controlling terminal).
type ptyRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	tty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (h *harness) startPTY(args ...string) *ptyRun {
	h.t.Helper()
	c := exec.Command(h.bin, args...)
	c.Env = append(h.env.Environ(), "TERM=xterm")
	c.Dir = "/"
	tty, err := pty.StartWithSize(c, &pty.Winsize{Cols: 100, Rows: 30})
	if err != nil {
		h.t.Fatalf("start on a pty: %v", err)
	}
	p := &ptyRun{t: h.t, cmd: c, tty: tty, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	h.t.Cleanup(func() {
		c.Process.Kill()
		tty.Close()
	})
	return p
}

func (p *ptyRun) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *ptyRun) waitOutput(s string, d time.Duration) {
	p.t.Helper()
	if !waitFor(d, func() bool { return strings.Contains(p.output(), s) }) {
		p.t.Fatalf("no %q on the terminal within %v; saw:\n%s", s, d, p.output())
	}
}

func (p *ptyRun) wait(d time.Duration) int {
	p.t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- p.cmd.Wait() }()
	select {
	case <-ch:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		p.t.Fatalf("still running after %v; terminal:\n%s", d, p.output())
		return -1
	}
}

func TestShellInteractiveOnPTY(t *testing.T) {
	h := newHarness(t, true)
	want(t, h.run("connect", h.target(), "-i", h.user.KeyPath, "--name", "web"), 0)
	p := h.startPTY("shell", "web")
	io.WriteString(p.tty, "stty size; echo mark-$((40+2))\r")
	p.waitOutput("30 100", 20*time.Second)
	p.waitOutput("mark-42", 10*time.Second)
	// A window resize follows the terminal.
	pty.Setsize(p.tty, &pty.Winsize{Cols: 77, Rows: 22})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.output(), "22 77") {
		if time.Now().After(deadline) {
			t.Fatalf("resize never reached the remote stty size:\n%s", p.output())
		}
		io.WriteString(p.tty, "stty size\r")
		time.Sleep(300 * time.Millisecond)
	}
	// Colours and raw keys pass through; the exit status becomes ours.
	io.WriteString(p.tty, "exit 3\r")
	if code := p.wait(20 * time.Second); code != 3 {
		t.Errorf("exit code %d, want 3; terminal:\n%s", code, p.output())
	}
	// The interactive shell is closed with the command.
	r := h.run("sessions", "--json")
	if !strings.Contains(r.stdout, `"shells":0`) {
		t.Errorf("shell left open: %s", r.stdout)
	}
}

func TestShellScriptedAndAttach(t *testing.T) {
	h := newHarness(t, true)
	want(t, h.run("connect", h.target(), "-i", h.user.KeyPath, "--name", "web"), 0)
	r := h.run("shell", "open", "web")
	want(t, r, 0)
	if strings.TrimSpace(r.stdout) != "1" {
		t.Fatalf("shell id %q", r.stdout)
	}
	want(t, h.run("shell", "send", "web", "cd /tmp && export GREETING=hello"), 0)
	want(t, h.run("shell", "send", "web", "echo $GREETING from $(pwd)"), 0)
	want(t, h.run("shell", "wait", "web", "--pattern", "hello from /tmp", "--timeout", "20s"), 0, "out:hello from /tmp")
	// A regex that does not compile, an unknown key, a timeout.
	want(t, h.run("shell", "wait", "web", "--pattern", "([", "--regex"), 2, "does not compile")
	want(t, h.run("shell", "ctrl", "web", "nosuchkey"), 2, "valid keys")
	r = h.run("shell", "wait", "web", "--pattern", "never-printed", "--timeout", "1s")
	want(t, r, 1, "did not appear")
	// Ctrl-C interrupts a running command on the host.
	want(t, h.run("shell", "send", "web", "sleep 4711"), 0)
	waitFor(10*time.Second, func() bool { return len(h.remoteProcs("sleep 4711")) > 0 })
	want(t, h.run("shell", "ctrl", "web", "c"), 0)
	if !waitFor(5*time.Second, func() bool { return len(h.remoteProcs("sleep 4711")) == 0 }) {
		t.Error("sleep survived Ctrl-C")
	}
	// A person attaches: sees what the agent's send produced, and types into the same shell.
	want(t, h.run("shell", "send", "web", "echo agent-$((6*7))"), 0)
	want(t, h.run("shell", "wait", "web", "--pattern", "agent-42"), 0)
	p := h.startPTY("shell", "attach", "web")
	p.waitOutput("agent-42", 15*time.Second)
	io.WriteString(p.tty, "echo person-$((7*7))\r")
	p.waitOutput("person-49", 15*time.Second)
	want(t, h.run("shell", "read", "web", "--all"), 0, "out:person-49")
	// Ctrl-] detaches; the shell lives on.
	io.WriteString(p.tty, "\x1d")
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("detach exit %d", code)
	}
	want(t, h.run("shell", "send", "web", "echo still-$((1+1))"), 0)
	want(t, h.run("shell", "wait", "web", "--pattern", "still-2"), 0)
	// Read by offsets: --since 0 --json starts at 0; the exit of the shell is reported.
	r = h.run("shell", "read", "web", "--since", "0", "--json")
	want(t, r, 0, `out:"offset":0`)
	want(t, h.run("shell", "send", "web", "exit 7"), 0)
	waitFor(10*time.Second, func() bool {
		return strings.Contains(h.run("shell", "read", "web", "--json").stdout, `"exited":true`)
	})
	want(t, h.run("shell", "send", "web", "echo too late"), 1, "exited", "status 7")
	want(t, h.run("shell", "close", "web"), 0)
	want(t, h.run("shell", "read", "web"), 1, "no open shell")
}
