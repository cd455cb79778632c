package cmd

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

// FileOptions are the inputs of put, get, cat, write and ls.
type FileOptions struct {
	Target      string
	Local       string
	Remote      string
	Recursive   bool
	Preserve    bool
	NoOverwrite bool
	Offset      string
	Limit       string
	Append      bool
	Mode        string
	Long        bool
	All         bool
	JSON        bool
	Flags       ConnectFlags
}

// progress returns a caller with a progress bar on a TTY stderr (nothing on a pipe).
func (f *Factory) progressCaller(ctx context.Context, what string, enabled bool) (context.Context, func()) {
	ctx = f.Caller(ctx)
	if !f.IO.ErrTTY || !enabled {
		return ctx, func() {}
	}
	var bar *progressbar.ProgressBar
	c := session.CallerFrom(ctx)
	c.Progress = func(u session.ProgressUpdate) {
		if bar == nil {
			bar = progressbar.NewOptions64(u.Total, progressbar.OptionSetWriter(f.IO.ErrOut), progressbar.OptionShowBytes(true),
				progressbar.OptionSetDescription(what), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		}
		if u.Total > 0 {
			bar.ChangeMax64(u.Total)
		}
		bar.Set64(u.Done)
	}
	return session.WithCaller(ctx, c), func() {
		if bar != nil {
			bar.Finish()
		}
	}
}

func (o *FileOptions) overwrite() *bool {
	v := !o.NoOverwrite
	return &v
}

func transferFlags(c *cobra.Command, o *FileOptions) {
	c.Flags().BoolVarP(&o.Recursive, "recursive", "r", false, "copy directories recursively")
	c.Flags().BoolVarP(&o.Preserve, "preserve", "p", false, "keep mode and modification time")
	c.Flags().BoolVar(&o.NoOverwrite, "no-overwrite", false, "fail instead of replacing an existing file")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	o.Flags.registerShort(c, true, "P", "l")
}

// NewCmdPut builds `put`.
func NewCmdPut(f *Factory) *cobra.Command {
	o := &FileOptions{}
	c := &cobra.Command{
		Use:   "put TARGET LOCAL REMOTE",
		Short: "Upload a file or directory over SFTP, atomically (temp file + rename)",
		Long: `Upload over SFTP. Each file is written to a temporary name beside the destination, flushed and
renamed over it, so a failed or interrupted transfer leaves the old file untouched. An existing
directory as REMOTE receives the file inside it; ~ and relative paths start at the remote home.
A progress bar is shown when stderr is a terminal.`,
		Example: "  mcp-remote-ssh put web ./config.yaml /etc/app/config.yaml\n  mcp-remote-ssh put web -r ./site /srv/www",
		Args:    exactArgs(3, "a TARGET, a LOCAL path and a REMOTE path"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Target, o.Local, o.Remote = args[0], args[1], args[2]
			local, err := absPath(o.Local)
			if err != nil {
				return session.Wrap(session.CodeInvalidArgument, err, "", "local path %q", o.Local)
			}
			return runFileOp(c.Context(), f, o, "upload", func(ctx context.Context, ops session.Operations, id string) (any, error) {
				r, err := ops.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: local, RemotePath: o.Remote, Recursive: o.Recursive, Preserve: o.Preserve, Overwrite: o.overwrite()})
				if err == nil && !o.JSON {
					fmt.Fprintf(f.IO.ErrOut, "uploaded %d file(s), %d bytes to %s in %dms\n", r.Files, r.Bytes, r.RemotePath, r.DurationMS)
				}
				return r, err
			})
		},
	}
	transferFlags(c, o)
	return c
}

