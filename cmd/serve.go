package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/mcpserve"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

// Transports of `serve mcp`.
const (
	TransportStdio      = "stdio"
	TransportSSE        = "sse"
	TransportStreamable = "streamable-http"
)

// auditDefault is --audit-log given without a file: the state dir's audit.jsonl.
const auditDefault = "default"

// ServeMCPOptions are the inputs of `serve mcp`.
type ServeMCPOptions struct {
	Transport       string
	Host            string
	Port            int
	Shared          bool
	ReadOnly        bool
	AllowHosts      []string
	AuditLog        string
	LocalRoot       string
	AllowLocalWrite []string
	AllowLocalRead  []string
	TokenFile       string
	LogLevel        string
}

// NewCmdServe builds `serve` and its `serve mcp`.
func NewCmdServe(f *Factory) *cobra.Command {
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the operations to AI agents",
		Args:  exactArgs(0, "a subcommand (mcp)"),
	}
	opts := &ServeMCPOptions{}
	c := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the SSH tools over MCP (stdio, SSE or streamable HTTP)",
		Long: `Serve the SSH tools to an MCP client (Claude Desktop, Cursor, VS Code, Claude Code...).

By default the server holds its own SSH sessions, which end with it; each MCP
client session sees only the SSH sessions it opened. --shared uses the
background holder instead, so that 'mcp-remote-ssh sessions' and the CLI can
watch or take over what the agent does, and every client sees every session.

stdio writes only JSON-RPC to stdout; logs go to stderr. The HTTP transports
listen on 127.0.0.1 by default (paths /mcp and /sse); any other address needs a
bearer token (--token-file or MCP_REMOTE_SSH_TOKEN), and browsers' cross-origin
requests are refused.`,
		Example: `  mcp-remote-ssh serve mcp
  mcp-remote-ssh serve mcp --read-only --allow-hosts '*.example.com' --audit-log ~/mcp-audit.jsonl
  mcp-remote-ssh serve mcp --transport streamable-http --port 9810
  claude mcp add ssh -- mcp-remote-ssh serve mcp`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			return runServeMCP(c.Context(), f, opts)
		},
	}
	fl := c.Flags()
	fl.StringVar(&opts.Transport, "transport", TransportStdio, "stdio, sse or streamable-http")
	fl.StringVar(&opts.Host, "host", "127.0.0.1", "address the HTTP transports listen on (non-loopback needs a token)")
	fl.IntVar(&opts.Port, "port", 9810, "port of the HTTP transports (0 picks a free one)")
	fl.BoolVar(&opts.Shared, "shared", false, "use the background holder: the CLI (sessions, shell attach) sees and can join what agents do; an MCP client's sessions still end with it")
	fl.BoolVar(&opts.ReadOnly, "read-only", false, "register only tools that cannot change a remote host")
	fl.StringSliceVar(&opts.AllowHosts, "allow-hosts", splitEnv("MCP_REMOTE_SSH_ALLOW_HOSTS"), "comma-separated host patterns (path.Match) ssh_connect may reach; others are refused (env MCP_REMOTE_SSH_ALLOW_HOSTS)")
	fl.StringVar(&opts.AuditLog, "audit-log", os.Getenv("MCP_REMOTE_SSH_AUDIT_LOG"), "append a JSON line per tool call to FILE (0600; secrets redacted); alone: $XDG_STATE_HOME/mcp-remote-ssh/audit.jsonl (env MCP_REMOTE_SSH_AUDIT_LOG)")
	fl.Lookup("audit-log").NoOptDefVal = auditDefault
	fl.StringVar(&opts.LocalRoot, "local-root", "", "directory relative local paths of file tools resolve against (default: the working directory)")
	fl.StringArrayVar(&opts.AllowLocalWrite, "allow-local-write", nil, "let file tools write this guarded path (~/.ssh/..., shell start-up files); repeatable")
	fl.StringArrayVar(&opts.AllowLocalRead, "allow-local-read", nil, "let ssh_upload_file read this path under ~/.ssh/ (private keys are refused by default); repeatable")
	fl.StringVar(&opts.TokenFile, "token-file", "", "file holding the bearer token HTTP clients must send (default env MCP_REMOTE_SSH_TOKEN)")
	fl.StringVar(&opts.LogLevel, "log-level", envOr("MCP_REMOTE_SSH_LOG_LEVEL", "info"), "stderr log level: debug, info, warn, error")
	serve.AddCommand(c)
	return serve
}

