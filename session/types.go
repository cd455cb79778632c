package session

import (
	"io"
	"time"
)

// ConnectRequest opens a new session. It is the ssh_connect tool's input,
// the body of POST /v1/connect and what `connect` sends.
type ConnectRequest struct {
	Host       string  `json:"host" jsonschema:"host, user@host[:port], ssh://user@host:port or ~/.ssh/config alias"`
	Port       int     `json:"port,omitempty" jsonschema:"SSH port (default 22, or the ssh_config Port)"`
	Username   string  `json:"username,omitempty" jsonschema:"remote user (default: ssh_config User, else the local user)"`
	Password   Secret  `json:"password,omitempty" jsonschema:"password or keyboard-interactive answer; never logged"`
	KeyPath    string  `json:"key_path,omitempty" jsonschema:"private key file (default: ssh_config IdentityFile, ~/.ssh/id_*)"`
	Passphrase Secret  `json:"passphrase,omitempty" jsonschema:"passphrase of an encrypted key; never logged"`
	UseAgent   *bool   `json:"use_agent,omitempty" jsonschema:"use the ssh-agent (default true when SSH_AUTH_SOCK is set)"`
	Name       string  `json:"name,omitempty" jsonschema:"unique session name, [a-z0-9][a-z0-9._-]{0,31}"`
	Timeout    float64 `json:"timeout,omitempty" jsonschema:"seconds to connect and authenticate (default 15)"`
}

// ConnectResult describes a new session.
type ConnectResult struct {
	SessionID          string `json:"session_id" jsonschema:"id to pass to every other tool"`
	Name               string `json:"name,omitempty" jsonschema:"the session's name, if given"`
	User               string `json:"user" jsonschema:"remote user"`
	Host               string `json:"host" jsonschema:"remote host as dialled"`
	Port               int    `json:"port" jsonschema:"remote port"`
	ServerVersion      string `json:"server_version" jsonschema:"the server's SSH version banner"`
	HostKeyFingerprint string `json:"host_key_fingerprint" jsonschema:"SHA256 fingerprint of the host key"`
	HostKeyRecorded    bool   `json:"host_key_recorded" jsonschema:"true when the host key was new and was added to known_hosts"`
	AuthMethod         string `json:"auth_method" jsonschema:"publickey, agent, password or keyboard-interactive"`
	// Reused is set when a CLI target resolved to a live session instead of connecting.
	Reused bool `json:"reused,omitempty" jsonschema:"true when an existing session was reused"`
}

// ResolveRequest turns a CLI target (session id, session name, host spec or
// ssh_config alias) into a session, connecting one when no live session to
// that host exists (ControlMaster=auto). Only the CLI resolves targets.
type ResolveRequest struct {
	Target string `json:"target"`
	// New forces a new session even when one to the same host is live.
	New bool `json:"new,omitempty"`
	// Connect carries the credentials and options used when connecting.
	Connect ConnectRequest `json:"connect"`
}

// ListSessionsRequest has no fields; it exists so the operation can grow.
type ListSessionsRequest struct{}

// SessionInfo is one row of ListSessions.
type SessionInfo struct {
	SessionID string    `json:"session_id" jsonschema:"session id"`
	Name      string    `json:"name,omitempty" jsonschema:"session name"`
	User      string    `json:"user" jsonschema:"remote user"`
	Host      string    `json:"host" jsonschema:"remote host"`
	Port      int       `json:"port" jsonschema:"remote port"`
	State     string    `json:"state" jsonschema:"connected, disconnected or connecting"`
	CreatedAt time.Time `json:"created_at" jsonschema:"when the session was created (RFC 3339 UTC)"`
	IdleMS    int64     `json:"idle_ms" jsonschema:"milliseconds since the session was last used"`
	Shells    int       `json:"shells" jsonschema:"open interactive shells"`
	Forwards  int       `json:"forwards" jsonschema:"active port forwards"`
}

