package textsafe

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

var _ io.Writer = (*HeadTail)(nil)

func TestCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		limit     int
		want      string
		truncated bool
	}{
		{"no cap", "abcdef", 0, "abcdef", false},
		{"negative is no cap", "abcdef", -1, "abcdef", false},
		{"fits", "abcdef", 6, "abcdef", false},
		{"empty", "", 4, "", false},
		{"even", "abcdefghij", 4, "ab\n…[6 bytes omitted]…\nij", true},
		{"odd keeps extra in tail", "abcdefghij", 5, "ab\n…[5 bytes omitted]…\nhij", true},
		{"one byte", "abc", 1, "\n…[2 bytes omitted]…\nc", true},
		// "é" is 2 bytes: the head would end inside it and drops it.
		{"head cut on rune boundary", "aé" + strings.Repeat("x", 10), 4, "a\n…[10 bytes omitted]…\nxx", true},
		// "世" is 3 bytes: the tail would start inside it and skips its rest.
		{"tail cut on rune boundary", strings.Repeat("x", 10) + "世b", 6, "xxx\n…[10 bytes omitted]…\nb", true},
		{"whole runes kept", "世界世界世界", 6, "世\n…[12 bytes omitted]…\n界", true},
		{"invalid bytes kept as they are", "\xff\xff\xff\xff\xff\xff", 4, "\xff\xff\n…[2 bytes omitted]…\n\xff\xff", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, truncated := Cap([]byte(tt.in), tt.limit)
			if string(got) != tt.want || truncated != tt.truncated {
				t.Errorf("Cap(%q, %d) = %q, %v; want %q, %v", tt.in, tt.limit, got, truncated, tt.want, tt.truncated)
			}
		})
	}
}

func TestCapKeepsValidUTF8(t *testing.T) {
	t.Parallel()
	in := []byte(strings.Repeat("héllo wörld 世界 🎉 ", 50))
	for limit := 1; limit < 80; limit++ {
		got, truncated := Cap(in, limit)
		if !truncated {
			t.Fatalf("Cap(_, %d) did not truncate", limit)
		}
		if !utf8.Valid(got) {
			t.Errorf("Cap(_, %d) = %q: not valid UTF-8", limit, got)
		}
	}
}

func TestHeadTail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int
		writes    []string
		want      string
		total     int64
		truncated bool
	}{
		{"nothing written", 10, nil, "", 0, false},
		{"fits", 10, []string{"abc", "def"}, "abcdef", 6, false},
		{"exactly limit", 6, []string{"abc", "def"}, "abcdef", 6, false},
		{"no cap", 0, []string{"abc", "def"}, "abcdef", 6, false},
		{"one big write", 4, []string{"abcdefghij"}, "ab\n…[6 bytes omitted]…\nij", 10, true},
		{"many small writes", 4, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, "ab\n…[6 bytes omitted]…\nij", 10, true},
		{"wrapping ring", 6, []string{"abcd", "efgh", "ijkl", "mn"}, "abc\n…[8 bytes omitted]…\nlmn", 14, true},
		{"rune boundaries", 6, []string{"x世", "xxxxxxxx", "世b"}, "x\n…[14 bytes omitted]…\nb", 16, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := NewHeadTail(tt.limit)
			for _, w := range tt.writes {
				n, err := h.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := string(h.Bytes()); got != tt.want {
				t.Errorf("Bytes() = %q, want %q", got, tt.want)
			}
			if h.Total() != tt.total {
				t.Errorf("Total() = %d, want %d", h.Total(), tt.total)
			}
			if h.Truncated() != tt.truncated {
				t.Errorf("Truncated() = %v, want %v", h.Truncated(), tt.truncated)
			}
		})
	}
}

func TestHeadTailBoundedMemory(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	h := NewHeadTail(limit)
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096/16+1) // 4112 bytes: not a divisor of limit
	var want int64
	for range 5000 { // about 20 MiB
		h.Write(chunk)
		want += int64(len(chunk))
	}
	if cap(h.head) > limit || cap(h.ring) > 2*limit {
		t.Errorf("head cap %d, ring cap %d: want at most %d and %d", cap(h.head), cap(h.ring), limit, 2*limit)
	}
	if h.Total() != want {
		t.Errorf("Total() = %d, want %d", h.Total(), want)
	}
	got := h.Bytes()
	if len(got) > limit+64 {
		t.Errorf("len(Bytes()) = %d, want about %d", len(got), limit)
	}
}

func FuzzHeadTailMatchesCap(f *testing.F) {
	f.Add([]byte("hello, world"), 5, []byte{1, 2, 3})
	f.Add([]byte("世界世界世界 and more"), 7, []byte{0, 5})
	f.Add([]byte("short"), 100, []byte{})
	f.Add([]byte("\xff\xe2\x82abc\xf0\x9f\x8e\x89xyz"), 4, []byte{2, 2, 2})
	f.Add([]byte("abcdefghijklmnopqrstuvwxyz"), 0, []byte{9})
	f.Fuzz(func(t *testing.T, data []byte, limit int, chunks []byte) {
		limit %= 1 << 12
		h := NewHeadTail(limit)
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(chunks) > 0 {
				n = min(int(chunks[i%len(chunks)]), len(rest))
			}
			if n == 0 {
				h.Write(nil) // an empty write changes nothing
				n = 1
			}
			h.Write(rest[:n])
			rest = rest[n:]
			if len(chunks) == 0 {
				break
			}
		}
		want, truncated := Cap(data, limit)
		if got := h.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("HeadTail(%d) = %q, Cap = %q", limit, got, want)
		}
		if h.Truncated() != truncated {
			t.Fatalf("Truncated() = %v, Cap truncated = %v", h.Truncated(), truncated)
		}
		if h.Total() != int64(len(data)) {
			t.Fatalf("Total() = %d, want %d", h.Total(), len(data))
		}
		if utf8.Valid(data) && !utf8.Valid(want) {
			t.Fatalf("Cap(%q, %d) = %q: broke valid UTF-8", data, limit, want)
		}
	})
}
