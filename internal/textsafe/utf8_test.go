package textsafe

import (
	"testing"
	"unicode/utf8"
)

func TestValidUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    []byte
		want  string
		lossy bool
	}{
		{"empty", nil, "", false},
		{"ascii", []byte("hello\n"), "hello\n", false},
		{"multibyte", []byte("héllo → 世界 🎉"), "héllo → 世界 🎉", false},
		{"lone continuation", []byte("a\x80b"), "a\uFFFDb", true},
		{"each invalid byte", []byte("\xff\xfe"), "\uFFFD\uFFFD", true},
		{"truncated rune at end", []byte("ok\xe2\x82"), "ok\uFFFD\uFFFD", true},
		{"surrogate half", []byte("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD", true},
		{"overlong", []byte("\xc0\xaf"), "\uFFFD\uFFFD", true},
		{"real U+FFFD is not lossy", []byte("\uFFFD"), "\uFFFD", false},
		{"nul kept", []byte("a\x00b"), "a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, lossy := ValidUTF8(tt.in)
			if got != tt.want || lossy != tt.lossy {
				t.Errorf("ValidUTF8(%q) = %q, %v; want %q, %v", tt.in, got, lossy, tt.want, tt.lossy)
			}
		})
	}
}

func TestEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lossy bool
		want  string
	}{
		{false, "utf-8"},
		{true, "utf-8-lossy"},
	}
	for _, tt := range tests {
		if got := Encoding(tt.lossy); got != tt.want {
			t.Errorf("Encoding(%v) = %q, want %q", tt.lossy, got, tt.want)
		}
	}
}

func FuzzValidUTF8(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x80b", "\xff", "世界", "\xe2\x82"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, lossy := ValidUTF8(b)
		if !utf8.ValidString(s) {
			t.Fatalf("ValidUTF8(%q) = %q: not valid UTF-8", b, s)
		}
		if lossy == utf8.Valid(b) {
			t.Fatalf("ValidUTF8(%q): lossy = %v for valid = %v", b, lossy, utf8.Valid(b))
		}
		if !lossy && s != string(b) {
			t.Fatalf("ValidUTF8(%q) changed valid input to %q", b, s)
		}
	})
}