// ListSessionsResult lists the sessions the caller may see.
type ListSessionsResult struct {
	Sessions []SessionInfo `json:"sessions" jsonschema:"the sessions"`
}

// CloseSessionRequest closes one session (or, from the CLI, all of them).
type CloseSessionRequest struct {
	SessionID string `json:"session_id" jsonschema:"id (or name) of the session to close"`
}

// CloseSessionResult reports what was closed.
type CloseSessionResult struct {
	SessionID      string `json:"session_id" jsonschema:"the closed session"`
	Closed         bool   `json:"closed" jsonschema:"true when the session was closed"`
	ShellsClosed   int    `json:"shells_closed" jsonschema:"shells ended with it"`
	ForwardsClosed int    `json:"forwards_closed" jsonschema:"forwards ended with it"`
}

// ExecRequest runs one command (ssh_execute).
type ExecRequest struct {
	SessionID      string            `json:"session_id" jsonschema:"session to run on"`
	Command        string            `json:"command" jsonschema:"shell command line, run by the remote user's login shell"`
	Timeout        float64           `json:"timeout,omitempty" jsonschema:"seconds before the command is killed (default 600)"`
	Cwd            string            `json:"cwd,omitempty" jsonschema:"remote working directory (must exist)"`
	Env            map[string]string `json:"env,omitempty" jsonschema:"environment variables to set for the command"`
	Stdin          string            `json:"stdin,omitempty" jsonschema:"text fed to the command's standard input"`
	MaxOutputBytes int               `json:"max_output_bytes,omitempty" jsonschema:"cap per stream, head and tail kept (default 65536)"`
}

// SudoExecRequest runs one command under sudo (ssh_sudo_execute).
type SudoExecRequest struct {
	ExecRequest
	SudoPassword Secret `json:"sudo_password,omitempty" jsonschema:"sent on stdin (sudo -S), not needed with NOPASSWD; never logged"`
	// PasswordFromLogin reuses the session's login password as the sudo password (CLI --sudo-password-from-login).
	PasswordFromLogin bool `json:"password_from_login,omitempty" jsonschema:"reuse the session's login password as the sudo password"`
}

// ExecStreamRequest is a streamed exec (the CLI's exec without --json).
type ExecStreamRequest struct {
	SudoExecRequest
	// Sudo runs the command under sudo.
	Sudo bool `json:"sudo,omitempty"`
	// NoStdin gives the command no input (ssh -n).
	NoStdin bool `json:"no_stdin,omitempty"`
}

// Outcome values of ExecResult.
const (
	OutcomeExited   = "exited"
	OutcomeSignaled = "signaled"
	OutcomeTimedOut = "timed_out"
	OutcomeCanceled = "canceled"
	OutcomeUnknown  = "unknown"
)

// ExecResult is the structured result of a command.
type ExecResult struct {
	Stdout          string `json:"stdout" jsonschema:"standard output (capped, head and tail kept)"`
	Stderr          string `json:"stderr" jsonschema:"standard error (capped, head and tail kept)"`
	ExitCode        *int   `json:"exit_code" jsonschema:"exit status; null when unknown (killed, connection lost)"`
	Signal          string `json:"signal" jsonschema:"signal that ended the command (e.g. KILL), empty if none"`
	DurationMS      int64  `json:"duration_ms" jsonschema:"wall time in milliseconds"`
	TimedOut        bool   `json:"timed_out" jsonschema:"the timeout was hit"`
	Killed          bool   `json:"killed" jsonschema:"the command was killed by us (timeout or cancel)"`
	KillConfirmed   bool   `json:"kill_confirmed" jsonschema:"the remote process group is confirmed gone"`
	StdoutBytes     int64  `json:"stdout_bytes" jsonschema:"total bytes the command wrote to stdout"`
	StderrBytes     int64  `json:"stderr_bytes" jsonschema:"total bytes the command wrote to stderr"`
	StdoutTruncated bool   `json:"stdout_truncated" jsonschema:"stdout was capped"`
	StderrTruncated bool   `json:"stderr_truncated" jsonschema:"stderr was capped"`
	Outcome         string `json:"outcome" jsonschema:"exited, signaled, timed_out, canceled or unknown"`
	Encoding        string `json:"encoding,omitempty" jsonschema:"utf-8, or utf-8-lossy when invalid bytes were replaced by U+FFFD"`
}

