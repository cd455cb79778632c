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
