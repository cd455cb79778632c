package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

// ExitStatus is an error that only carries a process exit code (exec relays
// the remote command's status this way); nothing is printed for it.
type ExitStatus int

// Error says which exit status it carries.
func (e ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// FlagError is a usage error: exit code 2 and a pointer to --help.
type FlagError struct{ Err error }

// Error returns the usage error's text.
func (e *FlagError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FlagError) Unwrap() error { return e.Err }

// NewRootCmd builds the command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcp-remote-ssh",
		Short: "Persistent SSH sessions for shell scripts, people and AI agents",
		Long: `mcp-remote-ssh keeps SSH sessions open in a background holder (like OpenSSH's
ControlMaster) so that later commands — from any terminal or script — reuse them.
The same operations are served to AI agents as MCP tools by 'serve mcp'.`,
		Example: `  mcp-remote-ssh connect alice@127.0.0.1:2222 --name web
  mcp-remote-ssh exec web -- uname -a
  mcp-remote-ssh sessions
  mcp-remote-ssh close web`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &FlagError{Err: err} })
	root.PersistentFlags().StringVar(&f.HostKeyPolicy, "host-key-policy", envOr("MCP_REMOTE_SSH_HOST_KEY_POLICY", session.HostKeyAcceptNew),
		"host key checking: strict, accept-new, ask or off (env MCP_REMOTE_SSH_HOST_KEY_POLICY)")
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		switch f.HostKeyPolicy {
		case session.HostKeyStrict, session.HostKeyAcceptNew, session.HostKeyAsk:
		case session.HostKeyOff:
			fmt.Fprintln(f.IO.ErrOut, "WARNING: --host-key-policy off: host keys are NOT verified; anyone on the path can impersonate the host.")
		default:
			return &FlagError{Err: fmt.Errorf("--host-key-policy %q: use strict, accept-new, ask or off", f.HostKeyPolicy)}
		}
		return nil
	}
	root.AddCommand(
		NewCmdConnect(f, nil),
		NewCmdSessions(f, nil),
		NewCmdClose(f, nil),
		NewCmdExec(f, nil),
		NewCmdShell(f),
		NewCmdPut(f),
		NewCmdGet(f),
		NewCmdCat(f),
		NewCmdWrite(f),
		NewCmdLs(f),
		NewCmdForward(f),
		NewCmdHolder(f),
		NewCmdVersion(f),
		NewCmdServe(f),
		NewCmdGenDocs(f),
	)
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		c.Example = `  source <(mcp-remote-ssh completion bash)
  mcp-remote-ssh completion zsh > "${fpath[1]}/_mcp-remote-ssh"
  mcp-remote-ssh completion fish > ~/.config/fish/completions/mcp-remote-ssh.fish`
	}
	return root
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Main runs the CLI and returns the process exit code. It is the one place
// that maps errors to exit codes and prints them.
func Main(b BuildInfo) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f := &Factory{Build: b, IO: SystemIO()}
	return Run(ctx, f, os.Args[1:])
}

// Run executes args with f and returns the exit code.
func Run(ctx context.Context, f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	c, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var es ExitStatus
	if errors.As(err, &es) {
		return int(es)
	}
	isExec := c != nil && c.Name() == "exec"
	// Our commands return *session.Error; anything else comes from flag and
	// argument parsing (cobra has no error types of its own): a usage error.
	var se *session.Error
	if !errors.As(err, &se) {
		fmt.Fprintf(f.IO.ErrOut, "mcp-remote-ssh: %v\nRun '%s --help' for usage.\n", err, commandPath(c))
		if isExec {
			return 255
		}
		return 2
	}
	e := session.AsError(err)
	if e.Code == session.CodeInternal {
		// A bug: say so without a stack trace.
		e.Hint = "this is a bug in mcp-remote-ssh; please report it"
	}
	if c != nil {
		if fl := c.Flags().Lookup("json"); fl != nil && fl.Value.String() == "true" {
			json.NewEncoder(f.IO.Out).Encode(map[string]*session.Error{"error": e})
		}
	}
	fmt.Fprintf(f.IO.ErrOut, "mcp-remote-ssh: %s: %s\n", e.Code, e.Message)
	if e.Hint != "" {
		fmt.Fprintf(f.IO.ErrOut, "hint: %s\n", e.Hint)
	}
	if isExec {
		return 255
	}
	if e.Code == session.CodeInvalidArgument {
		return 2
	}
	return 1
}

func commandPath(c *cobra.Command) string {
	if c == nil {
		return "mcp-remote-ssh"
	}
	return c.CommandPath()
}

// argsError marks positional-argument errors from our Args validators.
type argsError struct{ msg string }

func (e *argsError) Error() string { return e.msg }

// exactArgs is cobra.ExactArgs with a usage-style error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return &argsError{msg: fmt.Sprintf("%s takes %s (got %d arguments)", c.CommandPath(), what, len(args))}
		}
		return nil
	}
}