// ProgressUpdate is what long operations report.
type ProgressUpdate struct {
	Done    int64  `json:"done"`
	Total   int64  `json:"total,omitempty"`
	Message string `json:"message,omitempty"`
}

// ShellOpenRequest opens a persistent interactive shell on a PTY (ssh_shell_open).
type ShellOpenRequest struct {
	SessionID string `json:"session_id" jsonschema:"session to open the shell on"`
	Term      string `json:"term,omitempty" jsonschema:"TERM value (default xterm-256color)"`
	Cols      int    `json:"cols,omitempty" jsonschema:"terminal width (default 200)"`
	Rows      int    `json:"rows,omitempty" jsonschema:"terminal height (default 50)"`
}

// ShellOpenResult names the new shell.
type ShellOpenResult struct {
	SessionID string `json:"session_id" jsonschema:"the session"`
	ShellID   string `json:"shell_id" jsonschema:"the shell's id within the session"`
	Offset    int64  `json:"offset" jsonschema:"output offset at open (0)"`
}

// ShellSendRequest sends text to a shell (ssh_shell_send).
type ShellSendRequest struct {
	SessionID string `json:"session_id" jsonschema:"session"`
	Data      string `json:"data" jsonschema:"text to type into the shell"`
	ShellID   string `json:"shell_id,omitempty" jsonschema:"default: the session's first shell"`
	Enter     *bool  `json:"enter,omitempty" jsonschema:"press Enter after the text (default true)"`
}

// ShellSendResult reports what was sent.
type ShellSendResult struct {
	ShellID      string `json:"shell_id" jsonschema:"the shell"`
	OffsetBefore int64  `json:"offset_before" jsonschema:"output offset when the text was sent; ssh_shell_wait looks from here"`
	BytesSent    int    `json:"bytes_sent" jsonschema:"bytes written to the shell"`
}

// ShellReadRequest reads new output (ssh_shell_read).
type ShellReadRequest struct {
	SessionID string `json:"session_id" jsonschema:"session"`
	ShellID   string `json:"shell_id,omitempty" jsonschema:"default: the session's first shell"`
	Since     *int64 `json:"since,omitempty" jsonschema:"offset to read from (default: this client's cursor)"`
	MaxBytes  int    `json:"max_bytes,omitempty" jsonschema:"most bytes to return (default 65536)"`
	Raw       bool   `json:"raw,omitempty" jsonschema:"keep escape sequences (default: cleaned text)"`
}

// ShellReadResult is a slice of a shell's output.
type ShellReadResult struct {
	Output       string `json:"output" jsonschema:"the output"`
	Offset       int64  `json:"offset" jsonschema:"offset the output starts at"`
	NextOffset   int64  `json:"next_offset" jsonschema:"offset to continue from"`
	DroppedBytes int64  `json:"dropped_bytes" jsonschema:"bytes lost from the rolling buffer before offset"`
	Exited       bool   `json:"exited" jsonschema:"the shell has ended"`
	ExitStatus   *int   `json:"exit_status,omitempty" jsonschema:"the shell's exit status once it ended (null when unknown)"`
}

// ShellControlRequest sends a control key (ssh_shell_send_control).
type ShellControlRequest struct {
	SessionID string `json:"session_id" jsonschema:"session"`
	Key       string `json:"key" jsonschema:"c d z \\ l [ esc tab enter up down left right home end pgup pgdn f1..f12 (c = Ctrl+C)"`
	ShellID   string `json:"shell_id,omitempty" jsonschema:"default: the session's first shell"`
}

