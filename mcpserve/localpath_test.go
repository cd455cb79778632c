package mcpserve

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

func TestLocalPaths(t *testing.T) {
	home := t.TempDir()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.Symlink(filepath.Join(home, ".ssh"), filepath.Join(root, "innocent"))
	p := NewLocalPaths(root, []string{filepath.Join(home, ".ssh", "config")})
	p.Home = home

	if got, _ := p.Resolve("a/../b.txt"); got != filepath.Join(root, "b.txt") {
		t.Errorf("relative path resolved to %s", got)
	}
	if _, err := p.Resolve(""); session.CodeOf(err) != session.CodeInvalidArgument {
		t.Errorf("empty path: %v", err)
	}
	cases := []struct {
		path string
		ok   bool
	}{
		{filepath.Join(root, "out.txt"), true},
		{"out.txt", true},
		{filepath.Join(home, "notes.txt"), true},
		{filepath.Join(home, ".ssh", "authorized_keys"), false},
		{filepath.Join(home, ".ssh"), false},
		{filepath.Join(home, ".bashrc"), false},
		{filepath.Join(home, ".config", "fish", "config.fish"), false},
		{"innocent/authorized_keys", false},           // a symlink into ~/.ssh
		{filepath.Join(home, ".ssh", "config"), true}, // --allow-local-write
	}
	for _, c := range cases {
		err := p.CheckWrite(c.path)
		if (err == nil) != c.ok {
			t.Errorf("CheckWrite(%s) = %v, want ok=%v", c.path, err, c.ok)
		}
		if err != nil && session.CodeOf(err) != session.CodePolicyDenied {
			t.Errorf("CheckWrite(%s): code %s", c.path, session.CodeOf(err))
		}
	}
}

// mcpserve stays a thin layer: no SSH or SFTP imports of its own.
func TestNoSSHImports(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); strings.HasPrefix(p, "golang.org/x/crypto/ssh") || strings.HasPrefix(p, "github.com/pkg/sftp") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}

func TestCheckDownload(t *testing.T) {
	home := t.TempDir()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.MkdirAll(filepath.Join(home, ".config"), 0o700)
	os.MkdirAll(filepath.Join(root, "dir"), 0o700)
	audit := filepath.Join(root, "audit.jsonl")
	p := NewLocalPaths(root, nil)
	p.Home = home
	p.Guard = []string{audit}
	cases := []struct {
		local, remote string
		recursive     bool
		want          string // "" when refused
	}{
		{"out.txt", "/etc/hosts", false, filepath.Join(root, "out.txt")},
		{"dir", "/etc/hosts", false, filepath.Join(root, "dir")},
		{"dir/", "/etc/hosts", false, filepath.Join(root, "dir") + "/"},
		{"~/.ssh/authorized_keys", "/tmp/k", false, ""},
		{"~/.ssh", "/tmp/authorized_keys", false, ""}, // lands inside ~/.ssh
		{"~", "/tmp/.bashrc", false, ""},              // lands as ~/.bashrc
		{"~", "/tmp/notes.txt", false, filepath.Clean(home)},
		{"~", "/srv/project", true, filepath.Clean(home)}, // ~/project
		{"~", "/srv/.ssh", true, ""},                      // ~/.ssh
		{"~", "~", true, ""},                              // a name not known here, in ~
		{"~/.config", "/srv/fish", true, ""},              // ~/.config/fish/config.fish
		{filepath.Dir(home), filepath.Base(home), true, ""},
		{audit, "/tmp/x", false, ""},
		{"/etc/cron.d/job", "/tmp/x", false, ""},
	}
	for _, c := range cases {
		got, err := p.CheckDownload(c.local, c.remote, c.recursive)
		if c.want == "" {
			if err == nil || session.CodeOf(err) != session.CodePolicyDenied {
				t.Errorf("CheckDownload(%s, %s, %v) = %q, %v; want policy_denied", c.local, c.remote, c.recursive, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CheckDownload(%s, %s, %v) = %q, %v; want %q", c.local, c.remote, c.recursive, got, err, c.want)
		}
	}
	p.AllowWrite = absAll([]string{filepath.Join(home, ".ssh")})
	if _, err := p.CheckDownload("~/.ssh/authorized_keys", "/tmp/k", false); err != nil {
		t.Errorf("--allow-local-write ~/.ssh: %v", err)
	}
}

func TestCheckRead(t *testing.T) {
	home := t.TempDir()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519.pub"), []byte("x"), 0o600)
	os.Symlink(filepath.Join(home, ".ssh", "id_ed25519"), filepath.Join(root, "key"))
	p := NewLocalPaths(root, nil)
	p.Home = home
	cases := []struct {
		path      string
		recursive bool
		ok        bool
	}{
		{"file.txt", false, true},
		{"~/.ssh/id_ed25519", false, false},
		{"~/.ssh/id_ed25519.pub", false, true},
		{"key", false, false}, // a symlink to a private key
		{"~", true, false},    // a tree holding ~/.ssh
		{"~/.ssh", true, false},
		{filepath.Join(root), true, true},
	}
	for _, c := range cases {
		got, err := p.CheckRead(c.path, c.recursive)
		if (err == nil) != c.ok {
			t.Errorf("CheckRead(%s, %v) = %q, %v; want ok=%v", c.path, c.recursive, got, err, c.ok)
		}
		if err == nil && !filepath.IsAbs(got) {
			t.Errorf("CheckRead(%s) = %q, not absolute", c.path, got)
		}
	}
	p.AllowRead = []string{filepath.Join(home, ".ssh", "id_ed25519")}
	if _, err := p.CheckRead("key", false); err != nil {
		t.Errorf("--allow-local-read: %v", err)
	}
}
