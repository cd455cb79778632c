// Package termbuf holds the output of a persistent PTY shell and turns it into
// text an agent can read.
//
// A [Buffer] keeps the last bytes a shell printed, addressed by absolute
// offsets, and lets callers read from a cursor or [Buffer.Wait] for a pattern,
// for silence or for the shell to exit. [Clean] strips terminal escape
// sequences and applies carriage returns and backspaces. [ControlKey] maps key
// names such as "c", "ctrl+d" or "up" to the bytes a terminal sends.
package termbuf
