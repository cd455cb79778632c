package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/spf13/cobra"
)

// ConnectFlags are the credentials and options shared by every command that
// may connect a session (connect, and any command given a host spec).
type ConnectFlags struct {
	Port            int
	User            string
	Identity        string
	PasswordStdin   bool
	PassphraseStdin bool
	NoAgent         bool
	ConnectTimeout  time.Duration
	New             bool
}

func (cf *ConnectFlags) register(c *cobra.Command, withNew bool) {
	cf.registerShort(c, withNew, "p", "l")
}

// registerShort is register with other shorthands for --port and --user
// (put and get take -P, as scp, whose -p preserves; ls keeps -l for long).
func (cf *ConnectFlags) registerShort(c *cobra.Command, withNew bool, portShort, userShort string) {
	fl := c.Flags()
	fl.IntVarP(&cf.Port, "port", portShort, 0, "SSH port (default 22 or the ssh_config Port)")
	fl.StringVarP(&cf.User, "user", userShort, "", "remote user (default: ssh_config User, else the local user)")
	fl.StringVarP(&cf.Identity, "identity", "i", "", "private key file (default: ssh_config IdentityFile, else ~/.ssh/id_*)")
	fl.BoolVar(&cf.PasswordStdin, "password-stdin", false, "read the password from the first line of stdin (or set MCP_REMOTE_SSH_PASSWORD)")
	fl.BoolVar(&cf.PassphraseStdin, "passphrase-stdin", false, "read the key passphrase from the first line of stdin (or set MCP_REMOTE_SSH_PASSPHRASE)")
	fl.BoolVar(&cf.NoAgent, "no-agent", false, "do not use ssh-agent")
	fl.DurationVar(&cf.ConnectTimeout, "connect-timeout", durationEnv("MCP_REMOTE_SSH_CONNECT_TIMEOUT", 15*time.Second), "bound on TCP connect, handshake and auth (env MCP_REMOTE_SSH_CONNECT_TIMEOUT)")
	if withNew {
		fl.BoolVar(&cf.New, "new", false, "connect a new session even if one to this host is live")
	}
}

// request builds a ConnectRequest, reading secrets from stdin or the environment (never argv).
func (cf *ConnectFlags) request(f *Factory, host string) (session.ConnectRequest, error) {
	req := session.ConnectRequest{Host: host, Port: cf.Port, Username: cf.User, KeyPath: cf.Identity, Timeout: cf.ConnectTimeout.Seconds()}
	if cf.ConnectTimeout <= 0 {
		return req, session.Errf(session.CodeInvalidArgument, "give a positive duration such as 15s", "--connect-timeout %v is not positive", cf.ConnectTimeout)
	}
	if cf.PasswordStdin && cf.PassphraseStdin {
		return req, session.Errf(session.CodeInvalidArgument, "pass one of them on stdin and the other in its environment variable", "--password-stdin and --passphrase-stdin both want stdin")
	}
	if cf.Identity != "" {
		if abs, err := absPath(cf.Identity); err == nil {
			req.KeyPath = abs
		}
	}
	if cf.NoAgent {
		no := false
		req.UseAgent = &no
	}
	req.Password = session.Secret(os.Getenv("MCP_REMOTE_SSH_PASSWORD"))
	req.Passphrase = session.Secret(os.Getenv("MCP_REMOTE_SSH_PASSPHRASE"))
	if cf.PasswordStdin || cf.PassphraseStdin {
		line, err := readSecretLine(f.Stdin())
		if err != nil {
			return req, session.Wrap(session.CodeInvalidArgument, err, "", "read secret from stdin")
		}
		if line == "" {
			return req, session.Errf(session.CodeInvalidArgument, "pipe the secret in, e.g. --password-stdin < pw.txt", "stdin gave an empty secret")
		}
		if cf.PasswordStdin {
			req.Password = session.Secret(line)
		} else {
			req.Passphrase = session.Secret(line)
		}
	}
	return req, nil
}

// resolve turns a target into a session id, connecting when the target is a host spec.
func (cf *ConnectFlags) resolve(ctx context.Context, f *Factory, ops session.Operations, target string) (session.ConnectResult, error) {
	req, err := cf.request(f, target)
	if err != nil {
		return session.ConnectResult{}, err
	}
	return ops.Resolve(ctx, session.ResolveRequest{Target: target, New: cf.New, Connect: req})
}

// ConnectOptions are the inputs of `connect`.
type ConnectOptions struct {
	Target string
	Name   string
	JSON   bool
	Flags  ConnectFlags
}

// NewCmdConnect builds `connect`. runF replaces the run func in tests.
func NewCmdConnect(f *Factory, runF func(context.Context, *ConnectOptions) error) *cobra.Command {
	opts := &ConnectOptions{}
	c := &cobra.Command{
		Use:   "connect TARGET",
		Short: "Open a new SSH session in the holder",
		Long: `Open a new SSH session, held by the background holder so later commands reuse it.
TARGET is user@host[:port], user@[::1]:22, ssh://user@host:port, or an ~/.ssh/config alias
(HostName, User, Port, IdentityFile, IdentitiesOnly, ProxyJump, ConnectTimeout and
ServerAliveInterval are honoured). Auth is tried in ssh's order: ssh-agent, key files,
password, keyboard-interactive. Secrets never go on the command line.
Prints the session id on stdout.`,
		Example: `  mcp-remote-ssh connect alice@127.0.0.1:2222 --name web
  mcp-remote-ssh connect web2 --password-stdin < pw.txt
  mcp-remote-ssh connect ssh://deploy@db.example.com:2200 -i ~/.ssh/deploy_ed25519 --json`,
		Args: exactArgs(1, "one TARGET"),
		RunE: func(c *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(c.Context(), opts)
			}
			return runConnect(c.Context(), f, opts)
		},
	}
	c.Flags().StringVar(&opts.Name, "name", "", "name the session ([a-z0-9][a-z0-9._-]{0,31}), usable wherever an id is")
	c.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	opts.Flags.register(c, false)
	return c
}

func runConnect(ctx context.Context, f *Factory, opts *ConnectOptions) error {
	req, err := opts.Flags.request(f, opts.Target)
	if err != nil {
		return err
	}
	req.Name = opts.Name
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	res, err := ops.Connect(f.Caller(ctx), req)
	if err != nil {
		return err
	}
	if opts.JSON {
		return printJSON(f, res)
	}
	fmt.Fprintln(f.IO.Out, res.SessionID)
	name := ""
	if res.Name != "" {
		name = " (" + res.Name + ")"
	}
	rec := ""
	if res.HostKeyRecorded {
		rec = ", newly recorded in known_hosts"
	}
	fmt.Fprintf(f.IO.ErrOut, "connected session %s%s to %s — %s, %s auth, host key %s%s\n",
		res.SessionID, name, userHostPort(res.User, res.Host, res.Port), res.ServerVersion, res.AuthMethod, res.HostKeyFingerprint, rec)
	return nil
}

func printJSON(f *Factory, v any) error {
	enc := json.NewEncoder(f.IO.Out)
	enc.SetEscapeHTML(false)
	if f.IO.OutTTY {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(v)
}
