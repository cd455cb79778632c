package cmd

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

// SessionsOptions are the inputs of `sessions`.
type SessionsOptions struct {
	JSON bool
}

// NewCmdSessions builds `sessions`.
func NewCmdSessions(f *Factory, runF func(context.Context, *SessionsOptions) error) *cobra.Command {
	opts := &SessionsOptions{}
	c := &cobra.Command{
		Use:     "sessions",
		Aliases: []string{"ls-sessions", "ps"},
		Short:   "List the holder's sessions",
		Example: `  mcp-remote-ssh sessions
  mcp-remote-ssh sessions --json | jq -r '.sessions[].session_id'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(c *cobra.Command, args []string) error {
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runSessions(c.Context(), f, opts)
		},
	}
	c.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return c
}

func runSessions(ctx context.Context, f *Factory, opts *SessionsOptions) error {
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	res, err := ops.ListSessions(f.Caller(ctx), session.ListSessionsRequest{})
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(f, res)
	}
	renderSessions(f, res, time.Now())
	return nil
}

// renderSessions prints the table people read: relative times on a TTY,
// RFC 3339 in pipes.
func renderSessions(f *Factory, res session.ListSessionsResult, now time.Time) {
	if len(res.Sessions) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "no sessions (open one with: mcp-remote-ssh connect user@host)")
		return
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTARGET\tSTATE\tAGE\tIDLE\tSHELLS\tFORWARDS")
	for _, s := range res.Sessions {
		name := s.Name
		if name == "" {
			name = "-"
		}
		age := s.CreatedAt.UTC().Format(time.RFC3339)
		idle := fmt.Sprintf("%dms", s.IdleMS)
		if f.IO.OutTTY {
			age = human(now.Sub(s.CreatedAt))
			idle = human(time.Duration(s.IdleMS) * time.Millisecond)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n", s.SessionID, name, userHostPort(s.User, s.Host, s.Port), s.State, age, idle, s.Shells, s.Forwards)
	}
	tw.Flush()
}

// userHostPort renders user@host:port, with an IPv6 host in brackets.
func userHostPort(user, host string, port int) string {
	return user + "@" + net.JoinHostPort(host, strconv.Itoa(port))
}

func human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
