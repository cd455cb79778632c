package termbuf

import (
	"bytes"
	"fmt"
	"testing"
)

func TestClean(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", ""},
		{"plain", "hello\nworld\n", "hello\nworld\n"},
		{"crlf", "a\r\nb\r\n", "a\nb\n"},
		{"colours", "\x1b[1;31mred\x1b[0m and \x1b[38;2;10;20;30mtrue\x1b[m", "red and true"},
		{"cursor moves", "\x1b[2J\x1b[H\x1b[10;5Hx\x1b[3Ay\x1b[?25l\x1b[?25h", "xy"},
		{"osc title bel", "\x1b]0;user@host: ~\x07$ ", "$ "},
		{"osc title st", "\x1b]2;title\x1b\\$ ", "$ "},
		{"osc hyperlink", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"osc with utf-8", "\x1b]0;世界 ✜\x07ok", "ok"},
		{"dcs", "\x1bPq#0;2;0;0;0#1!14~\x1b\\after", "after"},
		{"apc", "\x1b_Gf=100;AAAA\x1b\\x", "x"},
		{"charset selection", "\x1b(Bbox\x1b(0lqk\x1b(B", "boxlqk"},
		{"keypad and save", "\x1b=\x1b7a\x1b8\x1b>", "a"},
		{"bracketed paste", "\x1b[?2004hecho hi\r\n\x1b[?2004l\rhi\r\n", "echo hi\nhi\n"},
		{"progress redraw", "0%\r50%\r100%\ndone\n", "100%\ndone\n"},
		{"redraw with erase", "working...\r\x1b[Kdone\n", "done\n"},
		{"erase after cr empties line", "spinner\r\x1b[K", ""},
		{"erase whole line", "abc\x1b[2Kxyz", "xyz"},
		{"erase to end at end of line", "abc\x1b[Kxyz", "abcxyz"},
		{"trailing cr keeps line", "abc\r", "abc"},
		{"cr cr lf", "abc\r\r\n", "abc\n"},
		{"lf cr", "a\n\rb", "a\nb"},
		{"redraw only on its line", "keep\nold\rnew", "keep\nnew"},
		{"backspace", "abc\b\bX", "aX"},
		{"backspace erase idiom", "ab\b \b\n", "a\n"},
		{"backspace multibyte", "世界\b!", "世!"},
		{"backspace at line start", "a\n\bb", "a\nb"},
		{"backspace after cr", "ab\r\bc", "c"},
		{"bel and c0 dropped", "a\x07b\x00c\x0ed\x0ce\x7f", "abcde"},
		{"tab kept", "a\tb", "a\tb"},
		{"c1 as utf-8 dropped", "a\u009b31mb", "a31mb"},
		{"stray high bytes kept", "a\x9b\xffb", "a\x9b\xffb"},
		{"cancel aborts sequence", "\x1b[31\x18x", "x"},
		{"control inside csi runs", "\x1b[3\n1mx", "\nx"},
		{"unterminated csi at end", "text\x1b[3", "text"},
		{"high byte aborts csi", "\x1b[3é", "é"},
		{"esc esc", "\x1b\x1b[31mx", "x"},
		{"zsh prompt_sp", "%                    \r \r$ ", "$ "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Clean([]byte(tt.in)); string(got) != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanSourceOffsets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []int
	}{
		{"plain", "ab\n", []int{1, 2, 3}},
		{"escape skipped", "\x1b[1ma\x1b[0mb", []int{5, 10}},
		{"multibyte", "é!", []int{2, 2, 3}},
		{"crlf", "a\r\nb", []int{1, 3, 4}},
		{"redraw", "xx\ryz", []int{4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c cleaner
			c.run([]byte(tt.in), true)
			if len(c.src) != len(c.out) {
				t.Fatalf("len(src) = %d, len(out) = %d", len(c.src), len(c.out))
			}
			for i := range tt.want {
				if i >= len(c.src) || c.src[i] != tt.want[i] {
					t.Fatalf("src = %v, want %v", c.src, tt.want)
				}
			}
		})
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"", "plain\n", "\x1b[31mred\x1b[0m", "\x1b]0;t\x07x", "a\rb\r\n", "ab\b\bc",
		"\x1bP\x1b\x1b]x\x1b\\", "\x9b\x9d\x90", "\xe2\x82", "100%\r\x1b[K", "\x1b(0q",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := Clean(raw)
		for _, c := range got {
			if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				t.Fatalf("Clean(%q) = %q: contains control %#x", raw, got, c)
			}
		}
		if len(got) > len(raw) {
			t.Fatalf("Clean(%q) = %q: longer than the input", raw, got)
		}
		var c cleaner
		c.run(raw, true)
		if !bytes.Equal(c.out, got) {
			t.Fatalf("tracking changed the output: %q vs %q", c.out, got)
		}
		if len(c.src) != len(c.out) {
			t.Fatalf("len(src) = %d, len(out) = %d", len(c.src), len(c.out))
		}
		for i, s := range c.src {
			if s < 1 || s > len(raw) || (i > 0 && s < c.src[i-1]) {
				t.Fatalf("Clean(%q): src %v not increasing within the input", raw, c.src)
			}
		}
	})
}

func BenchmarkClean(b *testing.B) {
	line := []byte("\x1b[1;32muser@host\x1b[0m:\x1b[34m~/src\x1b[0m$ ls -la 世界\r\n-rw-r--r-- 1 u g 123 file.go\r\n50%\r100%\r\n")
	for _, size := range []int{4 << 10, 512 << 10} {
		raw := bytes.Repeat(line, size/len(line)+1)[:size]
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var c cleaner
			for b.Loop() {
				c.run(raw, true)
			}
		})
	}
}
