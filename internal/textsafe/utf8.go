package textsafe

import (
	"unicode/utf8"
)

// Encoding names used in results that carry remote text.
const (
	// EncodingUTF8 means the text is exactly the remote bytes.
	EncodingUTF8 = "utf-8"
	// EncodingUTF8Lossy means invalid bytes were replaced by U+FFFD.
	EncodingUTF8Lossy = "utf-8-lossy"
)

// ValidUTF8 returns b as a valid UTF-8 string. Each byte that is not part of
// a valid UTF-8 encoding becomes U+FFFD; lossy reports whether any byte was
// replaced.
func ValidUTF8(b []byte) (s string, lossy bool) {
	if utf8.Valid(b) {
		return string(b), false
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
			i++
			continue
		}
		out = append(out, b[i:i+size]...)
		i += size
	}
	return string(out), true
}

// Encoding returns [EncodingUTF8Lossy] when lossy is true and [EncodingUTF8]
// otherwise, for the encoding field of a result.
func Encoding(lossy bool) string {
	if lossy {
		return EncodingUTF8Lossy
	}
	return EncodingUTF8
}
