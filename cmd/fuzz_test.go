package cmd

import (
	"context"
	"strings"
	"testing"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// FuzzParseSize: byte counts given on the command line (--offset, --limit)
// never panic, are never negative, and an accepted count with a suffix is
// that many KiB, MiB or GiB.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"", "0", "4096", "64K", "1m", "2G", "-1", "K", "1.5M", "9223372036854775807", "8589934592G", "1T", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			if session.CodeOf(err) != session.CodeInvalidArgument {
				t.Fatalf("parseSize(%q): %v is not invalid_argument", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("parseSize(%q) = %d, a negative size (n*unit overflowed int64)", s, n)
		}
		if s == "" {
			return
		}
		unit := map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[strings.ToUpper(s[len(s)-1:])]
		if unit > 1 && n%unit != 0 {
			t.Fatalf("parseSize(%q) = %d, not a multiple of %d", s, n, unit)
		}
	})
}

// FuzzExecArgs: any argv given to exec either is refused with an error or
// yields options with a command (an empty target is refused later, by the
// holder); parsing never panics or runs
// anything (the run func only records).
func FuzzExecArgs(f *testing.F) {
	for _, s := range []string{"web\x00--\x00echo\x00hi", "web\x00--json\x00-n\x00--\x00ls", "\x00--", "web\x00--timeout\x00soon\x00--\x00true",
		"a@b:22\x00-i\x00/k\x00--new\x00--\x00uptime", "web\x00--env\x00K=V\x00--\x00env", "--\x00--\x00--", "web\x00--cwd=\x00--\x00pwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		if len(args) > 64 {
			return
		}
		fac, _, _ := testFactory("")
		var got *ExecOptions
		c := NewCmdExec(fac, func(_ context.Context, o *ExecOptions) error { got = o; return nil })
		err := parse(c, args...)
		if err != nil {
			if got != nil {
				t.Fatalf("argv %q: run func called despite %v", args, err)
			}
			return
		}
	})
}
