package cmd

import (
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

// ExecOptions are the inputs of `exec`.
type ExecOptions struct {
	Target            string
	Command           string
	JSON              bool
	NoStdin           bool
	Timeout           time.Duration
	Cwd               string
	Env               []string
	MaxOutput         int
	Sudo              bool
	SudoPasswordStdin bool
	SudoFromLogin     bool
	Flags             ConnectFlags
}

// NewCmdExec builds `exec`.
func NewCmdExec(f *Factory, runF func(context.Context, *ExecOptions) error) *cobra.Command {
	opts := &ExecOptions{}
	c := &cobra.Command{
		Use:   "exec TARGET [flags] -- COMMAND [ARG...]",
		Short: "Run a command on a session, like `ssh host cmd`",
		Long: `Run one command. Remote stdout goes to stdout and stderr to stderr as they arrive,
stdin is forwarded (-n: none), and the remote exit code becomes this process's exit code
(128+N when the command died of signal N, 255 for an error of mcp-remote-ssh itself).
--json prints {stdout, stderr, exit_code, signal, ...} instead, each stream capped.
TARGET is a session id or name, or a host spec that reuses a live session to that host
(or connects one). --timeout (default 10m, env MCP_REMOTE_SSH_EXEC_TIMEOUT) and Ctrl-C
kill the whole remote process group.`,
		Example: `  mcp-remote-ssh exec web -- df -h /
  echo data | mcp-remote-ssh exec web -- wc -c
  mcp-remote-ssh exec web --json -- 'echo out; echo err >&2; exit 3'
  mcp-remote-ssh exec web --timeout 5s --cwd /srv --env K=V -- make test
  mcp-remote-ssh exec web --sudo --sudo-password-stdin -- systemctl restart nginx < pw
  mcp-remote-ssh exec alice@db.example.com -- uptime`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) < 2 {
				return &argsError{msg: "exec takes a TARGET and a COMMAND: mcp-remote-ssh exec TARGET -- COMMAND"}
			}
			opts.Target, opts.Command = args[0], strings.Join(args[1:], " ")
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runExec(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.BoolVar(&opts.JSON, "json", false, "print the structured result as JSON instead of streaming")
	fl.BoolVarP(&opts.NoStdin, "no-stdin", "n", false, "give the command no input (like ssh -n)")
	fl.DurationVar(&opts.Timeout, "timeout", durationEnv("MCP_REMOTE_SSH_EXEC_TIMEOUT", 10*time.Minute), "kill the command after this long, connect included (env MCP_REMOTE_SSH_EXEC_TIMEOUT)")
	fl.StringVar(&opts.Cwd, "cwd", "", "remote working directory (must exist)")
	fl.StringArrayVar(&opts.Env, "env", nil, "set K=V in the command's environment (repeatable)")
	fl.IntVar(&opts.MaxOutput, "max-output", 1<<20, "with --json: cap per stream in bytes, head and tail kept")
	fl.BoolVar(&opts.Sudo, "sudo", false, "run the command under sudo (password via stdin, env or prompt; never argv)")
	fl.BoolVar(&opts.SudoPasswordStdin, "sudo-password-stdin", false, "read the sudo password from the first line of stdin (or set MCP_REMOTE_SSH_SUDO_PASSWORD)")
	fl.BoolVar(&opts.SudoFromLogin, "sudo-password-from-login", false, "reuse the session's login password as the sudo password")
	opts.Flags.register(c, true)
	return c
}

// signalNumbers are the Linux numbers of the signals an SSH server names in
// exit-signal (RFC 4254 lists the first thirteen; others may come as
// "NAME@openssh.com" or with a SIG prefix).
var signalNumbers = map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
	"USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18, "STOP": 19,
	"TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29,
	"PWR": 30, "SYS": 31}

// signalNumber returns the number of a signal named by an SSH server.
func signalNumber(name string) (int, bool) {
	name, _, _ = strings.Cut(name, "@")
	name = strings.TrimPrefix(strings.ToUpper(name), "SIG")
	n, ok := signalNumbers[name]
	return n, ok
}

func runExec(ctx context.Context, f *Factory, opts *ExecOptions) error {
	start := time.Now()
	if opts.Timeout <= 0 {
		return session.Errf(session.CodeInvalidArgument, "give a positive duration such as 30s or 10m", "--timeout %v is not positive", opts.Timeout)
	}
	env := map[string]string{}
	for _, kv := range opts.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return session.Errf(session.CodeInvalidArgument, "write --env NAME=value", "--env %q has no NAME=", kv)
		}
		env[k] = v
	}
	req := session.SudoExecRequest{ExecRequest: session.ExecRequest{Command: opts.Command, Cwd: opts.Cwd, Env: env, MaxOutputBytes: opts.MaxOutput},
		PasswordFromLogin: opts.SudoFromLogin}
	if opts.Sudo {
		req.SudoPassword = session.Secret(os.Getenv("MCP_REMOTE_SSH_SUDO_PASSWORD"))
		if opts.SudoPasswordStdin {
			line, err := readSecretLine(f.Stdin())
			if err != nil || line == "" {
				return session.Errf(session.CodeInvalidArgument, "pipe the password in: --sudo-password-stdin < pw", "stdin gave no sudo password")
			}
			req.SudoPassword = session.Secret(line)
		}
		if opts.SudoPasswordStdin && (opts.Flags.PasswordStdin || opts.Flags.PassphraseStdin) {
			return session.Errf(session.CodeInvalidArgument, "use --sudo-password-from-login, or pass one secret in its environment variable",
				"--sudo-password-stdin and --password-stdin/--passphrase-stdin both want the first line of stdin")
		}
	} else if opts.SudoPasswordStdin || opts.SudoFromLogin {
		return session.Errf(session.CodeInvalidArgument, "add --sudo", "--sudo-password-stdin and --sudo-password-from-login need --sudo")
	}
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	cctx := f.Caller(ctx)
	tctx, cancel := context.WithTimeout(cctx, opts.Timeout)
	target, err := opts.Flags.resolve(tctx, f, ops, opts.Target)
	cancel()
	if err != nil {
		return err
	}
	req.SessionID = target.SessionID
	remaining := opts.Timeout - time.Since(start)
	if remaining <= 0 {
		return session.Errf(session.CodeTimeout, "raise --timeout", "the timeout of %v ran out while connecting", opts.Timeout)
	}
	req.Timeout = remaining.Seconds()

	var res session.ExecResult
	if opts.JSON {
		if !opts.NoStdin && !f.IO.InTTY {
			data, err := io.ReadAll(f.Stdin())
			if err != nil {
				return session.Wrap(session.CodeInvalidArgument, err, "", "read stdin")
			}
			req.Stdin = string(data)
		}
		if opts.Sudo {
			res, err = ops.SudoExec(cctx, req)
		} else {
			res, err = ops.Exec(cctx, req.ExecRequest)
		}
		if err != nil && res.Outcome == "" {
			return err
		}
		if perr := printJSON(f, res); perr != nil {
			return session.Wrap(session.CodeInternal, perr, "", "print result")
		}
		if err != nil {
			return err
		}
	} else {
		stdio := session.Stdio{Stdout: f.IO.Out, Stderr: f.IO.ErrOut}
		if !opts.NoStdin {
			stdio.Stdin = f.Stdin()
		}
		res, err = ops.ExecStream(cctx, session.ExecStreamRequest{SudoExecRequest: req, Sudo: opts.Sudo, NoStdin: opts.NoStdin}, stdio)
		if err != nil {
			return err
		}
	}
	return execExit(res, opts)
}

// execExit turns a result into the process exit, like ssh.
func execExit(res session.ExecResult, opts *ExecOptions) error {
	switch res.Outcome {
	case session.OutcomeTimedOut, session.OutcomeCanceled:
		what := "timed out after " + opts.Timeout.String()
		code := session.CodeTimeout
		if res.Outcome == session.OutcomeCanceled {
			what, code = "was interrupted", session.CodeCanceled
		}
		killed := "the remote process group was killed"
		if !res.KillConfirmed {
			killed = "could NOT confirm that the remote command stopped; check the host"
		}
		return session.Errf(code, "", "command %s; %s", what, killed)
	case session.OutcomeSignaled:
		if n, ok := signalNumber(res.Signal); ok {
			return ExitStatus(128 + n)
		}
		return ExitStatus(255)
	}
	if res.ExitCode == nil {
		return session.Errf(session.CodeConnectionLost, "check whether the command took effect", "the command's outcome is unknown")
	}
	if *res.ExitCode != 0 {
		return ExitStatus(*res.ExitCode)
	}
	return nil
}
