package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

// holderMemoryLimit is the holder's soft memory limit (GOMEMLIMIT overrides it).
const holderMemoryLimit = 96 << 20

// HolderOptions are the inputs of the hidden `holder` command.
type HolderOptions struct {
	Idle      time.Duration
	Keepalive time.Duration
	LogFile   string
}

// NewCmdHolder builds the hidden `holder` command (and `holder stop|status`).
func NewCmdHolder(f *Factory) *cobra.Command {
	opts := &HolderOptions{}
	c := &cobra.Command{
		Use:    "holder",
		Short:  "Run the session holder in the foreground (started automatically by other commands)",
		Hidden: true,
		Args:   exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			return runHolder(c.Context(), f, opts)
		},
	}
	c.Flags().DurationVar(&opts.Idle, "idle", durationEnv("MCP_REMOTE_SSH_IDLE", 10*time.Minute), "exit after this long with no sessions (env MCP_REMOTE_SSH_IDLE)")
	c.Flags().DurationVar(&opts.Keepalive, "keepalive", durationEnv("MCP_REMOTE_SSH_KEEPALIVE", 15*time.Second), "keepalive interval; 3 missed replies mean the connection is dead")
	c.Flags().StringVar(&opts.LogFile, "log-file", "", "log file (default $XDG_STATE_HOME/mcp-remote-ssh/holder.log)")
	c.AddCommand(&cobra.Command{
		Use:   "stop",
		Short: "Close every session and stop the holder",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			return runHolderStop(c.Context(), f)
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Say whether a holder runs, its version and pid",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			path, err := session.SocketPath()
			if err != nil {
				return session.Wrap(session.CodeInternal, err, "", "socket path")
			}
			// Never talk to a socket that is not ours (another user's holder).
			live, err := session.CheckSocket(path)
			if err != nil {
				return err
			}
			if !live {
				return session.Errf(session.CodeHolderUnavailable, "any mcp-remote-ssh command that needs it starts one", "no holder is running on %s", path)
			}
			v, pid, err := session.NewClient(path, f.Build.String()).Version(c.Context())
			if err != nil {
				return err
			}
			if v == "" || pid == 0 {
				return session.Errf(session.CodeHolderUnavailable, "", "the holder on %s did not say its version and pid", path)
			}
			fmt.Fprintf(f.IO.Out, "holder pid %d, version %s, socket %s\n", pid, v, path)
			return nil
		},
	})
	return c
}

// runHolderStop asks the holder to stop and waits until it no longer
// answers, so the next command starts a new one instead of reaching a holder
// that is shutting down. No holder running is not an error.
func runHolderStop(ctx context.Context, f *Factory) error {
	path, err := session.SocketPath()
	if err != nil {
		return session.Wrap(session.CodeInternal, err, "", "socket path")
	}
	live, err := session.CheckSocket(path)
	if err != nil {
		return err
	}
	if !live {
		fmt.Fprintln(f.IO.ErrOut, "no holder is running")
		return nil
	}
	if err := session.NewClient(path, f.Build.String()).Shutdown(ctx); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		live, err := session.CheckSocket(path)
		if err == nil && !live {
			break
		}
		if time.Now().After(deadline) {
			return session.Errf(session.CodeTimeout, "see the holder log in the state dir (holder.log)", "the holder on %s still answers 10s after it was asked to stop", path)
		}
		select {
		case <-ctx.Done():
			return session.AsError(ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	fmt.Fprintln(f.IO.ErrOut, "holder stopped")
	return nil
}

func runHolder(ctx context.Context, f *Factory, opts *HolderOptions) error {
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the holder is a long-lived daemon whose garbage comes
		// in floods (x/crypto allocates every packet; shells that print fast).
		// Near the limit the GC works harder instead of letting RSS balloon;
		// above it nothing breaks, the GC just runs more often.
		debug.SetMemoryLimit(holderMemoryLimit)
	}
	path, err := session.SocketPath()
	if err != nil {
		return session.Wrap(session.CodeInternal, err, "", "socket path")
	}
	logPath := opts.LogFile
	if logPath == "" {
		dir, err := session.StateDir()
		if err != nil {
			return session.Wrap(session.CodeInternal, err, "", "state dir")
		}
		logPath = filepath.Join(dir, "holder.log")
	}
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return session.Wrap(session.CodePermissionDenied, err, "", "open holder log")
	}
	defer lf.Close()
	lf.Chmod(0o600) // a log created by someone else's umask or tool: ours only
	logger := log.NewWithOptions(lf, log.Options{ReportTimestamp: true, TimeFormat: time.RFC3339, Prefix: "holder"})
	ln, err := session.Listen(path)
	if err != nil {
		logger.Error("cannot listen", "socket", path, "err", err)
		return err
	}
	h := session.NewHolder(session.HolderConfig{Logger: logger, Keepalive: opts.Keepalive})
	srv := session.NewServer(h, logger, f.Build.String())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv.Shutdown = cancel
	logger.Info("holder started", "pid", os.Getpid(), "socket", path, "version", f.Build.String(), "idle", opts.Idle)
	go func() {
		tick := opts.Idle / 20
		if tick > time.Second {
			tick = time.Second
		}
		if tick < 10*time.Millisecond {
			tick = 10 * time.Millisecond
		}
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if since, ok := h.IdleSince(); ok && time.Since(since) >= opts.Idle {
					logger.Info("idle with no sessions; exiting", "idle", opts.Idle)
					cancel()
					return
				}
			}
		}
	}()
	err = srv.Serve(ctx, ln)
	h.Close()
	logger.Info("holder stopped")
	if err != nil {
		return session.Wrap(session.CodeInternal, err, "", "serve")
	}
	return nil
}