// NewCmdGet builds `get`.
func NewCmdGet(f *Factory) *cobra.Command {
	o := &FileOptions{}
	c := &cobra.Command{
		Use:     "get TARGET REMOTE LOCAL",
		Short:   "Download a file or directory over SFTP, atomically (temp file + rename)",
		Example: "  mcp-remote-ssh get web /var/log/app.log ./logs/\n  mcp-remote-ssh get web -r /etc/nginx ./nginx-backup",
		Args:    exactArgs(3, "a TARGET, a REMOTE path and a LOCAL path"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Target, o.Remote, o.Local = args[0], args[1], args[2]
			local, err := absPath(o.Local)
			if err != nil {
				return session.Wrap(session.CodeInvalidArgument, err, "", "local path %q", o.Local)
			}
			if strings.HasSuffix(o.Local, "/") && !strings.HasSuffix(local, "/") {
				local += "/"
			}
			return runFileOp(c.Context(), f, o, "download", func(ctx context.Context, ops session.Operations, id string) (any, error) {
				r, err := ops.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: o.Remote, LocalPath: local, Recursive: o.Recursive, Preserve: o.Preserve, Overwrite: o.overwrite()})
				if err == nil && !o.JSON {
					fmt.Fprintf(f.IO.ErrOut, "downloaded %d file(s), %d bytes to %s in %dms\n", r.Files, r.Bytes, r.LocalPath, r.DurationMS)
				}
				return r, err
			})
		},
	}
	transferFlags(c, o)
	return c
}

// parseSize reads "64K", "1M", "2G" or a plain byte count.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	num := s
	if mult > 1 {
		num = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, session.Errf(session.CodeInvalidArgument, "write a byte count such as 4096, 64K, 1M or 2G", "size %q is not a byte count", s)
	}
	return n * mult, nil
}

// NewCmdCat builds `cat`.
func NewCmdCat(f *Factory) *cobra.Command {
	o := &FileOptions{}
	c := &cobra.Command{
		Use:   "cat TARGET REMOTE",
		Short: "Print (part of) a remote text file; binary files are reported, not dumped",
		Example: `  mcp-remote-ssh cat web /var/log/app.log
  mcp-remote-ssh cat web /var/log/app.log --offset 1M --limit 64K`,
		Args: exactArgs(2, "a TARGET and a REMOTE path"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Target, o.Remote = args[0], args[1]
			off, err := parseSize(o.Offset)
			if err != nil {
				return err
			}
			lim, err := parseSize(o.Limit)
			if err != nil {
				return err
			}
			var binary bool
			err = runFileOp(c.Context(), f, o, "", func(ctx context.Context, ops session.Operations, id string) (any, error) {
				r, err := ops.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: o.Remote, Offset: off, Limit: lim})
				if err != nil || o.JSON {
					return r, err
				}
				if r.Binary {
					binary = true
					fmt.Fprintf(f.IO.ErrOut, "%s is binary (%s, %d bytes): not printed; copy it with `mcp-remote-ssh get`\n", o.Remote, r.TypeGuess, r.Size)
					return r, nil
				}
				fmt.Fprint(f.IO.Out, r.Content)
				if r.Encoding != "utf-8" {
					fmt.Fprintf(f.IO.ErrOut, "(not valid UTF-8: invalid bytes shown as U+FFFD)\n")
				}
				if r.Truncated {
					fmt.Fprintf(f.IO.ErrOut, "(truncated: %d of %d bytes shown from offset %d; continue with --offset %d)\n", r.BytesRead, r.Size, r.Offset, r.Offset+int64(r.BytesRead))
				}
				return r, nil
			})
			if err == nil && binary {
				return ExitStatus(1)
			}
			return err
		},
	}
	c.Flags().StringVar(&o.Offset, "offset", "", "start at this byte (4096, 64K, 1M)")
	c.Flags().StringVar(&o.Limit, "limit", "1M", "read at most this many bytes")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	o.Flags.register(c, true)
	return c
}

