package session

import (
	"context"
	"io"
)

// Operations is the one interface every face of mcp-remote-ssh calls. Each
// method is implemented once, by [Holder]; [Client] forwards it over the
// holder's socket. Caller-specific context (owner, prompter, progress, agent
// socket, host-key policy) travels in ctx, see [WithCaller].
type Operations interface {
	// Connect always opens a new session.
	Connect(ctx context.Context, req ConnectRequest) (ConnectResult, error)
	// Resolve turns a CLI target into a session, reusing a live one to the same host.
	Resolve(ctx context.Context, req ResolveRequest) (ConnectResult, error)
	ListSessions(ctx context.Context, req ListSessionsRequest) (ListSessionsResult, error)
	CloseSession(ctx context.Context, req CloseSessionRequest) (CloseSessionResult, error)
	// Exec runs a command and returns its buffered, capped output.
	Exec(ctx context.Context, req ExecRequest) (ExecResult, error)
	// SudoExec runs a command under sudo and returns its buffered, capped output.
	SudoExec(ctx context.Context, req SudoExecRequest) (ExecResult, error)
	// ExecStream runs a command with its stdin, stdout and stderr streamed
	// (no cap, no buffering of the whole output). Stdout and Stderr of the
	// result are empty; the byte counts are set.
	ExecStream(ctx context.Context, req ExecStreamRequest, stdio Stdio) (ExecResult, error)

	ShellOpen(ctx context.Context, req ShellOpenRequest) (ShellOpenResult, error)
	ShellSend(ctx context.Context, req ShellSendRequest) (ShellSendResult, error)
	ShellRead(ctx context.Context, req ShellReadRequest) (ShellReadResult, error)
	ShellControl(ctx context.Context, req ShellControlRequest) (ShellControlResult, error)
	ShellWait(ctx context.Context, req ShellWaitRequest) (ShellWaitResult, error)
	ShellClose(ctx context.Context, req ShellCloseRequest) (ShellCloseResult, error)
	// ShellAttach streams a live shell to and from a person's terminal.
	ShellAttach(ctx context.Context, req ShellAttachRequest, term Terminal) (ShellAttachResult, error)

	// Upload and Download are atomic per file (temp + rename) and report progress.
	Upload(ctx context.Context, req UploadRequest) (UploadResult, error)
	Download(ctx context.Context, req DownloadRequest) (DownloadResult, error)
	ReadFile(ctx context.Context, req ReadFileRequest) (ReadFileResult, error)
	WriteFile(ctx context.Context, req WriteFileRequest) (WriteFileResult, error)
	ListDir(ctx context.Context, req ListDirRequest) (ListDirResult, error)

	ForwardOpen(ctx context.Context, req ForwardRequest) (ForwardResult, error)
	ListForwards(ctx context.Context, req ListForwardsRequest) (ListForwardsResult, error)
	CloseForward(ctx context.Context, req CloseForwardRequest) (CloseForwardResult, error)
}

// Stdio are the streams of a streamed exec. Stdin may be nil (no input).
type Stdio struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Prompt kinds.
const (
	PromptPassword     = "password"
	PromptPassphrase   = "passphrase"
	PromptSudoPassword = "sudo_password"
	PromptHostKey      = "host_key"
)

// Prompt asks a person for a secret or an approval.
type Prompt struct {
	Kind        string `json:"kind"`
	Message     string `json:"message"`
	Host        string `json:"host,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Echo is true when the answer is not secret.
	Echo bool `json:"echo,omitempty"`
}

// Prompter asks a person. For PromptHostKey an answer of "yes" approves.
// The CLI's reads the TTY, the MCP server's uses elicitation, and over the
// socket prompts travel to the calling client. An operation without a
// Prompter fails with CodeInputRequired.
type Prompter interface {
	Prompt(ctx context.Context, p Prompt) (string, error)
}

// PrompterFunc adapts a function to Prompter.
type PrompterFunc func(ctx context.Context, p Prompt) (string, error)

// Prompt calls f.
func (f PrompterFunc) Prompt(ctx context.Context, p Prompt) (string, error) { return f(ctx, p) }

// Host-key policies.
const (
	HostKeyStrict    = "strict"
	HostKeyAcceptNew = "accept-new"
	HostKeyAsk       = "ask"
	HostKeyOff       = "off"
)

// OwnerCLI owns everything created by CLI processes of this uid.
const OwnerCLI = "cli"

// Caller describes who calls an operation and how to reach them. It is not
// part of any request body: agents must not be able to set it.
type Caller struct {
	// Owner owns what the call creates and limits what it sees ("cli", or an MCP client session).
	Owner string
	// All lets the caller see and use everything (serve mcp --shared, the CLI).
	All bool
	// Prompter asks a person; nil means nobody can be asked.
	Prompter Prompter
	// Progress receives progress of long operations; may be nil.
	Progress func(ProgressUpdate)
	// AgentSocket is the caller's SSH_AUTH_SOCK.
	AgentSocket string
	// HostKeyPolicy is strict, accept-new (default), ask or off.
	HostKeyPolicy string
}

type callerKey struct{}

// WithCaller attaches c to ctx.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller attached to ctx (zero Caller owned by the CLI otherwise).
func CallerFrom(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	if c.Owner == "" {
		c.Owner = OwnerCLI
	}
	return c
}

func (c Caller) progress(u ProgressUpdate) {
	if c.Progress != nil {
		c.Progress(u)
	}
}

func (c Caller) prompt(ctx context.Context, p Prompt, flag string) (string, error) {
	if c.Prompter == nil {
		return "", Errf(CodeInputRequired, "pass "+flag, "%s", p.Message)
	}
	ans, err := c.Prompter.Prompt(ctx, p)
	if err != nil {
		if e := AsError(err); e.Code != CodeInternal {
			return "", e
		}
		return "", Wrap(CodeInputRequired, err, "pass "+flag, "%s", p.Message)
	}
	return ans, nil
}