// ShellControlResult reports the key sent.
type ShellControlResult struct {
	ShellID string `json:"shell_id" jsonschema:"the shell"`
	Sent    string `json:"sent" jsonschema:"the key name sent"`
}

// ShellWaitRequest waits for a pattern or for quiet (ssh_shell_wait).
type ShellWaitRequest struct {
	SessionID string  `json:"session_id" jsonschema:"session"`
	Pattern   string  `json:"pattern,omitempty" jsonschema:"text to wait for (a literal substring unless regex is true)"`
	Regex     bool    `json:"regex,omitempty" jsonschema:"treat pattern as a Go regular expression"`
	QuietMS   int     `json:"quiet_ms,omitempty" jsonschema:"without pattern: return after this many ms of silence (default 2000)"`
	Timeout   float64 `json:"timeout,omitempty" jsonschema:"seconds to wait at most (default 30)"`
	ShellID   string  `json:"shell_id,omitempty" jsonschema:"default: the session's first shell"`
	Since     *int64  `json:"since,omitempty" jsonschema:"offset to look from (default: where the last send began)"`
	Raw       bool    `json:"raw,omitempty" jsonschema:"match and return raw bytes instead of cleaned text"`
}

// ShellWaitResult is what the wait saw.
type ShellWaitResult struct {
	Matched    bool   `json:"matched" jsonschema:"the pattern was found (or the output went quiet)"`
	TimedOut   bool   `json:"timed_out" jsonschema:"the timeout passed first"`
	WaitedMS   int64  `json:"waited_ms" jsonschema:"how long it waited"`
	Output     string `json:"output" jsonschema:"output from the start offset up to and including the match"`
	NextOffset int64  `json:"next_offset" jsonschema:"offset after the returned output"`
	Exited     bool   `json:"exited" jsonschema:"the shell has ended"`
}

// ShellCloseRequest ends a shell (hang-up).
type ShellCloseRequest struct {
	SessionID string `json:"session_id" jsonschema:"session"`
	ShellID   string `json:"shell_id,omitempty" jsonschema:"default: the session's first shell"`
}

// ShellCloseResult reports the closed shell.
type ShellCloseResult struct {
	ShellID string `json:"shell_id" jsonschema:"the shell"`
	Closed  bool   `json:"closed" jsonschema:"true when closed"`
}

// ShellAttachRequest joins a live shell as a viewer (and typist unless ReadOnly).
type ShellAttachRequest struct {
	SessionID string `json:"session_id"`
	ShellID   string `json:"shell_id,omitempty"`
	ReadOnly  bool   `json:"read_only,omitempty"`
	// CloseOnDetach ends the shell when the attachment ends (the interactive `shell` command).
	CloseOnDetach bool `json:"close_on_detach,omitempty"`
	// History is how many bytes of recent output to replay first (default 4096).
	History int `json:"history,omitempty"`
}

// ShellAttachResult says how an attachment ended.
type ShellAttachResult struct {
	ShellID    string `json:"shell_id"`
	Exited     bool   `json:"exited"`
	ExitStatus *int   `json:"exit_status,omitempty"`
}

// Terminal is the stream of an attachment: output to the person's terminal,
// their keystrokes and window sizes to the shell.
type Terminal struct {
	Output io.Writer
	Input  io.Reader // nil for read-only
	// Resize delivers window size changes (cols, rows); may be nil.
	Resize <-chan [2]int
}

// UploadRequest copies a local file or directory to the host (ssh_upload_file).
type UploadRequest struct {
	SessionID  string `json:"session_id" jsonschema:"session"`
	LocalPath  string `json:"local_path" jsonschema:"local file or directory"`
	RemotePath string `json:"remote_path" jsonschema:"destination (into it if a directory); relative to the remote home"`
	Recursive  bool   `json:"recursive,omitempty" jsonschema:"copy a directory tree"`
	Preserve   bool   `json:"preserve,omitempty" jsonschema:"keep mode and mtime"`
	Overwrite  *bool  `json:"overwrite,omitempty" jsonschema:"replace existing files (default true)"`
}

