package termbuf

import (
	"errors"
	"strings"
	"testing"
)

func TestControlKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want string
	}{
		{"c", "\x03"},
		{"d", "\x04"},
		{"z", "\x1a"},
		{`\`, "\x1c"},
		{"l", "\x0c"},
		{"[", "\x1b"},
		{"esc", "\x1b"},
		{"escape", "\x1b"},
		{"tab", "\t"},
		{"enter", "\r"},
		{"return", "\r"},
		{"up", "\x1b[A"},
		{"down", "\x1b[B"},
		{"right", "\x1b[C"},
		{"left", "\x1b[D"},
		{"home", "\x1b[H"},
		{"end", "\x1b[F"},
		{"pgup", "\x1b[5~"},
		{"pgdn", "\x1b[6~"},
		{"pageup", "\x1b[5~"},
		{"f1", "\x1bOP"},
		{"f2", "\x1bOQ"},
		{"f3", "\x1bOR"},
		{"f4", "\x1bOS"},
		{"f5", "\x1b[15~"},
		{"f6", "\x1b[17~"},
		{"f7", "\x1b[18~"},
		{"f8", "\x1b[19~"},
		{"f9", "\x1b[20~"},
		{"f10", "\x1b[21~"},
		{"f11", "\x1b[23~"},
		{"f12", "\x1b[24~"},
		{"ctrl+c", "\x03"},
		{"ctrl-c", "\x03"},
		{"^c", "\x03"},
		{"C-c", "\x03"},
		{"CTRL+C", "\x03"},
		{"^C", "\x03"},
		{"C", "\x03"},
		{" Up ", "\x1b[A"},
		{"F12", "\x1b[24~"},
		{"ctrl+a", "\x01"},
		{"ctrl+r", "\x12"},
		{"ctrl+\\", "\x1c"},
		{"ctrl+[", "\x1b"},
		{"ctrl+]", "\x1d"},
		{"^^", "\x1e"},
		{"ctrl-_", "\x1f"},
		{"]", "\x1d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ControlKey(tt.name)
			if err != nil || string(got) != tt.want {
				t.Errorf("ControlKey(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestControlKeyUnknown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "f13", "ctrl+1", "ctrl+", "^", "alt+x", "cc", "ctrl+é", "é", "shift+tab"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ControlKey(name)
			if name == "^" {
				// A lone caret is the key "^" itself (0x1e).
				if err != nil || string(got) != "\x1e" {
					t.Fatalf("ControlKey(%q) = %q, %v", name, got, err)
				}
				return
			}
			if !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("ControlKey(%q) = %q, %v; want ErrUnknownKey", name, got, err)
			}
			for _, want := range []string{"unknown control key", `"` + name + `"`, "esc, tab, enter", "f12", "ctrl+x"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestControlKeysAllValid(t *testing.T) {
	t.Parallel()
	keys := ControlKeys()
	if len(keys) != 29 {
		t.Errorf("ControlKeys() has %d names, want 29: %v", len(keys), keys)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("ControlKeys() lists %q twice", k)
		}
		seen[k] = true
		if _, err := ControlKey(k); err != nil {
			t.Errorf("ControlKey(%q) from ControlKeys(): %v", k, err)
		}
	}
	keys[0] = "changed"
	if ControlKeys()[0] != "c" {
		t.Error("ControlKeys() returned shared state")
	}
}

func FuzzControlKey(f *testing.F) {
	for _, s := range []string{"c", "ctrl+c", "^[", "C-\\", "f12", "pgdn", "", "ctrl-", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := ControlKey(name)
		if err != nil {
			if !errors.Is(err, ErrUnknownKey) || got != nil {
				t.Fatalf("ControlKey(%q) = %q, %v", name, got, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("ControlKey(%q) returned no bytes", name)
		}
	})
}
