package mcpserve

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden files")

var allTools = []string{"ssh_connect", "ssh_list_sessions", "ssh_close_session", "ssh_execute", "ssh_sudo_execute",
	"ssh_shell_open", "ssh_shell_send", "ssh_shell_read", "ssh_shell_send_control", "ssh_shell_wait",
	"ssh_upload_file", "ssh_download_file", "ssh_read_remote_file", "ssh_write_remote_file", "ssh_list_remote_dir",
	"ssh_forward_port", "ssh_list_forwards", "ssh_close_forward"}

// readOnlyTools may be registered under --read-only (contract.md).
var readOnlyTools = []string{"ssh_connect", "ssh_list_sessions", "ssh_close_session",
	"ssh_read_remote_file", "ssh_list_remote_dir", "ssh_download_file", "ssh_list_forwards", "ssh_close_forward"}

// Budget of tools/list: the 18 tools together, outputSchemas included,
// stay under 16 KiB of compact JSON (contract.md).
const budgetAll = 16 << 10

func newBare(t *testing.T, o Options) *Server {
	o.Logger = log.New(&bytes.Buffer{})
	return New(session.NewHolder(session.HolderConfig{Logger: o.Logger}), o)
}

func listTools(t *testing.T, s *Server) []*mcp.Tool {
	t.Helper()
	cs := client(t, s, nil)
	res, err := cs.ListTools(ctxT(t, 10e9), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Tools
}

func TestToolsList(t *testing.T) {
	tools := listTools(t, newBare(t, Options{}))
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
		t.Run(tl.Name, func(t *testing.T) {
			if len(tl.Description) < 40 || len(tl.Description) > 260 {
				t.Errorf("description of %d bytes: say when to use it and what it returns, briefly", len(tl.Description))
			}
			if tl.Title == "" {
				t.Error("no title")
			}
			a := tl.Annotations
			if a == nil || a.DestructiveHint == nil || a.OpenWorldHint == nil {
				t.Fatalf("annotations not explicit: %+v", a)
			}
			if a.ReadOnlyHint && *a.DestructiveHint {
				t.Error("read-only and destructive")
			}
			if tl.OutputSchema == nil {
				t.Error("no outputSchema")
			}
			var in struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
				AnyOf      any                        `json:"anyOf"`
				OneOf      any                        `json:"oneOf"`
			}
			decode(t, tl.InputSchema, &in)
			if in.Type != "object" || in.AnyOf != nil || in.OneOf != nil {
				t.Errorf("input schema must be a plain object: %+v", in)
			}
			for name, p := range in.Properties {
				var prop struct {
					Description string `json:"description"`
				}
				json.Unmarshal(p, &prop)
				if prop.Description == "" {
					t.Errorf("property %s has no description", name)
				}
			}
		})
	}
	slices.Sort(names)
	want := slices.Clone(allTools)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("tools %v, want %v", names, want)
	}
	hints := map[string][3]bool{ // readOnly, destructive, openWorld
		"ssh_connect":       {false, false, true},
		"ssh_list_sessions": {true, false, false},
		"ssh_close_session": {false, true, true},
		"ssh_execute":       {false, true, true},
		"ssh_sudo_execute":  {false, true, true},

		"ssh_shell_open":         {false, false, true},
		"ssh_shell_send":         {false, true, true},
		"ssh_shell_read":         {true, false, true},
		"ssh_shell_send_control": {false, true, true},
		"ssh_shell_wait":         {false, false, true},

		"ssh_upload_file":       {false, true, true},
		"ssh_download_file":     {false, true, true},
		"ssh_read_remote_file":  {true, false, true},
		"ssh_write_remote_file": {false, true, true},
		"ssh_list_remote_dir":   {true, false, true},

		"ssh_forward_port":  {false, false, true},
		"ssh_list_forwards": {true, false, false},
		"ssh_close_forward": {false, true, true},
	}
	// readOnlyHint only where contract.md says so.
	for _, tl := range tools {
		want := slices.Contains([]string{"ssh_list_sessions", "ssh_read_remote_file", "ssh_list_remote_dir", "ssh_list_forwards", "ssh_shell_read"}, tl.Name)
		if tl.Annotations.ReadOnlyHint != want {
			t.Errorf("%s: readOnlyHint %v, want %v", tl.Name, tl.Annotations.ReadOnlyHint, want)
		}
	}
	for _, tl := range tools {
		a := tl.Annotations
		if got := [3]bool{a.ReadOnlyHint, *a.DestructiveHint, *a.OpenWorldHint}; got != hints[tl.Name] {
			t.Errorf("%s: hints (readOnly, destructive, openWorld) = %v, want %v", tl.Name, got, hints[tl.Name])
		}
	}

	// Golden snapshot of the whole list, and its size.
	b, err := json.Marshal(tools)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tools/list: %d tools, %d bytes (%d per tool)", len(tools), len(b), len(b)/len(tools))
	if len(b) > budgetAll {
		t.Errorf("tools/list is %d bytes, over the budget of %d for these %d tools", len(b), budgetAll, len(tools))
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, b, "", "  ")
	pretty.WriteByte('\n')
	golden := filepath.Join("testdata", "tools.golden.json")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want2, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("missing snapshot (run go test -run TestToolsList -update): %v", err)
	}
	if !bytes.Equal(want2, pretty.Bytes()) {
		t.Errorf("tools/list differs from %s (run go test -run TestToolsList -update and review the diff)", golden)
	}
}

func TestReadOnlyMode(t *testing.T) {
	tools := listTools(t, newBare(t, Options{ReadOnly: true}))
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
		if !slices.Contains(readOnlyTools, tl.Name) {
			t.Errorf("%s registered under --read-only", tl.Name)
		}
	}
	slices.Sort(names)
	want := slices.Clone(readOnlyTools)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("read-only tools %v, want %v", names, want)
	}
}

// The table's read-only flag agrees with the contract's list.
func TestReadOnlyTable(t *testing.T) {
	for _, d := range tools {
		if d.inReadOnly != slices.Contains(readOnlyTools, d.name) {
			t.Errorf("%s: inReadOnly = %v disagrees with contract.md", d.name, d.inReadOnly)
		}
	}
}

// TOOLS.md is generated from the table; -update rewrites it.
func TestToolsDoc(t *testing.T) {
	got := toolsMarkdown()
	if *update {
		if err := os.WriteFile("TOOLS.md", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("TOOLS.md")
	if err != nil {
		t.Fatalf("missing TOOLS.md (run go test ./mcpserve -run TestToolsDoc -update): %v", err)
	}
	if string(want) != got {
		t.Errorf("TOOLS.md is stale: run go test ./mcpserve -run TestToolsDoc -update and review the diff")
	}
	for _, name := range allTools {
		if !strings.Contains(got, "\n## "+name+"\n") {
			t.Errorf("TOOLS.md has no section for %s", name)
		}
	}
}
