// Package mcpserve is the MCP face of mcp-remote-ssh: one table of tool
// definitions ([tools]) and one generic adapter that turns each tool call into
// a call of the operations interface ([session.Operations]). It holds no SSH
// logic.
//
// The adapter attaches the caller (owner, elicitation prompter, progress,
// agent socket, host-key policy) to the call's context, neutralises remote
// text in results, writes the audit log and turns operation errors into
// isError tool results carrying {"error": {code, message, hint}}. File tools
// pass local paths through the local-path policy ([LocalPaths]) first.
// TOOLS.md, generated from the table, documents every tool.
package mcpserve
