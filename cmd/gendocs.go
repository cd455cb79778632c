package cmd

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// GenDocsOptions are the inputs of the hidden `gendocs` command.
type GenDocsOptions struct {
	ManDir         string
	MarkdownDir    string
	CompletionsDir string
}

// NewCmdGenDocs builds the hidden `gendocs` command: man pages, markdown and
// shell completions for release archives (goreleaser's before hook) and for
// docs/cli in the repository.
func NewCmdGenDocs(f *Factory) *cobra.Command {
	opts := &GenDocsOptions{}
	c := &cobra.Command{
		Use:    "gendocs",
		Short:  "Generate man pages, markdown CLI reference and shell completions",
		Hidden: true,
		Example: `  mcp-remote-ssh gendocs --man manpages --completions completions
  mcp-remote-ssh gendocs --markdown docs/cli`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			if opts.ManDir == "" && opts.MarkdownDir == "" && opts.CompletionsDir == "" {
				return &FlagError{Err: fmt.Errorf("pass at least one of --man, --markdown, --completions")}
			}
			return GenDocs(f, opts)
		},
	}
	c.Flags().StringVar(&opts.ManDir, "man", "", "write man pages (section 1) into `DIR`")
	c.Flags().StringVar(&opts.MarkdownDir, "markdown", "", "write the markdown CLI reference into `DIR` (stale .md files there are removed)")
	c.Flags().StringVar(&opts.CompletionsDir, "completions", "", "write bash, zsh and fish completion scripts into `DIR`")
	return c
}

// DocsRoot builds the command tree as the documentation shows it: flag
// defaults as they are without MCP_REMOTE_SSH_* variables (the generated text
// must not depend on who runs the generator), with the help and completion
// commands that cobra otherwise adds only when it executes.
func DocsRoot(f *Factory) *cobra.Command {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MCP_REMOTE_SSH_") {
			os.Unsetenv(name)
		}
	}
	g := &Factory{Build: f.Build, IO: f.IO}
	root := NewRootCmd(g)
	root.DisableAutoGenTag = true // no generation date: the docs stay byte-for-byte reproducible
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root
}

// GenDocs writes what opts asks for.
func GenDocs(f *Factory, opts *GenDocsOptions) error {
	root := DocsRoot(f)
	if opts.MarkdownDir != "" {
		if err := genMarkdown(root, opts.MarkdownDir); err != nil {
			return err
		}
	}
	if opts.ManDir != "" {
		if err := os.MkdirAll(opts.ManDir, 0o755); err != nil {
			return err
		}
		hdr := &doc.GenManHeader{Title: "MCP-REMOTE-SSH", Section: "1", Source: "mcp-remote-ssh " + f.Build.Version, Manual: "mcp-remote-ssh manual"}
		// Reproducible builds: honour SOURCE_DATE_EPOCH for the page date.
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			var sec int64
			if _, err := fmt.Sscan(s, &sec); err == nil {
				t := time.Unix(sec, 0).UTC()
				hdr.Date = &t
			}
		}
		if err := doc.GenManTree(root, hdr, opts.ManDir); err != nil {
			return fmt.Errorf("man pages: %w", err)
		}
	}
	if opts.CompletionsDir != "" {
		if err := os.MkdirAll(opts.CompletionsDir, 0o755); err != nil {
			return err
		}
		name := root.Name()
		gens := []struct {
			file string
			gen  func(string) error
		}{
			{name + ".bash", func(p string) error { return root.GenBashCompletionFileV2(p, true) }},
			{"_" + name, root.GenZshCompletionFile},
			{name + ".fish", func(p string) error { return root.GenFishCompletionFile(p, true) }},
		}
		for _, g := range gens {
			if err := g.gen(filepath.Join(opts.CompletionsDir, g.file)); err != nil {
				return fmt.Errorf("%s completion: %w", g.file, err)
			}
		}
	}
	return nil
}

// genMarkdown regenerates dir: old .md files go first, so a removed or
// renamed command leaves no stale page behind.
func genMarkdown(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return err
	}
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, dir); err != nil {
		return fmt.Errorf("markdown: %w", err)
	}
	return nil
}
