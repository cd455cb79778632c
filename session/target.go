package session

import (
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Target is a parsed host spec: user@host[:port], user@[::1]:22, ssh://user@host:port
// or a bare name (which may be an ~/.ssh/config alias). Port 0 means unspecified.
type Target struct {
	User string
	Host string
	Port int
}

var (
	userRe = regexp.MustCompile(`^[A-Za-z0-9._][A-Za-z0-9._-]*\$?$`)
	hostRe = regexp.MustCompile(`^[A-Za-z0-9_.%*?-]+$`)
	nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)
)

const targetForms = "accepted forms: user@host, user@host:port, user@[::1]:22, ssh://user@host:port, or an ~/.ssh/config alias"

// ParseTarget parses a host spec. It never resolves names.
func ParseTarget(s string) (Target, error) {
	orig := s
	bad := func(why string) (Target, error) {
		return Target{}, Errf(CodeInvalidArgument, targetForms, "malformed target %q: %s", orig, why)
	}
	if s == "" {
		return bad("it is empty")
	}
	if strings.ContainsAny(s, " \t\r\n\x00") {
		return bad("it contains whitespace or control characters")
	}
	var t Target
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil {
			return bad(err.Error())
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
			return bad("an ssh:// URL takes no path, query or fragment")
		}
		if u.User != nil {
			if _, has := u.User.Password(); has {
				return bad("passwords do not belong in a target; use --password-stdin")
			}
			t.User = u.User.Username()
		}
		t.Host = u.Hostname()
		if p := u.Port(); p != "" {
			port, err := parsePort(p)
			if err != nil {
				return bad(err.Error())
			}
			t.Port = port
		}
	} else {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			t.User, s = s[:i], s[i+1:]
			if t.User == "" {
				return bad("the user before @ is empty")
			}
		}
		host, port, err := splitHostPort(s)
		if err != nil {
			return bad(err.Error())
		}
		t.Host, t.Port = host, port
	}
	if t.Host == "" {
		return bad("the host is empty")
	}
	if t.User != "" && !userRe.MatchString(t.User) {
		return bad("the user name has characters a user name cannot have")
	}
	if net.ParseIP(t.Host) == nil && !hostRe.MatchString(t.Host) {
		return bad("the host name has characters a host name cannot have")
	}
	return t, nil
}

func splitHostPort(s string) (string, int, error) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, errString("missing ] after an IPv6 address")
		}
		host, rest := s[1:end], s[end+1:]
		if net.ParseIP(host) == nil {
			return "", 0, errString("[" + host + "] is not an IP address")
		}
		if rest == "" {
			return host, 0, nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", 0, errString("unexpected text after ]")
		}
		p, err := parsePort(rest[1:])
		return host, p, err
	}
	if strings.Count(s, ":") > 1 {
		if net.ParseIP(s) != nil {
			return s, 0, nil // a bare IPv6 address
		}
		return "", 0, errString("put IPv6 addresses in brackets: user@[::1]:22")
	}
	if i := strings.Index(s, ":"); i >= 0 {
		p, err := parsePort(s[i+1:])
		return s[:i], p, err
	}
	return s, 0, nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, errString("port " + strconv.Quote(p) + " is not a number from 1 to 65535")
	}
	return n, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// ValidName reports whether name is a valid session name.
func ValidName(name string) bool { return nameRe.MatchString(name) }
