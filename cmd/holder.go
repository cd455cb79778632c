package cmd

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

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
			path, err := session.SocketPath()
			if err != nil {
				return session.Wrap(session.CodeInternal, err, "", "socket path")
			}
			if err := session.NewClient(path, f.Build.String()).Shutdown(c.Context()); err != nil {
				return err
			}
			fmt.Fprintln(f.IO.ErrOut, "holder stopped")
			return nil
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
			v, pid, err := session.NewClient(path, f.Build.String()).Version(c.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "holder pid %d, version %s, socket %s\n", pid, v, path)
			return nil
		},
	})
	return c
}

func runHolder(ctx context.Context, f *Factory, opts *HolderOptions) error {
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
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
