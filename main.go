// Command mcp-remote-ssh gives shell scripts, people and AI agents persistent
// SSH sessions: a CLI over a background session holder, and an MCP server.
package main

import (
	"os"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/cmd"
)

// Set at release time with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	os.Exit(cmd.Main(cmd.BuildInfo{Version: version, Commit: commit, Date: date}))
}
