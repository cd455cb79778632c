package mcpserve

import (
	"context"

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
	// destructive (may destroy or change remote state), idempotent,
	// openWorld (reaches a remote host).
	readOnly, destructive, idempotent, openWorld bool
	// inReadOnly registers the tool under --read-only: it cannot change a
	// remote host (contract.md, read-only mode).
	inReadOnly bool
	// add registers the tool; built by [adapt] from the operation.
	add func(*Server, *toolDef)
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
		description: "Open a new SSH session (password, key file, ssh-agent or ~/.ssh/config alias). " +
			"Returns session_id for the other tools, user@host:port, server version and host-key fingerprint.",
		openWorld: true, inReadOnly: true,
		add: adapt(session.Operations.Connect),
	},
	{
		name: "ssh_list_sessions", title: "List SSH sessions",
		description: "List open SSH sessions with id, name, user@host:port, state, age, idle time, shells and forwards.",
		readOnly:    true, idempotent: true, inReadOnly: true,
		add: adapt(session.Operations.ListSessions),
	},
	{
		name: "ssh_close_session", title: "Close an SSH session",
		description: "Close a session and everything it holds (shells, forwards). Returns what was closed.",
		destructive: true, idempotent: true, openWorld: true, inReadOnly: true,
		add: adapt(session.Operations.CloseSession),
	},
	{
		name: "ssh_execute", title: "Run a remote command",
		description: "Run one shell command on a session and wait for it. Returns stdout, stderr and exit_code separately " +
			"(+ signal, duration, truncation flags; 64 KiB per stream by default). For interactive programs use a shell.",
		destructive: true, openWorld: true,
		add: adapt(session.Operations.Exec),
	},
	{
		name: "ssh_sudo_execute", title: "Run a remote command with sudo",
		description: "Like ssh_execute, under sudo. The sudo password goes over stdin, never on a command line; " +
			"if needed and not given, the user is asked.",
		destructive: true, openWorld: true,
		add: adapt(session.Operations.SudoExec),
	},
}

// adapt turns an operation into the registration of its tool: the one
// generic adapter between go-sdk and the operations interface.
func adapt[In, Out any](op func(session.Operations, context.Context, In) (Out, error)) func(*Server, *toolDef) {
	return func(s *Server, d *toolDef) {
		tool := &mcp.Tool{
			Name:         d.name,
			Title:        d.title,
			Description:  d.description,
			Annotations:  d.annotations(),
			OutputSchema: outputSchema[Out](),
		}
		mcp.AddTool(s.srv, tool, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
			return s.call(ctx, req, d.name, in, func(ctx context.Context) (any, string, error) {
				out, err := op(s.ops, ctx, in)
				if err != nil {
					return nil, "", err
				}
				neutralize(&out)
				return out, render(out), nil
			})
		})
	}
}
