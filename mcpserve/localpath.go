package mcpserve

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// guardedHomeFiles are files under the home directory that MCP tools may not
// write unless --allow-local-write names them: shell start-up files and
// other files whose content runs as the user (a prompt-injected download
// must not plant code that runs at the next login or git command).
// Everything under ~/.ssh/ is guarded too.
var guardedHomeFiles = []string{
	".profile", ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases",
	".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout",
	".kshrc", ".mkshrc", ".cshrc", ".tcshrc", ".login", ".logout",
	".config/fish/config.fish", ".config/fish/conf.d", ".config/environment.d",
	".pam_environment", ".xprofile", ".xsession", ".xsessionrc", ".xinitrc",
	".gitconfig", ".config/git", ".config/autostart", ".config/systemd/user", ".local/share/systemd/user",
	"Library/LaunchAgents",
}

// guardedSystemPaths are system files that run code or grant access; they
// matter when the server runs as root.
var guardedSystemPaths = []string{
	"/etc/profile", "/etc/profile.d", "/etc/bash.bashrc", "/etc/bashrc", "/etc/environment",
	"/etc/zsh", "/etc/zshenv", "/etc/zprofile", "/etc/zshrc", "/etc/zlogin",
	"/etc/ssh", "/etc/sudoers", "/etc/sudoers.d", "/etc/pam.d", "/etc/security",
	"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow",
	"/etc/crontab", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly",
	"/var/spool/cron", "/etc/systemd", "/etc/init.d", "/etc/rc.local",
	"/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/Library/LaunchAgents", "/Library/LaunchDaemons",
}

// LocalPaths is the policy for local paths named by MCP tools: relative
// paths are resolved against Root; writes into ~/.ssh/, shell start-up files
// and the other guarded paths are refused unless a path in AllowWrite covers
// them; reads of ~/.ssh/ (private keys) are refused unless AllowRead covers
// them. (The host-key policy's append to known_hosts happens in the holder,
// not through here.)
type LocalPaths struct {
	// Root resolves relative paths; default the working directory.
	Root string
	// AllowWrite are guarded paths (or directories) that may be written.
	AllowWrite []string
	// AllowRead are paths under ~/.ssh/ that may be read (uploaded).
	AllowRead []string
	// Home is the home directory whose files are guarded; default $HOME.
	Home string
	// Guard are more paths never written: the audit log, the state directory.
	Guard []string
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
	p.AllowWrite = absAll(allowWrite)
	return p
}

// absAll makes paths absolute and canonical.
func absAll(paths []string) []string {
	var out []string
	for _, a := range paths {
		if abs, err := filepath.Abs(a); err == nil {
			out = append(out, canonical(abs))
		}
	}
	return out
}

// Resolve makes path absolute (against Root when relative) and clean.
func (p *LocalPaths) Resolve(path string) (string, error) {
	if path == "" {
		return "", session.Errf(session.CodeInvalidArgument, "pass an absolute local path, or one relative to "+p.Root, "the local path is empty")
	}
	if (path == "~" || strings.HasPrefix(path, "~/")) && p.Home != "" {
		path = filepath.Join(p.Home, strings.TrimPrefix(path[1:], "/"))
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.Root, path)
	}
	return filepath.Clean(path), nil
}

// guarded returns the canonical paths writes may not touch.
func (p *LocalPaths) guarded() []string {
	var g []string
	if p.Home != "" {
		home := canonical(p.Home)
		g = append(g, filepath.Join(home, ".ssh"))
		for _, f := range guardedHomeFiles {
			g = append(g, filepath.Join(home, f))
		}
	}
	for _, s := range guardedSystemPaths {
		g = append(g, canonical(s))
	}
	for _, s := range p.Guard {
		if abs, err := filepath.Abs(s); err == nil {
			g = append(g, canonical(abs))
		}
	}
	return g
}

func (p *LocalPaths) allowedWrite(real string) bool {
	for _, a := range p.AllowWrite {
		if within(real, a) {
			return true
		}
	}
	return false
}

// CheckWrite refuses a write to a guarded path (after resolving symlinks of
// the parts that exist) unless AllowWrite covers it.
func (p *LocalPaths) CheckWrite(path string) error {
	abs, err := p.Resolve(path)
	if err != nil {
		return err
	}
	return p.checkWrite(abs, false)
}

// checkWrite checks a write of the absolute path abs; with tree, abs is the
// root of a directory tree whose content is not known here, so a guarded
// path below it is refused too.
func (p *LocalPaths) checkWrite(abs string, tree bool) error {
	real := canonical(abs)
	if p.allowedWrite(real) {
		return nil
	}
	for _, g := range p.guarded() {
		if within(real, g) {
			return session.Errf(session.CodePolicyDenied,
				"MCP tools do not write ~/.ssh/, shell start-up files or system configuration; the operator can allow it with --allow-local-write "+abs,
				"refusing to write %s", abs)
		}
		if tree && within(g, real) && !p.allowedWrite(g) {
			return session.Errf(session.CodePolicyDenied,
				"download the tree into a new directory instead; the operator can allow "+g+" with --allow-local-write",
				"refusing to write a directory tree into %s: it holds %s", abs, g)
		}
	}
	return nil
}

// CheckDownload resolves the local destination of a download of remote and
// checks every path the download may write: the destination itself, or the
// file or tree it receives when it is a directory. It returns the absolute
// destination to pass to the operation (keeping a trailing slash).
func (p *LocalPaths) CheckDownload(local, remote string, recursive bool) (string, error) {
	abs, err := p.Resolve(local)
	if err != nil {
		return "", err
	}
	slash := strings.HasSuffix(local, "/") || strings.HasSuffix(local, string(filepath.Separator))
	fi, statErr := os.Stat(abs)
	if statErr == nil && fi.IsDir() || slash {
		// The file or tree lands inside abs, under the remote base name.
		base := path.Base(remote)
		if base == "." || base == ".." || base == "/" || base == "~" || strings.ContainsRune(base, filepath.Separator) {
			err = p.checkWrite(abs, true) // a name not known here
		} else {
			err = p.checkWrite(filepath.Join(abs, base), recursive)
		}
	} else {
		err = p.checkWrite(abs, recursive)
	}
	if err != nil {
		return "", err
	}
	if slash && abs != "/" {
		abs += string(filepath.Separator)
	}
	return abs, nil
}

// CheckRead resolves a local path to read (upload) and refuses ~/.ssh/
// (private keys; public *.pub keys are allowed), or a tree holding it,
// unless AllowRead covers it. It returns the absolute path.
func (p *LocalPaths) CheckRead(local string, recursive bool) (string, error) {
	abs, err := p.Resolve(local)
	if err != nil {
		return "", err
	}
	if p.Home == "" {
		return abs, nil
	}
	real := canonical(abs)
	for _, a := range absAll(p.AllowRead) {
		if within(real, a) {
			return abs, nil
		}
	}
	sshDir := filepath.Join(canonical(p.Home), ".ssh")
	fi, statErr := os.Stat(real)
	isDir := statErr == nil && fi.IsDir()
	pub := strings.HasSuffix(real, ".pub") && !isDir
	if within(real, sshDir) && !pub || (recursive || isDir) && within(sshDir, real) {
		return "", session.Errf(session.CodePolicyDenied,
			"MCP tools do not send ~/.ssh/ (private keys) to hosts; public keys (*.pub) are fine; the operator can allow a path with --allow-local-read",
			"refusing to read %s", abs)
	}
	return abs, nil
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator)) || dir == string(filepath.Separator)
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
