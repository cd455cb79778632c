package cmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// ShellOptions are the inputs of `shell` and its subcommands.
type ShellOptions struct {
	Target   string
	ShellID  string
	Term     string
	Cols     int
	Rows     int
	Data     string
	NoEnter  bool
	Since    int64
	All      bool
	Raw      bool
	Key      string
	Pattern  string
	Regex    bool
	Quiet    time.Duration
	Timeout  time.Duration
	ReadOnly bool
	JSON     bool
	Flags    ConnectFlags
}

// NewCmdShell builds `shell` (interactive, like ssh) and `shell open|send|read|ctrl|wait|attach|close`.
func NewCmdShell(f *Factory) *cobra.Command {
	opts := &ShellOptions{}
	c := &cobra.Command{
		Use:   "shell TARGET",
		Short: "Interactive shell on a session, like `ssh host`; subcommands drive persistent shells from scripts",
		Long: `With only a TARGET, opens a shell on a PTY and connects your terminal to it in raw mode, like
'ssh host': colours, vim and top work, window resizes follow, and the shell's exit status becomes
this command's. The subcommands drive persistent shells that live in the holder (the same ones
an agent drives through MCP): output is addressed by byte offsets so that several readers never
steal each other's output, and 'attach' lets a person watch or take over a shell.`,
		Example: `  mcp-remote-ssh shell web
  mcp-remote-ssh shell open web --cols 120 --rows 40
  mcp-remote-ssh shell send web 'cd /opt && make -j4'
  mcp-remote-ssh shell wait web --pattern '$ ' --timeout 10m
  mcp-remote-ssh shell read web --since 0
  mcp-remote-ssh shell ctrl web c
  mcp-remote-ssh shell attach web          # Ctrl-] detaches
  mcp-remote-ssh shell close web`,
		Args: exactArgs(1, "one TARGET (or a subcommand)"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runShellInteractive(c.Context(), f, opts)
		},
	}
	opts.Flags.register(c, true)
	shellFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&opts.ShellID, "shell", "", "shell id (default: the session's first shell)")
	}
	open := &cobra.Command{
		Use:     "open TARGET",
		Short:   "Open a persistent shell in the holder and print its id",
		Example: "  mcp-remote-ssh shell open web --term xterm-256color --cols 200 --rows 50",
		Args:    exactArgs(1, "one TARGET"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runShellOp(c.Context(), f, opts, func(ctx context.Context, ops session.Operations, id string) (any, string, error) {
				r, err := ops.ShellOpen(ctx, session.ShellOpenRequest{SessionID: id, Term: opts.Term, Cols: opts.Cols, Rows: opts.Rows})
				return r, r.ShellID + "\n", err
			})
		},
	}
	open.Flags().StringVar(&opts.Term, "term", "xterm-256color", "TERM of the shell")
	open.Flags().IntVar(&opts.Cols, "cols", 200, "terminal width")
	open.Flags().IntVar(&opts.Rows, "rows", 50, "terminal height")
	opts.Flags.register(open, true)

	send := &cobra.Command{
		Use:     "send TARGET TEXT",
		Short:   "Type TEXT into a shell, then Enter (unless --no-enter)",
		Example: "  mcp-remote-ssh shell send web 'make test'\n  mcp-remote-ssh shell send web --no-enter 'y'",
		Args:    exactArgs(2, "a TARGET and the TEXT to send"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target, opts.Data = args[0], args[1]
			enter := !opts.NoEnter
			return runShellOp(c.Context(), f, opts, func(ctx context.Context, ops session.Operations, id string) (any, string, error) {
				r, err := ops.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: opts.ShellID, Data: opts.Data, Enter: &enter})
				return r, "", err
			})
		},
	}
	send.Flags().BoolVar(&opts.NoEnter, "no-enter", false, "do not press Enter after the text")
	shellFlag(send)

	read := &cobra.Command{
		Use:     "read TARGET",
		Short:   "Print new output of a shell since the last read (or --since OFFSET, --all)",
		Example: "  mcp-remote-ssh shell read web\n  mcp-remote-ssh shell read web --since 1024 --raw",
		Args:    exactArgs(1, "one TARGET"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runShellOp(c.Context(), f, opts, func(ctx context.Context, ops session.Operations, id string) (any, string, error) {
				req := session.ShellReadRequest{SessionID: id, ShellID: opts.ShellID, Raw: opts.Raw, MaxBytes: 1 << 20}
				if c.Flags().Changed("since") {
					req.Since = &opts.Since
				}
				if opts.All {
					zero := int64(0)
					req.Since = &zero
				}
				r, err := ops.ShellRead(ctx, req)
				if err == nil && r.DroppedBytes > 0 && !opts.JSON {
					fmt.Fprintf(f.IO.ErrOut, "(%d bytes of output were dropped from the rolling buffer before offset %d)\n", r.DroppedBytes, r.Offset)
				}
				return r, r.Output, err
			})
		},
	}
	read.Flags().Int64Var(&opts.Since, "since", 0, "byte offset to read from")
	read.Flags().BoolVar(&opts.All, "all", false, "everything still in the buffer")
	read.Flags().BoolVar(&opts.Raw, "raw", false, "keep escape sequences and carriage returns")
	shellFlag(read)

	ctrl := &cobra.Command{
		Use:     "ctrl TARGET KEY",
		Short:   "Send a control key: c d z \\ l esc tab enter up down left right home end pgup pgdn f1..f12",
		Example: "  mcp-remote-ssh shell ctrl web c      # Ctrl+C\n  mcp-remote-ssh shell ctrl web up",
		Args:    exactArgs(2, "a TARGET and a KEY"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target, opts.Key = args[0], args[1]
			return runShellOp(c.Context(), f, opts, func(ctx context.Context, ops session.Operations, id string) (any, string, error) {
				r, err := ops.ShellControl(ctx, session.ShellControlRequest{SessionID: id, ShellID: opts.ShellID, Key: opts.Key})
				return r, "", err
			})
		},
	}
	shellFlag(ctrl)

	wait := &cobra.Command{
		Use:   "wait TARGET",
		Short: "Wait for a pattern (literal, or --regex) after the last send, or for --quiet output; exit 1 on timeout",
		Example: `  mcp-remote-ssh shell wait web --pattern '$ ' --timeout 10m
  mcp-remote-ssh shell wait web --pattern 'tests? (passed|failed)' --regex
  mcp-remote-ssh shell wait web --quiet 2s`,
		Args: exactArgs(1, "one TARGET"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target = args[0]
			if opts.Timeout <= 0 {
				return session.Errf(session.CodeInvalidArgument, "give a positive duration such as 30s", "--timeout %v is not positive", opts.Timeout)
			}
			var timedOut bool
			err := runShellOp(c.Context(), f, opts, func(ctx context.Context, ops session.Operations, id string) (any, string, error) {
				r, err := ops.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: opts.ShellID, Pattern: opts.Pattern, Regex: opts.Regex,
					QuietMS: int(opts.Quiet / time.Millisecond), Timeout: opts.Timeout.Seconds(), Raw: opts.Raw})
				timedOut = r.TimedOut
				return r, r.Output, err
			})
			if err == nil && timedOut {
				return session.Errf(session.CodeTimeout, "raise --timeout, or check the pattern", "the pattern did not appear within %v", opts.Timeout)
			}
			return err
		},
	}
	wait.Flags().StringVar(&opts.Pattern, "pattern", "", "text to wait for (literal unless --regex)")
	wait.Flags().BoolVar(&opts.Regex, "regex", false, "treat --pattern as a Go regular expression")
	wait.Flags().DurationVar(&opts.Quiet, "quiet", 0, "without --pattern: wait until no output arrives for this long (default 2s)")
	wait.Flags().DurationVar(&opts.Timeout, "timeout", 30*time.Second, "give up after this long")
	wait.Flags().BoolVar(&opts.Raw, "raw", false, "match and print raw bytes")
	shellFlag(wait)

	attach := &cobra.Command{
		Use:     "attach TARGET",
		Short:   "Join a live shell (the one an agent drives, too): see its output, type into it; Ctrl-] detaches",
		Example: "  mcp-remote-ssh shell attach web\n  mcp-remote-ssh shell attach web --read-only",
		Args:    exactArgs(1, "one TARGET"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runShellAttach(c.Context(), f, opts)
		},
	}
	attach.Flags().BoolVar(&opts.ReadOnly, "read-only", false, "watch only; keystrokes are not sent")
	shellFlag(attach)

	closeCmd := &cobra.Command{
		Use:     "close TARGET",
		Short:   "End a shell (hang-up)",
		Example: "  mcp-remote-ssh shell close web --shell 2",
		Args:    exactArgs(1, "one TARGET"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target = args[0]
			return runShellOp(c.Context(), f, opts, func(ctx context.Context, ops session.Operations, id string) (any, string, error) {
				r, err := ops.ShellClose(ctx, session.ShellCloseRequest{SessionID: id, ShellID: opts.ShellID})
				return r, "", err
			})
		},
	}
	shellFlag(closeCmd)
	for _, sc := range []*cobra.Command{open, send, read, ctrl, wait, attach, closeCmd} {
		sc.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
		c.AddCommand(sc)
	}
	return c
}

