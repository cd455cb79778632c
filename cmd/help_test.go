package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// Every command builds (no flag clashes), has examples, and answers --help.
func TestEveryCommandHelp(t *testing.T) {
	f := &Factory{Build: BuildInfo{Version: "test"}, IO: &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	root := NewRootCmd(f)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sc := range c.Commands() {
			walk(sc)
		}
		if c.Hidden || c.Name() == "help" || strings.HasPrefix(c.CommandPath(), "mcp-remote-ssh completion") || strings.HasPrefix(c.CommandPath(), "mcp-remote-ssh holder") {
			return
		}
		t.Run(c.CommandPath(), func(t *testing.T) {
			if c != root && c.Example == "" && c.Runnable() {
				t.Errorf("%s has no examples", c.CommandPath())
			}
			out := &bytes.Buffer{}
			f2 := &Factory{Build: f.Build, IO: &IOStreams{In: strings.NewReader(""), Out: out, ErrOut: out}}
			args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "mcp-remote-ssh")), "--help")
			if code := Run(context.Background(), f2, args); code != 0 {
				t.Fatalf("exit %d: %s", code, out)
			}
			if !strings.Contains(out.String(), "Usage:") {
				t.Errorf("no usage in %q", out)
			}
		})
	}
	walk(root)
}