// NewCmdWrite builds `write`.
func NewCmdWrite(f *Factory) *cobra.Command {
	o := &FileOptions{}
	c := &cobra.Command{
		Use:   "write TARGET REMOTE",
		Short: "Write stdin to a remote file (atomic replace, or --append)",
		Example: `  echo 'x=1' | mcp-remote-ssh write web /etc/app/env
  echo 'y=2' | mcp-remote-ssh write web /etc/app/env --append
  mcp-remote-ssh write web ~/.config/app.toml --mode 0600 < app.toml`,
		Args: exactArgs(2, "a TARGET and a REMOTE path"),
		RunE: func(c *cobra.Command, args []string) error {
			o.Target, o.Remote = args[0], args[1]
			data, err := io.ReadAll(io.LimitReader(f.Stdin(), 64<<20+1))
			if err != nil {
				return session.Wrap(session.CodeInvalidArgument, err, "", "read stdin")
			}
			if len(data) > 64<<20 {
				return session.Errf(session.CodeInvalidArgument, "use `put` for large files", "stdin holds more than 64 MiB")
			}
			return runFileOp(c.Context(), f, o, "", func(ctx context.Context, ops session.Operations, id string) (any, error) {
				r, err := ops.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: o.Remote, Content: string(data), Append: o.Append, Mode: o.Mode})
				if err == nil && !o.JSON {
					fmt.Fprintf(f.IO.ErrOut, "wrote %d bytes to %s\n", r.BytesWritten, r.RemotePath)
				}
				return r, err
			})
		},
	}
	c.Flags().BoolVar(&o.Append, "append", false, "append instead of replacing")
	c.Flags().StringVar(&o.Mode, "mode", "", "octal permissions such as 0640")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	o.Flags.register(c, true)
	return c
}

// NewCmdLs builds `ls`.
func NewCmdLs(f *Factory) *cobra.Command {
	o := &FileOptions{}
	c := &cobra.Command{
		Use:     "ls TARGET [REMOTE]",
		Short:   "List a remote directory: name, type, size, mode, mtime, link target",
		Example: "  mcp-remote-ssh ls web /var/log -l\n  mcp-remote-ssh ls web --json",
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return &argsError{msg: "ls takes a TARGET and an optional REMOTE path"}
			}
			o.Target, o.Remote = args[0], "."
			if len(args) == 2 {
				o.Remote = args[1]
			}
			return runFileOp(c.Context(), f, o, "", func(ctx context.Context, ops session.Operations, id string) (any, error) {
				r, err := ops.ListDir(ctx, session.ListDirRequest{SessionID: id, RemotePath: o.Remote, All: o.All})
				if err != nil || o.JSON {
					return r, err
				}
				if !o.Long {
					for _, e := range r.Entries {
						fmt.Fprintln(f.IO.Out, e.Name)
					}
					return r, nil
				}
				tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 1, ' ', 0)
				for _, e := range r.Entries {
					name := e.Name
					if e.LinkTarget != "" {
						name += " -> " + e.LinkTarget
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", e.Type, e.Mode, e.Size, e.MTime.Format(time.RFC3339), name)
				}
				tw.Flush()
				return r, nil
			})
		},
	}
	c.Flags().BoolVarP(&o.Long, "long", "l", false, "long listing")
	c.Flags().BoolVarP(&o.All, "all", "a", false, "include dot files")
	c.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	o.Flags.registerShort(c, true, "p", "")
	return c
}

// runFileOp resolves the target and runs op, with a progress bar when what is set.
func runFileOp(ctx context.Context, f *Factory, o *FileOptions, what string, op func(context.Context, session.Operations, string) (any, error)) error {
	ops, err := f.Ops(ctx)
	if err != nil {
		return err
	}
	target, err := o.Flags.resolve(f.Caller(ctx), f, ops, o.Target)
	if err != nil {
		return err
	}
	pctx, done := f.progressCaller(ctx, what, what != "" && !o.JSON)
	res, err := op(pctx, ops, target.SessionID)
	done()
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(f, res)
	}
	return nil
}
