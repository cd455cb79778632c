// Package cmd holds the Cobra commands of mcp-remote-ssh. Commands are thin:
// they parse flags into an options struct, call one operation of
// session.Operations (through the holder's socket), and render the result.
// Main is the one place that maps errors to exit codes.
package cmd
