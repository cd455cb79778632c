package tunnel

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Direction is the kind of a forward.
type Direction string

// The three kinds of forward, named as in the contract.
const (
	// Local listens here and connects to the target from the SSH server (ssh -L).
	Local Direction = "local"
	// Remote listens on the SSH server and connects to the target from here (ssh -R).
	Remote Direction = "remote"
	// Dynamic listens here as a SOCKS5 proxy whose connections are made from
	// the SSH server (ssh -D).
	Dynamic Direction = "dynamic"
)

// DefaultBindHost is the listen host used when a spec names none.
const DefaultBindHost = "127.0.0.1"

// Spec describes a forward.
//
// For a local or dynamic forward the listen address is on this machine and
// the target is reached from the SSH server; for a remote forward the listen
// address is on the SSH server and the target is reached from this machine.
// Hosts are bare (no brackets around IPv6 addresses). An empty ListenHost
// means [DefaultBindHost]. ListenPort 0 asks for any free port.
type Spec struct {
	// Direction is local, remote or dynamic.
	Direction Direction
	// ListenHost is the bind address; "0.0.0.0" listens on every interface.
	ListenHost string
	// ListenPort is the port to listen on, 0 to have one picked.
	ListenPort int
	// TargetHost is where connections go; empty for dynamic forwards.
	TargetHost string
	// TargetPort is the target's port; 0 for dynamic forwards.
	TargetPort int
}

// Accepted forms, quoted in ParseSpec errors.
const (
	formLR = "[bind_address:]port:host:hostport"
	formD  = "[bind_address:]port"
)

// ParseSpec parses an ssh-style forward spec. flag is "L", "R" or "D" (a
// leading "-" and the direction names "local", "remote", "dynamic" are
// accepted too); value is
//
//	L, R: [bind_address:]port:host:hostport
//	D:    [bind_address:]port
//
// IPv6 addresses go in brackets ("[::1]:8080:[::1]:80"). The bind address
// defaults to 127.0.0.1; an empty one or "*" means every interface
// ("0.0.0.0"). The listen port may be 0 (a free port is picked; for R the
// server picks). For R the listen side is on the server and the target is
// reached from this machine. Errors wrap [ErrInvalidSpec] and show the
// accepted forms.
func ParseSpec(flag, value string) (Spec, error) {
	var dir Direction
	switch strings.TrimPrefix(flag, "-") {
	case "L", string(Local):
		dir = Local
	case "R", string(Remote):
		dir = Remote
	case "D", string(Dynamic):
		dir = Dynamic
	default:
		return Spec{}, fmt.Errorf("%w: unknown forward flag %q: want L (local), R (remote) or D (dynamic)", ErrInvalidSpec, flag)
	}
	form := formLR
	if dir == Dynamic {
		form = formD
	}
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("%w: -%s %q: %s; accepted forms: %s (IPv6 in brackets, e.g. %s)",
			ErrInvalidSpec, dirFlag(dir), value, why, form, example(dir))
	}

	fields, err := splitSpec(value)
	if err != nil {
		return bad(err.Error())
	}
	s := Spec{Direction: dir, ListenHost: DefaultBindHost}
	var portIdx int
	switch {
	case dir == Dynamic && len(fields) == 1, dir != Dynamic && len(fields) == 3:
		portIdx = 0
	case dir == Dynamic && len(fields) == 2, dir != Dynamic && len(fields) == 4:
		portIdx = 1
		b := fields[0]
		switch {
		case b.text == "" && !b.bracketed, b.text == "*":
			s.ListenHost = "0.0.0.0"
		default:
			if err := checkHost(b); err != nil {
				return bad("bind address: " + err.Error())
			}
			s.ListenHost = b.text
		}
	default:
		return bad(fmt.Sprintf("%d fields", len(fields)))
	}
	if s.ListenPort, err = parsePort(fields[portIdx], true); err != nil {
		return bad("listen port: " + err.Error())
	}
	if dir == Dynamic {
		return s, nil
	}
	h := fields[portIdx+1]
	if h.text == "" {
		return bad("target host is empty")
	}
	if err := checkHost(h); err != nil {
		return bad("target host: " + err.Error())
	}
	s.TargetHost = h.text
	if s.TargetPort, err = parsePort(fields[portIdx+2], false); err != nil {
		return bad("target port: " + err.Error())
	}
	return s, nil
}

func dirFlag(d Direction) string {
	switch d {
	case Remote:
		return "R"
	case Dynamic:
		return "D"
	default:
		return "L"
	}
}

