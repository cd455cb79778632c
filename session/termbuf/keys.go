package termbuf

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownKey is returned, wrapped with the key and the valid names, by
// [ControlKey] for a name it does not know.
var ErrUnknownKey = errors.New("unknown control key")

// ControlKeys returns the canonical key names [ControlKey] accepts, in a
// stable order, for help and error messages. ControlKey also accepts any
// control character written as "ctrl+x", "ctrl-x", "^x" or "C-x" for x in
// a–z, \, [, ], ^ and _, and the aliases "escape", "return", "pageup" and
// "pagedown".
func ControlKeys() []string {
	keys := []string{"c", "d", "z", `\`, "l", "[", "esc", "tab", "enter",
		"up", "down", "left", "right", "home", "end", "pgup", "pgdn"}
	for i := 1; i <= 12; i++ {
		keys = append(keys, fmt.Sprintf("f%d", i))
	}
	return keys
}

// ControlKey returns the bytes a terminal sends for the named key: "c" (or
// "ctrl+c", "ctrl-c", "^c", "C-c") is 0x03, "d" 0x04, "z" 0x1a, "\" 0x1c, "l"
// 0x0c, "[" and "esc" 0x1b, "tab" "\t", "enter" "\r", the arrows, "home" and
// "end" ESC [ A…D, H, F, "pgup" and "pgdn" ESC [ 5 ~ and ESC [ 6 ~, "f1"–"f4"
// ESC O P…S and "f5"–"f12" ESC [ 15 ~ … ESC [ 24 ~. Names are matched without
// regard to case or surrounding spaces. An unknown name gives an error that
// wraps [ErrUnknownKey] and lists the valid names.
func ControlKey(name string) ([]byte, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if seq, ok := namedKey(key); ok {
		return []byte(seq), nil
	}
	char := key
	for _, prefix := range []string{"ctrl+", "ctrl-", "^", "c-"} {
		if rest, ok := strings.CutPrefix(key, prefix); ok && len(rest) == 1 {
			char = rest
			break
		}
	}
	if len(char) == 1 {
		if c := char[0]; (c >= 'a' && c <= 'z') || strings.IndexByte(`\[]^_`, c) >= 0 {
			return []byte{(c - 0x40) & 0x1f}, nil
		}
	}
	return nil, fmt.Errorf("%w %q: valid keys are %s; also ctrl+x, ctrl-x, ^x or C-x for x in a-z, \\, [, ], ^, _",
		ErrUnknownKey, name, strings.Join(ControlKeys(), ", "))
}

// namedKey maps the multi-letter key names (lowercase) to their sequences.
func namedKey(key string) (string, bool) {
	switch key {
	case "esc", "escape":
		return "\x1b", true
	case "tab":
		return "\t", true
	case "enter", "return":
		return "\r", true
	case "up":
		return "\x1b[A", true
	case "down":
		return "\x1b[B", true
	case "right":
		return "\x1b[C", true
	case "left":
		return "\x1b[D", true
	case "home":
		return "\x1b[H", true
	case "end":
		return "\x1b[F", true
	case "pgup", "pageup":
		return "\x1b[5~", true
	case "pgdn", "pagedown":
		return "\x1b[6~", true
	case "f1":
		return "\x1bOP", true
	case "f2":
		return "\x1bOQ", true
	case "f3":
		return "\x1bOR", true
	case "f4":
		return "\x1bOS", true
	case "f5":
		return "\x1b[15~", true
	case "f6":
		return "\x1b[17~", true
	case "f7":
		return "\x1b[18~", true
	case "f8":
		return "\x1b[19~", true
	case "f9":
		return "\x1b[20~", true
	case "f10":
		return "\x1b[21~", true
	case "f11":
		return "\x1b[23~", true
	case "f12":
		return "\x1b[24~", true
	}
	return "", false
}