// UploadResult reports a finished upload.
type UploadResult struct {
	Files      int    `json:"files" jsonschema:"files written"`
	Bytes      int64  `json:"bytes" jsonschema:"bytes written"`
	DurationMS int64  `json:"duration_ms" jsonschema:"wall time in ms"`
	RemotePath string `json:"remote_path" jsonschema:"resolved remote destination"`
}

// DownloadRequest copies a remote file or directory here (ssh_download_file).
type DownloadRequest struct {
	SessionID  string `json:"session_id" jsonschema:"session"`
	RemotePath string `json:"remote_path" jsonschema:"remote file or directory"`
	LocalPath  string `json:"local_path" jsonschema:"local destination (into it if a directory)"`
	Recursive  bool   `json:"recursive,omitempty" jsonschema:"copy a directory tree"`
	Preserve   bool   `json:"preserve,omitempty" jsonschema:"keep mode and mtime"`
	Overwrite  *bool  `json:"overwrite,omitempty" jsonschema:"replace existing files (default true)"`
}

// DownloadResult reports a finished download.
type DownloadResult struct {
	Files      int    `json:"files" jsonschema:"files written"`
	Bytes      int64  `json:"bytes" jsonschema:"bytes written"`
	DurationMS int64  `json:"duration_ms" jsonschema:"wall time in ms"`
	LocalPath  string `json:"local_path" jsonschema:"resolved local destination"`
}

// ReadFileRequest reads part of a remote text file (ssh_read_remote_file).
type ReadFileRequest struct {
	SessionID  string `json:"session_id" jsonschema:"session"`
	RemotePath string `json:"remote_path" jsonschema:"remote file"`
	Offset     int64  `json:"offset,omitempty" jsonschema:"byte offset to start at"`
	Limit      int64  `json:"limit,omitempty" jsonschema:"most bytes to read (default 65536)"`
}

// ReadFileResult is a window of a remote file.
type ReadFileResult struct {
	Content   string `json:"content" jsonschema:"the text (empty when binary)"`
	Size      int64  `json:"size" jsonschema:"file size in bytes"`
	Offset    int64  `json:"offset" jsonschema:"where the window starts"`
	BytesRead int    `json:"bytes_read" jsonschema:"bytes in the window"`
	Truncated bool   `json:"truncated" jsonschema:"more remains after the window"`
	Binary    bool   `json:"binary" jsonschema:"the content is binary and was not returned"`
	Encoding  string `json:"encoding" jsonschema:"utf-8, or utf-8-lossy when invalid bytes became U+FFFD"`
	TypeGuess string `json:"type_guess,omitempty" jsonschema:"what the content looks like"`
}

// WriteFileRequest writes or appends text (ssh_write_remote_file).
type WriteFileRequest struct {
	SessionID  string `json:"session_id" jsonschema:"session"`
	RemotePath string `json:"remote_path" jsonschema:"remote file"`
	Content    string `json:"content" jsonschema:"text to write"`
	Append     bool   `json:"append,omitempty" jsonschema:"append instead of replacing (replacing is atomic)"`
	Mode       string `json:"mode,omitempty" jsonschema:"octal permissions such as 0640"`
}

// WriteFileResult reports a write.
type WriteFileResult struct {
	RemotePath   string `json:"remote_path" jsonschema:"resolved path"`
	BytesWritten int64  `json:"bytes_written" jsonschema:"bytes written"`
	Created      bool   `json:"created" jsonschema:"the file did not exist before"`
}