func example(d Direction) string {
	switch d {
	case Dynamic:
		return "1080 or [::1]:1080"
	case Remote:
		return "8080:localhost:80 or [::1]:8080:[::1]:80"
	default:
		return "15432:localhost:5432 or [::1]:8080:[::1]:80"
	}
}

// field is one colon-separated part of a spec.
type field struct {
	text      string
	bracketed bool
}

// splitSpec splits s on colons, keeping "[...]" parts whole.
func splitSpec(s string) ([]field, error) {
	var out []field
	for {
		var f field
		if strings.HasPrefix(s, "[") {
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("missing ']'")
			}
			f = field{text: s[1:end], bracketed: true}
			s = s[end+1:]
			if s != "" && s[0] != ':' {
				return nil, fmt.Errorf("want ':' after ']'")
			}
		} else {
			end := strings.IndexByte(s, ':')
			if end < 0 {
				end = len(s)
			}
			f = field{text: s[:end]}
			s = s[end:]
		}
		if strings.ContainsAny(f.text, "[]") {
			return nil, fmt.Errorf("unexpected bracket")
		}
		out = append(out, f)
		if len(out) > 4 {
			return nil, fmt.Errorf("too many fields (IPv6 addresses need brackets)")
		}
		if s == "" {
			return out, nil
		}
		s = s[1:] // skip ':'
	}
}

// checkHost accepts host names and IP addresses; IPv6 only in brackets.
func checkHost(f field) error {
	h := f.text
	if h == "" {
		return fmt.Errorf("empty host")
	}
	if len(h) > 255 {
		return fmt.Errorf("host too long")
	}
	if f.bracketed {
		if a, err := netip.ParseAddr(h); err == nil && a.Is6() {
			return nil
		}
		if strings.Contains(h, ":") {
			return fmt.Errorf("%q is not an IPv6 address", h)
		}
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return fmt.Errorf("bad character %q in host %q", c, h)
		}
	}
	return nil
}

func parsePort(f field, zeroOK bool) (int, error) {
	if f.bracketed || f.text == "" {
		return 0, fmt.Errorf("want a number")
	}
	for i := 0; i < len(f.text); i++ {
		if f.text[i] < '0' || f.text[i] > '9' {
			return 0, fmt.Errorf("%q is not a number", f.text)
		}
	}
	p, err := strconv.Atoi(f.text)
	if err != nil || p > 65535 {
		return 0, fmt.Errorf("%q is out of range 0-65535", f.text)
	}
	if p == 0 && !zeroOK {
		return 0, fmt.Errorf("port 0 is not allowed here")
	}
	return p, nil
}

// Listen returns the listen address, "host:port" ("127.0.0.1:15432",
// "[::1]:8080"); an empty ListenHost is [DefaultBindHost].
func (s Spec) Listen() string {
	h := s.ListenHost
	if h == "" {
		h = DefaultBindHost
	}
	return net.JoinHostPort(h, strconv.Itoa(s.ListenPort))
}

// Target returns the target address, "host:port" ("localhost:5432"), or
// "socks5" for a dynamic forward.
func (s Spec) Target() string {
	if s.Direction == Dynamic {
		return "socks5"
	}
	return net.JoinHostPort(s.TargetHost, strconv.Itoa(s.TargetPort))
}

// String returns the spec in ssh's form, "-L 127.0.0.1:15432:localhost:5432",
// which ParseSpec reads back.
func (s Spec) String() string {
	l := s.Listen()
	if s.Direction == Dynamic {
		return "-D " + l
	}
	return "-" + dirFlag(s.Direction) + " " + l + ":" + s.Target()
}

// validate checks a Spec built by hand (not by ParseSpec) before Open.
func (s Spec) validate() error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, s.String(), why)
	}
	switch s.Direction {
	case Local, Remote, Dynamic:
	default:
		return fmt.Errorf("%w: unknown direction %q: want local, remote or dynamic", ErrInvalidSpec, s.Direction)
	}
	if s.ListenHost != "" {
		if err := checkHost(field{text: s.ListenHost, bracketed: strings.Contains(s.ListenHost, ":")}); err != nil {
			return bad("listen host: " + err.Error())
		}
	}
	if s.ListenPort < 0 || s.ListenPort > 65535 {
		return bad("listen port out of range 0-65535")
	}
	if s.Direction == Dynamic {
		return nil
	}
	if err := checkHost(field{text: s.TargetHost, bracketed: strings.Contains(s.TargetHost, ":")}); err != nil {
		return bad("target host: " + err.Error())
	}
	if s.TargetPort < 1 || s.TargetPort > 65535 {
		return bad("target port out of range 1-65535")
	}
	return nil
}
