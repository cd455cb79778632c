package cmd

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// NewCmdVersion builds `version`.
func NewCmdVersion(f *Factory) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit and build date",
		Example: "  mcp-remote-ssh version\n  mcp-remote-ssh version --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			if asJSON {
				return printJSON(f, map[string]string{"version": f.Build.Version, "commit": f.Build.Commit, "date": f.Build.Date, "go": runtime.Version()})
			}
			fmt.Fprintf(f.IO.Out, "mcp-remote-ssh %s (commit %s, built %s, %s)\n", f.Build.Version, f.Build.Commit, f.Build.Date, runtime.Version())
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return c
}
