package mcpserve

import (
	"context"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// toolDef is one row of the tool table. Schemas come from the operation's
// request and result types (their json and jsonschema tags).
type toolDef struct {
	name        string
	title       string
	description string
	// Annotations, always stated: readOnly (changes nothing anywhere),
	// destructive (may destroy or change state), idempotent, openWorld
	// (reaches a remote host or returns what it produced).
	readOnly, destructive, idempotent, openWorld bool
	// inReadOnly registers the tool under --read-only: it cannot change a
	// remote host (contract.md, read-only mode).
	inReadOnly bool
	// hide are request fields left out of the input schema: the CLI's, not
	// in contract.md's table (and not worth their tokens).
	hide []string
	// args are shorter descriptions of request fields for the token budget
	// of tools/list (proposed for session/types.go).
	args map[string]string
	// op is the operation behind the tool, built by [adapt].
	op toolOp
}

func (d *toolDef) annotations() *mcp.ToolAnnotations {
	return &mcp.ToolAnnotations{
		ReadOnlyHint:    d.readOnly,
		DestructiveHint: &d.destructive,
		IdempotentHint:  d.idempotent,
		OpenWorldHint:   &d.openWorld,
	}
}

// tools is the table of every MCP tool. A new tool is one row here, over an
// operation of [session.Operations].
var tools = []toolDef{
	{
		name: "ssh_connect", title: "Connect over SSH",
		description: "Open a new SSH session (password, key, agent or ssh_config alias); returns session_id for the other tools.",
		openWorld:   true, inReadOnly: true,
		args: map[string]string{
			"host":       "host, user@host[:port], ssh://user@host:port or ~/.ssh/config alias",
			"timeout":    "seconds to connect and authenticate (default 15)",
			"key_path":   "private key file (default: ssh_config IdentityFile, ~/.ssh/id_*)",
			"password":   "password or keyboard-interactive answer; never logged",
			"passphrase": "passphrase of an encrypted key; never logged",
			"name":       "unique session name, [a-z0-9][a-z0-9._-]{0,31}",
		},
		op: adapt(session.Operations.Connect),
	},
	{
		name: "ssh_list_sessions", title: "List SSH sessions",
		description: "List this client's SSH sessions with state, idle time, shells and forwards.",
		readOnly:    true, idempotent: true, inReadOnly: true,
		op: adapt(session.Operations.ListSessions),
	},
	{
		name: "ssh_close_session", title: "Close an SSH session",
		description: "Close a session with its shells and forwards.",
		destructive: true, idempotent: true, openWorld: true, inReadOnly: true,
		op: adapt(session.Operations.CloseSession),
	},
	{
		name: "ssh_execute", title: "Run a remote command",
		description: "Run a command and wait: stdout, stderr and exit_code (64 KiB per stream by default). Use a shell for interactive programs.",
		destructive: true, openWorld: true,
		args: execArgs,
		op:   adapt(session.Operations.Exec),
	},
	{
		name: "ssh_sudo_execute", title: "Run a remote command with sudo",
		description: "Like ssh_execute, under sudo; the password goes over stdin (asked for if needed and not given).",
		destructive: true, openWorld: true, hide: []string{"password_from_login"},
		args: sudoArgs,
		op:   adapt(session.Operations.SudoExec),
	},
	{
		name: "ssh_shell_open", title: "Open an interactive shell",
		description: "Open a persistent PTY shell (cwd, env and programs persist across calls); returns shell_id.",
		openWorld:   true,
		op:          adapt(session.Operations.ShellOpen),
	},
	{
		name: "ssh_shell_send", title: "Type into a shell",
		description: "Type text into a shell, then Enter unless enter is false; follow with ssh_shell_wait.",
		destructive: true, openWorld: true,
		args: shellArgs,
		op:   adapt(session.Operations.ShellSend),
	},
	{
		name: "ssh_shell_read", title: "Read shell output",
		description: "Read shell output since this client's last read, cleaned of escape sequences.",
		readOnly:    true, openWorld: true,
		args: map[string]string{"shell_id": shellIDText, "since": "offset to read from (default: this client's cursor)", "raw": "keep escape sequences (default: cleaned text)"},
		op:   adapt(session.Operations.ShellRead),
	},
	{
		name: "ssh_shell_send_control", title: "Send a control key",
		description: "Send a control key to a shell: c (Ctrl+C), d (EOF), z, esc, tab, arrows, f1-f12...",
		destructive: true, openWorld: true,
		args: shellArgs,
		op:   adapt(session.Operations.ShellControl),
	},
	{
		name: "ssh_shell_wait", title: "Wait for shell output",
		description: "Wait for pattern (literal, or regex) in the output after the last send, or for quiet; returns that output.",
		openWorld:   true, hide: []string{"since", "raw"},
		args: map[string]string{"shell_id": shellIDText, "quiet_ms": "without pattern: return after this many ms of silence (default 2000)"},
		op:   adapt(session.Operations.ShellWait),
	},
	{
		name: "ssh_upload_file", title: "Upload a file",
		description: "Copy a local file or tree (recursive) to the host, atomically; relative paths start at the local root.",
		destructive: true, openWorld: true,
		args: map[string]string{"remote_path": "destination (into it if a directory); relative to the remote home"},
		op:   adapt(session.Operations.Upload, (*Server).uploadSource),
	},
	{
		name: "ssh_download_file", title: "Download a file",
		description: "Copy a remote file or tree (recursive) here, atomically; writing ~/.ssh or start-up files is refused.",
		destructive: true, openWorld: true, inReadOnly: true,
		args: map[string]string{"local_path": "local destination (into it if a directory)"},
		op:   adapt(session.Operations.Download, (*Server).downloadDest),
	},
	{
		name: "ssh_read_remote_file", title: "Read a remote file",
		description: "Read a remote text file from offset, up to limit bytes; binary content is reported, not returned.",
		readOnly:    true, idempotent: true, openWorld: true, inReadOnly: true,
		op: adapt(session.Operations.ReadFile),
	},
	{
		name: "ssh_write_remote_file", title: "Write a remote file",
		description: "Write text to a remote file (atomic replace) or append to it; mode sets permissions.",
		destructive: true, openWorld: true,
		op: adapt(session.Operations.WriteFile),
	},
	{
		name: "ssh_list_remote_dir", title: "List a remote directory",
		description: "List a remote directory: name, type, size, mode, mtime and link target of each entry.",
		readOnly:    true, idempotent: true, openWorld: true, inReadOnly: true,
		op: adapt(session.Operations.ListDir),
	},
	{
		name: "ssh_forward_port", title: "Forward a port",
		description: "Open a tunnel: local (-L, default), remote (-R) or dynamic (SOCKS5); local_port 0 picks one. Returns forward_id.",
		openWorld:   true,
		args: map[string]string{"local_host": "bind address (local, dynamic) or target host (remote); default 127.0.0.1",
			"remote_host": "target host from the server (local) or bind address there (remote); default 127.0.0.1"},
		op: adapt(session.Operations.ForwardOpen),
	},
	{
		name: "ssh_list_forwards", title: "List port forwards",
		description: "List port forwards with their connection and byte counters.",
		readOnly:    true, idempotent: true, inReadOnly: true,
		op: adapt(session.Operations.ListForwards),
	},
	{
		name: "ssh_close_forward", title: "Close a port forward",
		description: "Close a port forward by forward_id; its port is freed.",
		destructive: true, idempotent: true, openWorld: true, inReadOnly: true,
		op: adapt(session.Operations.CloseForward),
	},
}

// Shorter argument descriptions shared by several tools.
const shellIDText = "default: the session's first shell"

var (
	shellArgs = map[string]string{"shell_id": shellIDText}
	execArgs  = map[string]string{"max_output_bytes": "cap per stream, head and tail kept (default 65536)"}
	sudoArgs  = map[string]string{"max_output_bytes": execArgs["max_output_bytes"],
		"sudo_password": "sent on stdin (sudo -S), not needed with NOPASSWD; never logged"}
)

// toolOp is the operation behind a tool: it registers the tool and knows
// the schemas of its request and result (for TOOLS.md).
type toolOp interface {
	register(s *Server, d *toolDef)
	schemas(d *toolDef) (in, out *jsonschema.Schema)
}

// operation is a [toolOp] over one method of [session.Operations]; prep
// checks and rewrites the request first (local paths).
type operation[In, Out any] struct {
	op   func(session.Operations, context.Context, In) (Out, error)
	prep []func(*Server, *In) error
}

// adapt turns an operation into a tool: the one generic adapter between
// go-sdk and the operations interface. Each prep function may check and
// rewrite the request before the operation runs; its error is the result.
func adapt[In, Out any](op func(session.Operations, context.Context, In) (Out, error), prep ...func(*Server, *In) error) toolOp {
	return operation[In, Out]{op: op, prep: prep}
}

func (o operation[In, Out]) register(s *Server, d *toolDef) {
	tool := &mcp.Tool{
		Name:         d.name,
		Title:        d.title,
		Description:  d.description,
		Annotations:  d.annotations(),
		InputSchema:  inputSchema[In](d),
		OutputSchema: outputSchema[Out](),
	}
	mcp.AddTool(s.srv, tool, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
		// &in: the audit log sees the request as the operation got it.
		return s.call(ctx, req, d.name, &in, func(ctx context.Context) (any, string, error) {
			for _, p := range o.prep {
				if err := p(s, &in); err != nil {
					return nil, "", err
				}
			}
			out, err := o.op(s.ops, ctx, in)
			if err != nil {
				return nil, "", err
			}
			neutralize(&out)
			return out, render(out), nil
		})
	})
}

// schemas returns the input schema as served and the output schema with
// its descriptions (for TOOLS.md).
func (o operation[In, Out]) schemas(d *toolDef) (in, out *jsonschema.Schema) {
	out, err := jsonschema.For[Out](nil)
	if err != nil {
		panic(fmt.Sprintf("mcpserve: output schema of %T: %v", *new(Out), err))
	}
	return inputSchema[In](d), out
}

// uploadSource resolves an upload's local path against the local root and
// applies the read policy.
func (s *Server) uploadSource(req *session.UploadRequest) error {
	p, err := s.paths.CheckRead(req.LocalPath, req.Recursive)
	if err != nil {
		return err
	}
	req.LocalPath = p
	return nil
}

// downloadDest resolves a download's local path against the local root and
// applies the write guard to every place the download may write.
func (s *Server) downloadDest(req *session.DownloadRequest) error {
	p, err := s.paths.CheckDownload(req.LocalPath, req.RemotePath, req.Recursive)
	if err != nil {
		return err
	}
	req.LocalPath = p
	return nil
}