// ListDirRequest lists a remote directory (ssh_list_remote_dir).
type ListDirRequest struct {
	SessionID  string `json:"session_id" jsonschema:"session"`
	RemotePath string `json:"remote_path" jsonschema:"remote directory (or file)"`
	All        bool   `json:"all,omitempty" jsonschema:"include dot files"`
}

// DirEntry is one entry of a listing.
type DirEntry struct {
	Name       string    `json:"name" jsonschema:"base name"`
	Type       string    `json:"type" jsonschema:"file, dir, symlink or other"`
	Size       int64     `json:"size" jsonschema:"bytes"`
	Mode       string    `json:"mode" jsonschema:"octal permissions"`
	MTime      time.Time `json:"mtime" jsonschema:"modification time"`
	LinkTarget string    `json:"link_target,omitempty" jsonschema:"symlink target"`
}

// ListDirResult is a listing.
type ListDirResult struct {
	Path    string     `json:"path" jsonschema:"resolved path"`
	Entries []DirEntry `json:"entries" jsonschema:"entries sorted by name"`
}

// ForwardRequest opens a port forward (ssh_forward_port).
type ForwardRequest struct {
	SessionID  string `json:"session_id" jsonschema:"session"`
	Direction  string `json:"direction,omitempty" jsonschema:"local (-L, default), remote (-R) or dynamic (-D SOCKS5)"`
	LocalHost  string `json:"local_host,omitempty" jsonschema:"bind address (local, dynamic) or target host (remote); default 127.0.0.1"`
	LocalPort  int    `json:"local_port,omitempty" jsonschema:"local listen port (0 picks one) or, for remote, the local target port"`
	RemoteHost string `json:"remote_host,omitempty" jsonschema:"target host from the server (local) or bind address there (remote); default 127.0.0.1"`
	RemotePort int    `json:"remote_port,omitempty" jsonschema:"target port (local) or server listen port (remote)"`
}

// ForwardResult describes a new forward.
type ForwardResult struct {
	ForwardID string `json:"forward_id" jsonschema:"id for ssh_close_forward"`
	SessionID string `json:"session_id" jsonschema:"session"`
	Direction string `json:"direction" jsonschema:"local, remote or dynamic"`
	Listen    string `json:"listen" jsonschema:"listening address (with the picked port)"`
	Target    string `json:"target" jsonschema:"where connections go (socks5 for dynamic)"`
}

// ListForwardsRequest lists forwards, of one session or all.
type ListForwardsRequest struct {
	SessionID string `json:"session_id,omitempty" jsonschema:"only this session's forwards"`
}

// ForwardInfo is one forward with its counters.
type ForwardInfo struct {
	ForwardID   string `json:"forward_id" jsonschema:"forward id"`
	SessionID   string `json:"session_id" jsonschema:"session"`
	Direction   string `json:"direction" jsonschema:"local, remote or dynamic"`
	Listen      string `json:"listen" jsonschema:"listening address"`
	Target      string `json:"target" jsonschema:"target"`
	ActiveConns int64  `json:"active_conns" jsonschema:"connections open now"`
	TotalConns  int64  `json:"total_conns" jsonschema:"connections since open"`
	BytesIn     int64  `json:"bytes_in" jsonschema:"bytes from targets back to clients"`
	BytesOut    int64  `json:"bytes_out" jsonschema:"bytes from clients to targets"`
	State       string `json:"state" jsonschema:"listening, rebinding, closed or error"`
}

// ListForwardsResult lists forwards.
type ListForwardsResult struct {
	Forwards []ForwardInfo `json:"forwards" jsonschema:"the forwards"`
}

// CloseForwardRequest closes a forward (ssh_close_forward).
type CloseForwardRequest struct {
	ForwardID string `json:"forward_id" jsonschema:"forward to close"`
}

// CloseForwardResult reports the closed forward.
type CloseForwardResult struct {
	ForwardID string `json:"forward_id" jsonschema:"the forward"`
	Closed    bool   `json:"closed" jsonschema:"true when closed"`
}
