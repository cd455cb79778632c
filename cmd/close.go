package cmd

import (
	"context"
	"fmt"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

// CloseOptions are the inputs of `close`.
type CloseOptions struct {
	Targets []string
	All     bool
	JSON    bool
}

// NewCmdClose builds `close`.
func NewCmdClose(f *Factory, runF func(context.Context, *CloseOptions) error) *cobra.Command {
	opts := &CloseOptions{}
	c := &cobra.Command{
		Use:   "close SESSION... | --all",
		Short: "Close sessions (by id or name) and everything they hold",
		Example: `  mcp-remote-ssh close web
  mcp-remote-ssh close a1b2c3d4 d4c3b2a1
  mcp-remote-ssh close --all`,
		RunE: func(c *cobra.Command, args []string) error {
			opts.Targets = args
			if opts.All == (len(args) > 0) {
				return &argsError{msg: "close takes session ids or names, or --all (not both)"}
			}
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runClose(c.Context(), f, opts)
		},
	}
	c.Flags().BoolVar(&opts.All, "all", false, "close every session")
	c.Flags().BoolVar(&opts.JSON, "json", false, "print the results as JSON")
	return c
}

func runClose(ctx context.Context, f *Factory, opts *CloseOptions) error {
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	ctx = f.Caller(ctx)
	targets := opts.Targets
	if opts.All {
		res, err := ops.ListSessions(ctx, session.ListSessionsRequest{})
		if err != nil {
			return err
		}
		for _, s := range res.Sessions {
			targets = append(targets, s.SessionID)
		}
	}
	results := []session.CloseSessionResult{}
	var firstErr error
	for _, t := range targets {
		res, err := ops.CloseSession(ctx, session.CloseSessionRequest{SessionID: t})
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		results = append(results, res)
		if !opts.JSON {
			fmt.Fprintf(f.IO.ErrOut, "closed session %s (%d shells, %d forwards)\n", res.SessionID, res.ShellsClosed, res.ForwardsClosed)
		}
	}
	if opts.JSON && firstErr == nil {
		return printJSON(f, map[string]any{"closed": results})
	}
	return firstErr
}