// runShellOp resolves the target, runs op and prints its result.
func runShellOp(ctx context.Context, f *Factory, opts *ShellOptions, op func(context.Context, session.Operations, string) (any, string, error)) error {
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	ctx = f.Caller(ctx)
	target, err := opts.Flags.resolve(ctx, f, ops, opts.Target)
	if err != nil {
		return err
	}
	res, text, err := op(ctx, ops, target.SessionID)
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(f, res)
	}
	fmt.Fprint(f.IO.Out, text)
	return nil
}

// detachReader ends at Ctrl-] (0x1d), like telnet.
type detachReader struct{ r io.Reader }

func (d detachReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if i := bytes.IndexByte(p[:n], 0x1d); i >= 0 {
		return i, io.EOF
	}
	return n, err
}

// rawTerminal puts stdin in raw mode and reports window size changes.
func rawTerminal(ctx context.Context) (restore func(), resize chan [2]int, cols, rows int, err error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, nil, 0, 0, session.Errf(session.CodeInvalidArgument, "run it in a terminal, or use `shell open/send/read/wait` from scripts", "stdin is not a terminal")
	}
	cols, rows, _ = term.GetSize(fd)
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, nil, 0, 0, session.Wrap(session.CodeInternal, err, "", "raw mode")
	}
	resize = make(chan [2]int, 1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				if c, r, err := term.GetSize(fd); err == nil {
					select {
					case resize <- [2]int{c, r}:
					default:
					}
				}
			}
		}
	}()
	return func() {
		cancel()
		signal.Stop(sig)
		term.Restore(fd, old)
	}, resize, cols, rows, nil
}

