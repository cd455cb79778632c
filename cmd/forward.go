package cmd

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/tunnel"
	"github.com/spf13/cobra"
)

// ForwardOptions are the inputs of `forward`.
type ForwardOptions struct {
	Target string
	Local  string
	Remote string
	SOCKS  string
	JSON   bool
	Flags  ConnectFlags
}

// NewCmdForward builds `forward` and `forward list|close`.
func NewCmdForward(f *Factory) *cobra.Command {
	o := &ForwardOptions{}
	c := &cobra.Command{
		Use:   "forward TARGET (-L SPEC | -R SPEC | -D SPEC)",
		Short: "Open a port forward held by the holder (like ssh -L, -R, -D); prints its id",
		Long: `Forwards live in the holder: they outlive this command and end with 'forward close', with their
session, or when the holder stops. Listeners bind 127.0.0.1 unless you name another address
(a warning is logged: it is reachable from the network). Port 0 picks a free port.
  -L [bind:]port:host:hostport   local port -> host:hostport as seen from the server
  -R [bind:]port:host:hostport   port on the server -> host:hostport here
  -D [bind:]port                 SOCKS5 proxy (CONNECT; IPv4, IPv6, names resolved remotely)`,
		Example: `  mcp-remote-ssh forward web -L 15432:localhost:5432
  mcp-remote-ssh forward web -L 0:db.internal:5432
  mcp-remote-ssh forward web -R 8080:localhost:3000
  mcp-remote-ssh forward web -D 1080
  mcp-remote-ssh forward list
  mcp-remote-ssh forward close 1a2b3c4d`,
		Args: exactArgs(1, "one TARGET (or list/close)"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Target = args[0]
			return runForward(c.Context(), f, o)
		},
	}
	c.Flags().StringVarP(&o.Local, "local", "L", "", "local forward [bind:]port:host:hostport")
	c.Flags().StringVarP(&o.Remote, "remote", "R", "", "remote forward [bind:]port:host:hostport")
	c.Flags().StringVarP(&o.SOCKS, "dynamic", "D", "", "SOCKS5 proxy [bind:]port")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	o.Flags.register(c, true)

	var listJSON bool
	list := &cobra.Command{
		Use:     "list [TARGET]",
		Short:   "List forwards: id, kind, listen address, target, connections, bytes in/out",
		Example: "  mcp-remote-ssh forward list\n  mcp-remote-ssh forward list web --json",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &argsError{msg: "forward list takes at most one TARGET"}
			}
			ctx := c.Context()
			ops, err := f.Ops(ctx)
			if err != nil {
				return err
			}
			ctx = f.Caller(ctx)
			req := session.ListForwardsRequest{}
			if len(args) == 1 {
				req.SessionID = args[0]
			}
			res, err := ops.ListForwards(ctx, req)
			if err != nil {
				return err
			}
			if listJSON {
				return printJSON(f, res)
			}
			if len(res.Forwards) == 0 {
				fmt.Fprintln(f.IO.ErrOut, "no forwards")
				return nil
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSESSION\tKIND\tLISTEN\tTARGET\tACTIVE\tTOTAL\tBYTES IN\tBYTES OUT\tSTATE")
			for _, fw := range res.Forwards {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", fw.ForwardID, fw.SessionID, fw.Direction, fw.Listen, fw.Target,
					fw.ActiveConns, fw.TotalConns, fw.BytesIn, fw.BytesOut, fw.State)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print the result as JSON")
	closeCmd := &cobra.Command{
		Use:     "close FORWARD_ID...",
		Short:   "Close forwards; their ports refuse connections at once",
		Example: "  mcp-remote-ssh forward close 1a2b3c4d",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &argsError{msg: "forward close takes one or more forward ids (see forward list)"}
			}
			ctx := c.Context()
			ops, err := f.Ops(ctx)
			if err != nil {
				return err
			}
			ctx = f.Caller(ctx)
			for _, id := range args {
				if _, err := ops.CloseForward(ctx, session.CloseForwardRequest{ForwardID: id}); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.ErrOut, "closed forward %s\n", id)
			}
			return nil
		},
	}
	c.AddCommand(list, closeCmd)
	return c
}

func runForward(ctx context.Context, f *Factory, o *ForwardOptions) error {
	var flag, value string
	n := 0
	for _, fv := range [][2]string{{"L", o.Local}, {"R", o.Remote}, {"D", o.SOCKS}} {
		if fv[1] != "" {
			flag, value = fv[0], fv[1]
			n++
		}
	}
	if n != 1 {
		return &argsError{msg: "forward takes exactly one of -L, -R or -D"}
	}
	sp, err := tunnel.ParseSpec(flag, value)
	if err != nil {
		return session.Errf(session.CodeInvalidArgument, "accepted forms: -L [bind:]port:host:hostport, -R [bind:]port:host:hostport, -D [bind:]port", "%v", err)
	}
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	ctx = f.Caller(ctx)
	target, err := o.Flags.resolve(ctx, f, ops, o.Target)
	if err != nil {
		return err
	}
	res, err := ops.ForwardOpen(ctx, session.SpecRequest(target.SessionID, sp))
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(f, res)
	}
	fmt.Fprintln(f.IO.Out, res.ForwardID)
	fmt.Fprintf(f.IO.ErrOut, "forward %s (%s): %s -> %s\n", res.ForwardID, res.Direction, res.Listen, res.Target)
	return nil
}
