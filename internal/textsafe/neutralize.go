package textsafe

import (
	"strings"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Neutralize escapes the characters of s that could drive a terminal or hide
// text when an MCP client shows it: ESC and the other C0 controls except "\n"
// and "\t" (so "\r" too), DEL, the C1 controls U+0080–U+009F, the bidi
// controls U+061C, U+200E, U+200F, U+202A–U+202E and U+2066–U+2069, and the
// tag characters U+E0000–U+E007F.
//
// C0, DEL and C1 are written as \xHH (ESC becomes `\x1b`), the others as
// \uHHHH or \UHHHHHHHH (U+202E becomes `\u202e`), in lowercase hex. Bytes of s
// that are not valid UTF-8 are written as \xHH too, so the result is always
// valid UTF-8. A backslash already in s is kept as it is. When nothing needs
// escaping, s is returned unchanged.
func Neutralize(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 16)
	sb.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeHex(&sb, `\x`, uint32(s[i]), 2)
		case !needsEscape(r, size):
			sb.WriteString(s[i : i+size])
		case r <= 0x9f:
			writeHex(&sb, `\x`, uint32(r), 2)
		case r <= 0xffff:
			writeHex(&sb, `\u`, uint32(r), 4)
		default:
			writeHex(&sb, `\U`, uint32(r), 8)
		}
		i += size
	}
	return sb.String()
}

// needsEscape reports whether the rune r, decoded with the given size, must
// be escaped by Neutralize.
func needsEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError:
		return size == 1
	case r < 0x20:
		return r != '\n' && r != '\t'
	case r < 0x7f:
		return false
	case r <= 0x9f: // DEL and C1
		return true
	}
	return isBidi(r) || isTag(r)
}

// isBidi reports whether r is a bidirectional formatting control.
func isBidi(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// isTag reports whether r is in the Unicode tags block.
func isTag(r rune) bool {
	return r >= 0xe0000 && r <= 0xe007f
}

func writeHex(sb *strings.Builder, prefix string, v uint32, digits int) {
	sb.WriteString(prefix)
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		sb.WriteByte(hexDigits[(v>>uint(shift))&0xf])
	}
}