func runShellInteractive(ctx context.Context, f *Factory, opts *ShellOptions) error {
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	ctx = f.Caller(ctx)
	target, err := opts.Flags.resolve(ctx, f, ops, opts.Target)
	if err != nil {
		return err
	}
	restore, resize, cols, rows, err := rawTerminal(ctx)
	if err != nil {
		return err
	}
	defer restore()
	t := os.Getenv("TERM")
	if t == "" {
		t = "xterm-256color"
	}
	sh, err := ops.ShellOpen(ctx, session.ShellOpenRequest{SessionID: target.SessionID, Term: t, Cols: cols, Rows: rows})
	if err != nil {
		return err
	}
	res, err := ops.ShellAttach(ctx, session.ShellAttachRequest{SessionID: target.SessionID, ShellID: sh.ShellID, CloseOnDetach: true, History: -1},
		session.Terminal{Output: f.IO.Out, Input: f.IO.In, Resize: resize})
	restore()
	if err != nil {
		return err
	}
	if res.Exited && res.ExitStatus != nil && *res.ExitStatus != 0 {
		return ExitStatus(*res.ExitStatus)
	}
	return nil
}

func runShellAttach(ctx context.Context, f *Factory, opts *ShellOptions) error {
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	ctx = f.Caller(ctx)
	target, err := opts.Flags.resolve(ctx, f, ops, opts.Target)
	if err != nil {
		return err
	}
	var in io.Reader = detachReader{r: f.IO.In}
	var resize chan [2]int
	if f.IO.InTTY {
		var restore func()
		restore, resize, _, _, err = rawTerminal(ctx)
		if err != nil {
			return err
		}
		defer restore()
		fmt.Fprint(f.IO.ErrOut, "[attached to shell; Ctrl-] detaches]\r\n")
	}
	res, err := ops.ShellAttach(ctx, session.ShellAttachRequest{SessionID: target.SessionID, ShellID: opts.ShellID, ReadOnly: opts.ReadOnly},
		session.Terminal{Output: f.IO.Out, Input: in, Resize: resize})
	if err != nil {
		return err
	}
	if res.Exited {
		st := "unknown"
		if res.ExitStatus != nil {
			st = strconv.Itoa(*res.ExitStatus)
		}
		fmt.Fprintf(f.IO.ErrOut, "\r\n[shell %s exited, status %s]\r\n", res.ShellID, st)
	} else {
		fmt.Fprint(f.IO.ErrOut, "\r\n[detached]\r\n")
	}
	return nil
}
