// Package session owns SSH connections and everything that lives on them, and
// defines the one operations interface that the CLI (cmd/) and the MCP server
// (mcpserve/) are thin faces over.
//
// The interface is [Operations]. [Holder] implements it in-process; [Client]
// implements it by calling a holder over its unix socket (HTTP/1.1 + JSON,
// with an upgraded byte stream for streaming exec and shells). Request and
// result structs are defined once here and serve the socket protocol, the MCP
// tool schemas and the CLI's --json output alike.
package session
