package mcpserve

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// guardedHomeFiles are files under the home directory that MCP tools may not
// write unless --allow-local-write names them: shell start-up files (a
// prompt-injected download must not plant code that runs at the next login).
// Everything under ~/.ssh/ is guarded too.
var guardedHomeFiles = []string{
	".profile", ".bashrc", ".bash_profile", ".bash_login", ".bash_logout",
	".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout",
	".kshrc", ".mkshrc", ".cshrc", ".tcshrc", ".login", ".logout",
	".config/fish/config.fish", ".config/fish/conf.d", ".config/environment.d",
	".pam_environment", ".xprofile", ".xsession", ".xinitrc",
}

// LocalPaths is the policy for local paths named by MCP tools: relative
// paths are resolved against Root, and writes into ~/.ssh/ or shell start-up
// files are refused unless a path in AllowWrite covers them. (The host-key
// policy's append to known_hosts happens in the holder, not through here.)
type LocalPaths struct {
	// Root resolves relative paths; default the working directory.
	Root string
	// AllowWrite are guarded paths (or directories) that may be written.
	AllowWrite []string
	// Home is the home directory whose files are guarded; default $HOME.
	Home string
}

// NewLocalPaths returns the policy with defaults filled in.
func NewLocalPaths(root string, allowWrite []string) *LocalPaths {
	p := &LocalPaths{Root: root}
	if p.Root == "" {
		p.Root, _ = os.Getwd()
	}
	if abs, err := filepath.Abs(p.Root); err == nil {
		p.Root = abs
	}
	p.Home, _ = os.UserHomeDir()
	for _, a := range allowWrite {
		if abs, err := filepath.Abs(a); err == nil {
			p.AllowWrite = append(p.AllowWrite, canonical(abs))
		}
	}
	return p
}

// Resolve makes path absolute (against Root when relative) and clean.
func (p *LocalPaths) Resolve(path string) (string, error) {
	if path == "" {
		return "", session.Errf(session.CodeInvalidArgument, "pass an absolute local path, or one relative to "+p.Root, "the local path is empty")
	}
	if strings.HasPrefix(path, "~/") && p.Home != "" {
		path = filepath.Join(p.Home, path[2:])
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.Root, path)
	}
	return filepath.Clean(path), nil
}

// CheckWrite refuses a write to a guarded path (after resolving symlinks of
// the parts that exist) unless AllowWrite covers it.
func (p *LocalPaths) CheckWrite(path string) error {
	abs, err := p.Resolve(path)
	if err != nil {
		return err
	}
	real := canonical(abs)
	for _, a := range p.AllowWrite {
		if within(real, a) {
			return nil
		}
	}
	if p.Home == "" {
		return nil
	}
	home := canonical(p.Home)
	guarded := append([]string{".ssh"}, guardedHomeFiles...)
	for _, g := range guarded {
		if within(real, filepath.Join(home, g)) {
			return session.Errf(session.CodePolicyDenied,
				"MCP tools do not write ~/.ssh/ or shell start-up files; the operator can allow it with --allow-local-write "+abs,
				"refusing to write %s", abs)
		}
	}
	return nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// canonical resolves the symlinks of the longest existing prefix of path.
func canonical(path string) string {
	rest := ""
	for cur := path; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return path
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
