package textsafe

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNeutralize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain kept", "hello world", "hello world"},
		{"newline and tab kept", "a\tb\nc", "a\tb\nc"},
		{"escape", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"carriage return", "a\r\nb", `a\x0d` + "\nb"},
		{"nul and bel", "\x00\x07", `\x00\x07`},
		{"del", "a\x7fb", `a\x7fb`},
		{"c1 csi", "a\u009b31m", `a\x9b31m`},
		{"c1 nel", "\u0085", `\x85`},
		{"latin-1 above c1 kept", "\u00a0é", "\u00a0é"},
		{"rlo", "abc\u202edcba", `abc\u202edcba`},
		{"bidi isolates", "\u2066x\u2069", `\u2066x\u2069`},
		{"lrm rlm alm", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"zwj kept", "a\u200db", "a\u200db"},
		{"tag characters", "hi\U000E0041\U000E007F", `hi\U000e0041\U000e007f`},
		{"emoji kept", "ok 🎉 世界", "ok 🎉 世界"},
		{"backslash kept", `C:\x1b`, `C:\x1b`},
		{"invalid byte escaped", "a\xffb", `a\xffb`},
		{"replacement char kept", "\uFFFD", "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Neutralize(tt.in); got != tt.want {
				t.Errorf("Neutralize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNeutralizeNoCopyWhenClean(t *testing.T) {
	s := strings.Repeat("clean text\n", 100)
	allocs := testing.AllocsPerRun(10, func() { _ = Neutralize(s) })
	if allocs != 0 {
		t.Errorf("Neutralize on clean text allocated %v times, want 0", allocs)
	}
}

// forbidden reports whether r must never appear raw in Neutralize output.
func forbidden(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\n' && r != '\t'
	case r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r >= 0xe0000 && r <= 0xe007f:
		return true
	}
	return false
}

func FuzzNeutralize(f *testing.F) {
	for _, s := range []string{
		"", "plain", "\x1b]0;title\x07", "a\r\nb", "\u202eevil", "\U000E0041tag",
		"\xff\xfe", "\u009b2J", "back\\slash", "\t\n", "\u2066\u2069\u200e",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Neutralize(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Neutralize(%q) = %q: not valid UTF-8", s, got)
		}
		for _, r := range got {
			if forbidden(r) {
				t.Fatalf("Neutralize(%q) = %q: contains raw %U", s, got, r)
			}
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, forbidden) && got != s {
			t.Fatalf("Neutralize(%q) = %q: changed harmless text", s, got)
		}
	})
}
