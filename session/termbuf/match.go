package termbuf

import (
	"bytes"
	"regexp"
)

// Matcher reports whether text contains what a waiter is looking for and, if
// so, the index in text just past the first match. text is Clean's output
// unless the wait is raw. A Matcher must not keep or modify text.
type Matcher func(text []byte) (end int, ok bool)

// Literal returns a Matcher for the first occurrence of s, byte for byte. An
// empty s matches at once.
func Literal(s string) Matcher {
	lit := []byte(s)
	return func(text []byte) (int, bool) {
		i := bytes.Index(text, lit)
		if i < 0 {
			return 0, false
		}
		return i + len(lit), true
	}
}

// Regexp returns a Matcher for the leftmost match of re. Use (?m) in the
// expression for ^ and $ to match at line boundaries.
func Regexp(re *regexp.Regexp) Matcher {
	return func(text []byte) (int, bool) {
		loc := re.FindIndex(text)
		if loc == nil {
			return 0, false
		}
		return loc[1], true
	}
}
