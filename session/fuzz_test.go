package session_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// FuzzParseTarget: ParseTarget never panics, fails only with an
// invalid_argument error, and a target it accepts prints back (as
// user@host:port, IPv6 in brackets) to the same target.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"alice@db", "alice@db:2222", "db", "bob@[::1]:22", "[::1]", "::1", "ssh://carol@h.example:2200",
		"ssh://h/", "ssh://u:pw@h", "u@h:0", "u@h:65536", "@h", "u@", "a@b@c", "h:", "[fe80::1%eth0]:22", "web_1.internal",
		"u$@h", "-oProxyCommand=x", "h\n", "ssh://[::1]:22", "ssh://h?x", "%", "*.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := session.ParseTarget(s)
		if err != nil {
			var e *session.Error
			if !errors.As(err, &e) || e.Code != session.CodeInvalidArgument {
				t.Fatalf("ParseTarget(%q) error %v is not invalid_argument", s, err)
			}
			return
		}
		if tg.Host == "" || tg.Port < 0 || tg.Port > 65535 {
			t.Fatalf("ParseTarget(%q) = %+v", s, tg)
		}
		back := tg.Host
		if strings.Contains(back, ":") {
			back = "[" + back + "]"
		}
		if tg.Port != 0 {
			back += ":" + strconv.Itoa(tg.Port)
		}
		if tg.User != "" {
			back = tg.User + "@" + back
		}
		again, err := session.ParseTarget(back)
		if err != nil || again != tg {
			t.Fatalf("ParseTarget(%q) = %+v; printed as %q it parses to %+v, %v", s, tg, back, again, err)
		}
	})
}
