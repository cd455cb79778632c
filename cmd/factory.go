package cmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"golang.org/x/term"
)

// BuildInfo is stamped into the binary at release time.
type BuildInfo struct {
	Version, Commit, Date string
}

// String is the version the holder and the CLI compare.
func (b BuildInfo) String() string {
	if b.Commit == "" || b.Commit == "none" {
		return b.Version
	}
	return b.Version + "+" + b.Commit
}

// IOStreams are the process's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InTTY, ErrTTY say whether stdin and stderr are terminals.
	InTTY, OutTTY, ErrTTY bool
}

// SystemIO returns the real standard streams.
func SystemIO() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		InTTY: term.IsTerminal(int(os.Stdin.Fd())), OutTTY: term.IsTerminal(int(os.Stdout.Fd())), ErrTTY: term.IsTerminal(int(os.Stderr.Fd()))}
}

// Factory gives commands their dependencies, lazily: cheap commands never
// start or dial the holder.
type Factory struct {
	Build BuildInfo
	IO    *IOStreams

	// Global flags.
	HostKeyPolicy string

	once   sync.Once
	client *session.Client
	err    error
	stdin  *bufio.Reader
}

// Stdin returns a buffered reader over standard input, shared by every reader
// (a password line, then the command's input).
func (f *Factory) Stdin() *bufio.Reader {
	if f.stdin == nil {
		f.stdin = bufio.NewReaderSize(f.IO.In, 64<<10)
	}
	return f.stdin
}

// Ops returns the operations, reached through the holder's socket; the first
// call starts the holder when none runs.
func (f *Factory) Ops(ctx context.Context) (session.Operations, error) {
	c, err := f.Client(ctx)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Client returns the socket client, starting the holder when needed.
func (f *Factory) Client(ctx context.Context) (*session.Client, error) {
	f.once.Do(func() {
		path, err := session.SocketPath()
		if err != nil {
			f.err = err
			return
		}
		_, replaced, err := session.EnsureHolder(ctx, path, startHolderProcess)
		if err != nil {
			f.err = err
			return
		}
		if replaced {
			fmt.Fprintln(f.IO.ErrOut, "mcp-remote-ssh: the previous holder had stopped (crashed or killed); started a new one — earlier sessions are gone")
		}
		f.client = session.NewClient(path, f.Build.String())
	})
	return f.client, f.err
}

// Caller attaches the CLI's caller to ctx: it sees every CLI session, sends
// its own SSH_AUTH_SOCK, and asks on the terminal when there is one.
func (f *Factory) Caller(ctx context.Context) context.Context {
	c := session.Caller{Owner: session.OwnerCLI, All: true, AgentSocket: os.Getenv("SSH_AUTH_SOCK"), HostKeyPolicy: f.HostKeyPolicy}
	if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		tty.Close()
		c.Prompter = session.PrompterFunc(ttyPrompt)
	}
	return session.WithCaller(ctx, c)
}

// ttyPrompt asks on the controlling terminal, like ssh does.
func ttyPrompt(ctx context.Context, p session.Prompt) (string, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", session.Errf(session.CodeInputRequired, "", "no terminal to ask on: %s", p.Message)
	}
	defer tty.Close()
	stop := context.AfterFunc(ctx, func() { tty.Close() })
	defer stop()
	msg := p.Message
	if !strings.HasSuffix(msg, " ") {
		msg += " "
	}
	fmt.Fprint(tty, msg)
	if p.Echo {
		line, err := bufio.NewReader(tty).ReadString('\n')
		if err != nil && line == "" {
			return "", session.Errf(session.CodeInputRequired, "", "no answer: %v", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", session.Errf(session.CodeInputRequired, "", "read answer: %v", err)
	}
	return string(b), nil
}

// holderEnvDrop are variables the detached holder must not inherit: it never
// takes secrets (or an agent) from its own environment.
var holderEnvDrop = []string{"MCP_REMOTE_SSH_PASSWORD", "MCP_REMOTE_SSH_PASSPHRASE", "MCP_REMOTE_SSH_SUDO_PASSWORD", "MCP_REMOTE_SSH_TOKEN", "SSH_AUTH_SOCK"}

// startHolderProcess launches `mcp-remote-ssh holder` detached (its own
// session, no terminal, stdio on /dev/null; it logs to a file).
func startHolderProcess() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	c := exec.Command(exe, "holder")
	env := os.Environ()[:0:0]
	for _, kv := range os.Environ() {
		drop := false
		for _, k := range holderEnvDrop {
			if strings.HasPrefix(kv, k+"=") {
				drop = true
			}
		}
		if !drop {
			env = append(env, kv)
		}
	}
	c.Env = env
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	c.Dir = "/"
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s holder: %w", exe, err)
	}
	go c.Wait() // reap it if it exits while we run
	return nil
}

// readSecretLine reads a secret from the first line of stdin.
func readSecretLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// durationEnv returns the duration in env var name, else def.
func durationEnv(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		if d, err := time.ParseDuration(v + "s"); err == nil {
			return d
		}
	}
	return def
}
