package tunnel

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		flag  string
		value string
		want  Spec
	}{
		{"L short", "L", "15432:localhost:5432", Spec{Local, "127.0.0.1", 15432, "localhost", 5432}},
		{"L bind", "L", "0.0.0.0:8080:db.internal:80", Spec{Local, "0.0.0.0", 8080, "db.internal", 80}},
		{"L dash flag", "-L", "8080:10.0.0.5:80", Spec{Local, "127.0.0.1", 8080, "10.0.0.5", 80}},
		{"L direction name", "local", "8080:h:80", Spec{Local, "127.0.0.1", 8080, "h", 80}},
		{"L ipv6 both", "L", "[::1]:8080:[::1]:80", Spec{Local, "::1", 8080, "::1", 80}},
		{"L ipv6 target", "L", "8080:[2001:db8::1]:443", Spec{Local, "127.0.0.1", 8080, "2001:db8::1", 443}},
		{"L port 0", "L", "0:localhost:22", Spec{Local, "127.0.0.1", 0, "localhost", 22}},
		{"L star bind", "L", "*:8080:h:80", Spec{Local, "0.0.0.0", 8080, "h", 80}},
		{"L empty bind", "L", ":8080:h:80", Spec{Local, "0.0.0.0", 8080, "h", 80}},
		{"L localhost bind", "L", "localhost:8080:h:80", Spec{Local, "localhost", 8080, "h", 80}},
		{"L bracketed name", "L", "8080:[localhost]:80", Spec{Local, "127.0.0.1", 8080, "localhost", 80}},
		{"L max ports", "L", "65535:h:65535", Spec{Local, "127.0.0.1", 65535, "h", 65535}},
		{"R", "R", "8080:localhost:3000", Spec{Remote, "127.0.0.1", 8080, "localhost", 3000}},
		{"R port 0", "R", "0:localhost:3000", Spec{Remote, "127.0.0.1", 0, "localhost", 3000}},
		{"R ipv6", "R", "[::1]:0:[::1]:3000", Spec{Remote, "::1", 0, "::1", 3000}},
		{"D", "D", "1080", Spec{Dynamic, "127.0.0.1", 1080, "", 0}},
		{"D bind", "D", "[::1]:1080", Spec{Dynamic, "::1", 1080, "", 0}},
		{"D zero", "D", "0", Spec{Dynamic, "127.0.0.1", 0, "", 0}},
		{"D star", "dynamic", "*:1080", Spec{Dynamic, "0.0.0.0", 1080, "", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSpec(tt.flag, tt.value)
			if err != nil {
				t.Fatalf("ParseSpec(%q, %q): %v", tt.flag, tt.value, err)
			}
			if got != tt.want {
				t.Fatalf("ParseSpec(%q, %q) = %+v, want %+v", tt.flag, tt.value, got, tt.want)
			}
			// String round-trips.
			flag, value, _ := strings.Cut(strings.TrimPrefix(got.String(), "-"), " ")
			again, err := ParseSpec(flag, value)
			if err != nil || again != got {
				t.Fatalf("round trip of %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		flag    string
		value   string
		wantMsg string // a substring of the error besides the accepted form
	}{
		{"unknown flag", "X", "1:h:2", "want L (local), R (remote) or D (dynamic)"},
		{"empty", "L", "", "fields"},
		{"L too few", "L", "8080:localhost", "2 fields"},
		{"L too many", "L", "1:2:3:4:5", "too many fields"},
		{"L bare ipv6", "L", "::1:8080:h:80", "fields"},
		{"L port text", "L", "abc:h:80", "listen port"},
		{"L port negative", "L", "-1:h:80", "listen port"},
		{"L port big", "L", "65536:h:80", "out of range"},
		{"L target port 0", "L", "8080:h:0", "port 0 is not allowed"},
		{"L target port empty", "L", "8080:h:", "target port"},
		{"L empty target", "L", "8080::80", "target host is empty"},
		{"L bad target char", "L", "8080:h o:80", "bad character"},
		{"L bad bind char", "L", "a/b:8080:h:80", "bind address"},
		{"L unclosed bracket", "L", "[::1:8080:h:80", "missing ']'"},
		{"L junk after bracket", "L", "[::1]x:8080:h:80", "after ']'"},
		{"L bracket not ipv6", "L", "8080:[1:2:zz]:80", "not an IPv6 address"},
		{"L bracketed port", "L", "[8080]:h:80", "listen port"},
		{"R dynamic form", "R", "8080", "1 fields"},
		{"D with target", "D", "1080:h:80", "3 fields"},
		{"D empty", "D", "", "listen port"},
		{"D port plus", "D", "+1080", "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSpec(tt.flag, tt.value)
			if err == nil {
				t.Fatalf("ParseSpec(%q, %q) = %+v, want an error", tt.flag, tt.value, s)
			}
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("error %v does not wrap ErrInvalidSpec", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q does not mention %q", msg, tt.wantMsg)
			}
			if tt.flag == "X" {
				return
			}
			form := formLR
			if tt.flag == "D" {
				form = formD
			}
			if !strings.Contains(msg, "accepted forms: "+form) || !strings.Contains(msg, "IPv6 in brackets") {
				t.Errorf("error %q does not list the accepted form %q", msg, form)
			}
		})
	}
}

func TestSpecAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec         Spec
		listen, targ string
		str          string
	}{
		{Spec{Local, "", 15432, "localhost", 5432}, "127.0.0.1:15432", "localhost:5432", "-L 127.0.0.1:15432:localhost:5432"},
		{Spec{Remote, "::1", 80, "::1", 8080}, "[::1]:80", "[::1]:8080", "-R [::1]:80:[::1]:8080"},
		{Spec{Dynamic, "127.0.0.1", 1080, "", 0}, "127.0.0.1:1080", "socks5", "-D 127.0.0.1:1080"},
	}
	for _, tt := range tests {
		if got := tt.spec.Listen(); got != tt.listen {
			t.Errorf("%+v.Listen() = %q, want %q", tt.spec, got, tt.listen)
		}
		if got := tt.spec.Target(); got != tt.targ {
			t.Errorf("%+v.Target() = %q, want %q", tt.spec, got, tt.targ)
		}
		if got := tt.spec.String(); got != tt.str {
			t.Errorf("%+v.String() = %q, want %q", tt.spec, got, tt.str)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	bad := []Spec{
		{Direction: "sideways", ListenPort: 1, TargetHost: "h", TargetPort: 1},
		{Direction: Local, ListenPort: -1, TargetHost: "h", TargetPort: 1},
		{Direction: Local, ListenPort: 70000, TargetHost: "h", TargetPort: 1},
		{Direction: Local, ListenPort: 1, TargetHost: "", TargetPort: 1},
		{Direction: Local, ListenPort: 1, TargetHost: "h", TargetPort: 0},
		{Direction: Remote, ListenHost: "a b", ListenPort: 1, TargetHost: "h", TargetPort: 1},
		{Direction: Remote, ListenPort: 1, TargetHost: "1:2:zz", TargetPort: 1},
	}
	for _, s := range bad {
		if err := s.validate(); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("%+v.validate() = %v, want ErrInvalidSpec", s, err)
		}
	}
	good := []Spec{
		{Direction: Local, TargetHost: "h", TargetPort: 1},
		{Direction: Remote, ListenHost: "::1", TargetHost: "fe80::1", TargetPort: 1},
		{Direction: Dynamic},
	}
	for _, s := range good {
		if err := s.validate(); err != nil {
			t.Errorf("%+v.validate() = %v", s, err)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []struct{ flag, value string }{
		{"L", "15432:localhost:5432"}, {"L", "[::1]:8080:[::1]:80"}, {"R", "0:localhost:3000"},
		{"D", "1080"}, {"D", "[::1]:0"}, {"L", "*:1:h:2"}, {"L", "[::1:8080"}, {"R", "::::"},
		{"L", ":8080:h:80"}, {"D", "[fe80::1%eth0]:1080"},
	} {
		f.Add(s.flag, s.value)
	}
	f.Fuzz(func(t *testing.T, flag, value string) {
		s, err := ParseSpec(flag, value)
		if err != nil {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("error %v does not wrap ErrInvalidSpec", err)
			}
			return
		}
		if err := s.validate(); err != nil {
			t.Fatalf("ParseSpec(%q, %q) = %+v, which does not validate: %v", flag, value, s, err)
		}
		fl, v, _ := strings.Cut(strings.TrimPrefix(s.String(), "-"), " ")
		again, err := ParseSpec(fl, v)
		if err != nil || again != s {
			t.Fatalf("round trip of %+v via %q: %+v, %v", s, s.String(), again, err)
		}
	})
}
