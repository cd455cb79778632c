package session

import "log/slog"

// Secret is a password, passphrase or sudo password. It marshals to JSON as
// its value (it has to travel from the caller to the holder) but redacts
// itself when printed or logged. Results never carry one.
type Secret string

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret for slog and charmbracelet/log.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }
