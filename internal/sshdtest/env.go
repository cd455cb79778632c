package sshdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// holds 108 bytes with the final NUL).
const maxSocketPath = 107

// Env is an isolated client-side environment for one test: fresh HOME (with
// an empty .ssh directory, 0700), XDG directories and holder socket path, and
// no SSH agent unless AgentSocket is set.
type Env struct {
	// Home is HOME; Home/.ssh exists, empty, 0700.
	Home string
	// RuntimeDir is XDG_RUNTIME_DIR (0700).
	RuntimeDir string
	// StateDir is XDG_STATE_HOME.
	StateDir string
	// CacheDir is XDG_CACHE_HOME.
	CacheDir string
	// ConfigDir is XDG_CONFIG_HOME.
	ConfigDir string
	// DataDir is XDG_DATA_HOME.
	DataDir string
	// Socket is MCP_REMOTE_SSH_SOCKET: a short path (well under the 108
	// bytes of a unix socket path) in a directory that exists, 0700. The
	// socket itself does not exist yet.
	Socket string
	// AgentSocket, when set (for instance to what [StartAgent] returned),
	// is exported as SSH_AUTH_SOCK; when empty SSH_AUTH_SOCK is unset.
	AgentSocket string
}

// NewEnv creates the directories of a fresh Env under one short directory in
// /tmp, removed at tb.Cleanup. It does not change the process environment:
// use Environ for commands and Setenv for in-process code.
func NewEnv(tb testing.TB) *Env {
	tb.Helper()
	base, err := tempDir(shortTempBase, "env")
	if err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(base); err != nil {
			tb.Logf("sshdtest: remove env dir: %v", err)
		}
	})
	e := &Env{
		Home:       filepath.Join(base, "home"),
		RuntimeDir: filepath.Join(base, "run"),
		StateDir:   filepath.Join(base, "state"),
		CacheDir:   filepath.Join(base, "cache"),
		ConfigDir:  filepath.Join(base, "config"),
		DataDir:    filepath.Join(base, "data"),
		Socket:     filepath.Join(base, "sock", "holder.sock"),
	}
	for _, d := range []string{
		filepath.Join(e.Home, ".ssh"), e.RuntimeDir, e.StateDir, e.CacheDir,
		e.ConfigDir, e.DataDir, filepath.Dir(e.Socket),
	} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatalf("sshdtest: create %s: %v", d, err)
		}
	}
	if len(e.Socket) > maxSocketPath {
		tb.Fatalf("sshdtest: socket path %s is %d bytes, over the %d a unix socket allows", e.Socket, len(e.Socket), maxSocketPath)
	}
	return e
}

// vars returns the variables the Env sets, in a fixed order.
func (e *Env) vars() [][2]string {
	v := [][2]string{
		{"HOME", e.Home},
		{"XDG_RUNTIME_DIR", e.RuntimeDir},
		{"XDG_STATE_HOME", e.StateDir},
		{"XDG_CACHE_HOME", e.CacheDir},
		{"XDG_CONFIG_HOME", e.ConfigDir},
		{"XDG_DATA_HOME", e.DataDir},
		{"MCP_REMOTE_SSH_SOCKET", e.Socket},
	}
	if e.AgentSocket != "" {
		v = append(v, [2]string{"SSH_AUTH_SOCK", e.AgentSocket})
	}
	return v
}

// dropped reports whether a variable of the outer environment is left out of
// the Env: SSH agent variables and every MCP_REMOTE_SSH_* setting (secrets,
// flags' env forms), so the outer environment cannot leak into a test.
func dropped(key string) bool {
	return key == "SSH_AUTH_SOCK" || key == "SSH_AGENT_PID" || strings.HasPrefix(key, "MCP_REMOTE_SSH_")
}

// Environ returns os.Environ() with the Env's variables set, for an
// exec.Cmd of the built binary. SSH_AUTH_SOCK, SSH_AGENT_PID and every other
// MCP_REMOTE_SSH_* variable of the outer environment are removed.
func (e *Env) Environ() []string {
	set := make(map[string]bool)
	for _, kv := range e.vars() {
		set[kv[0]] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if set[key] || dropped(key) {
			continue
		}
		env = append(env, kv)
	}
	for _, kv := range e.vars() {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}

// Setenv sets the Env's variables in the test process with tb.Setenv (so
// they are restored at cleanup and the test must not be parallel), and
// unsets SSH_AUTH_SOCK (unless AgentSocket is set), SSH_AGENT_PID and other
// MCP_REMOTE_SSH_* variables.
func (e *Env) Setenv(tb testing.TB) {
	tb.Helper()
	set := make(map[string]bool)
	for _, kv := range e.vars() {
		tb.Setenv(kv[0], kv[1])
		set[kv[0]] = true
	}
	for _, kv := range os.Environ() {
		key, _, _ := strings.Cut(kv, "=")
		if set[key] || !dropped(key) {
			continue
		}
		tb.Setenv(key, "") // registers the restore
		if err := os.Unsetenv(key); err != nil {
			tb.Fatalf("sshdtest: %v", fmt.Errorf("unset %s: %w", key, err))
		}
	}
}
