// Package textsafe makes bytes received from a remote host safe to hand to an
// MCP client or to print as JSON text.
//
// It covers the "Text, binary and neutralisation" rules of the contract:
// [ValidUTF8] turns arbitrary bytes into valid UTF-8 and reports whether
// anything was replaced ([Encoding] names the result), [Neutralize] escapes
// characters that could drive a terminal or hide text, and [Cap] and
// [HeadTail] bound the size of an output while keeping its head and its tail.
package textsafe