func splitEnv(name string) []string {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func runServeMCP(ctx context.Context, f *Factory, opts *ServeMCPOptions) error {
	switch opts.Transport {
	case TransportStdio, TransportSSE, TransportStreamable:
	default:
		return &FlagError{Err: fmt.Errorf("--transport %q: use stdio, sse or streamable-http", opts.Transport)}
	}
	level, err := log.ParseLevel(opts.LogLevel)
	if err != nil {
		return &FlagError{Err: fmt.Errorf("--log-level %q: use debug, info, warn or error", opts.LogLevel)}
	}
	// stdout carries JSON-RPC only (stdio): every log goes to stderr.
	logger := log.NewWithOptions(f.IO.ErrOut, log.Options{ReportTimestamp: true, TimeFormat: time.RFC3339, Prefix: "serve mcp", Level: level})

	token, err := readToken(opts.TokenFile)
	if err != nil {
		return err
	}
	var listener net.Listener
	if opts.Transport != TransportStdio {
		if !mcpserve.IsLoopbackHost(opts.Host) && token == "" {
			return session.Errf(session.CodeInvalidArgument, "pass --token-file FILE or set MCP_REMOTE_SSH_TOKEN, or listen on 127.0.0.1",
				"refusing to serve MCP on %s without a bearer token: anyone who can reach it could run commands on your hosts", opts.Host)
		}
		listener, err = net.Listen("tcp", net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)))
		if err != nil {
			return session.Wrap(session.CodePortInUse, err, "pick another --port, or stop what listens there", "listen on %s:%d", opts.Host, opts.Port)
		}
		defer listener.Close()
	}

	var audit io.Writer
	if opts.AuditLog == auditDefault {
		dir, err := session.StateDir()
		if err != nil {
			return session.Wrap(session.CodePermissionDenied, err, "pass --audit-log FILE", "audit log")
		}
		opts.AuditLog = filepath.Join(dir, "audit.jsonl")
	}
	if opts.AuditLog != "" {
		af, err := os.OpenFile(opts.AuditLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return session.Wrap(session.CodePermissionDenied, err, "pass a writable --audit-log path", "open audit log")
		}
		defer af.Close()
		if err := af.Chmod(0o600); err != nil {
			return session.Wrap(session.CodePermissionDenied, err, "", "chmod audit log")
		}
		audit = af
	}

	sopts := mcpserve.Options{
		Version:         f.Build.String(),
		Shared:          opts.Shared,
		ReadOnly:        opts.ReadOnly,
		AllowHosts:      opts.AllowHosts,
		AuditLog:        audit,
		LocalRoot:       opts.LocalRoot,
		AllowLocalWrite: opts.AllowLocalWrite,
		AllowLocalRead:  opts.AllowLocalRead,
		GuardLocal:      guardedLocal(opts.AuditLog),
		HostKeyPolicy:   f.HostKeyPolicy,
		AgentSocket:     os.Getenv("SSH_AUTH_SOCK"),
		Logger:          logger,
	}
	var ops session.Operations
	if opts.Shared {
		c, err := f.Client(ctx)
		if err != nil {
			return err
		}
		ops = c
		// What an MCP client session owns ends with it, in the shared holder too.
		sopts.OnSessionEnd = func(owner string) {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if _, err := c.CloseOwner(cctx, owner); err != nil {
				logger.Warn("could not close the sessions of an ended MCP client", "err", err)
			}
		}
	} else {
		h := session.NewHolder(session.HolderConfig{
			Logger:     logger.WithPrefix("holder"),
			Keepalive:  durationEnv("MCP_REMOTE_SSH_KEEPALIVE", 15*time.Second),
			AllowHosts: opts.AllowHosts,
		})
		defer h.Close()
		sopts.OnSessionEnd = h.CloseOwner
		ops = h
	}
	srv := mcpserve.New(ops, sopts)
	defer srv.EndAll()
	logger.Info("serving MCP", "transport", opts.Transport, "tools", len(srv.Tools()), "shared", opts.Shared, "read_only", opts.ReadOnly)

	if opts.Transport == TransportStdio {
		err := srv.MCP().Run(ctx, &mcp.StdioTransport{})
		if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, mcp.ErrConnectionClosed) {
			return session.Wrap(session.CodeInternal, err, "", "serve MCP on stdio")
		}
		return nil
	}

	hs := &http.Server{
		Handler:           srv.HTTPHandler(mcpserve.HTTPOptions{Token: token}),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	addr := listener.Addr().String()
	path := mcpserve.PathStreamable
	if opts.Transport == TransportSSE {
		path = mcpserve.PathSSE
	}
	fmt.Fprintf(f.IO.ErrOut, "mcp-remote-ssh: serving MCP (%s) on http://%s%s\n", opts.Transport, addr, path)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(listener) }()
	select {
	case err := <-errc:
		return session.Wrap(session.CodeInternal, err, "", "serve HTTP")
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	return nil
}

// guardedLocal are our own files MCP file tools may not write: the audit
// log, the state directory (lock, log) and the holder's socket directory.
func guardedLocal(auditLog string) []string {
	var g []string
	if auditLog != "" {
		g = append(g, auditLog)
	}
	if d, err := session.StateDir(); err == nil {
		g = append(g, d)
	}
	if p, err := session.SocketPath(); err == nil {
		g = append(g, filepath.Dir(p))
	}
	return g
}

// readToken reads the bearer token from file, else MCP_REMOTE_SSH_TOKEN.
func readToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv("MCP_REMOTE_SSH_TOKEN")), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", session.Wrap(session.CodeInvalidArgument, err, "pass a readable --token-file", "read token file")
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", session.Errf(session.CodeInvalidArgument, "write a long random token into it (openssl rand -hex 32)", "token file %s is empty", file)
	}
	return tok, nil
}
