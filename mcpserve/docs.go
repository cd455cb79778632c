package mcpserve

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// toolsMarkdown is TOOLS.md: the tool table with each tool's arguments and
// result fields, generated from [tools] and the request and result types.
func toolsMarkdown() string {
	var b strings.Builder
	b.WriteString("# MCP tools\n\n")
	b.WriteString("<!-- Generated from mcpserve/tools.go and session/types.go by `go test ./mcpserve -run TestToolsDoc -update`. Do not edit. -->\n\n")
	b.WriteString("`mcp-remote-ssh serve mcp` serves these tools. Required arguments are in bold. ")
	b.WriteString("Hints are the tools' annotations. Under `--read-only` only the tools marked in the last column are registered. ")
	b.WriteString("Errors are `isError` results whose structuredContent is `{\"error\": {code, message, hint}}`.\n\n")
	b.WriteString("| tool | what it does | hints | read-only mode |\n|---|---|---|---|\n")
	for i := range tools {
		d := &tools[i]
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", d.name, d.name, cell(d.description), hintsText(d), yesNo(d.inReadOnly))
	}
	for i := range tools {
		d := &tools[i]
		in, out := d.op.schemas(d)
		fmt.Fprintf(&b, "\n## %s\n\n**%s.** %s\n\n", d.name, d.title, d.description)
		b.WriteString("| argument | type | description |\n|---|---|---|\n")
		props := sortedProps(in)
		if len(props) == 0 {
			b.WriteString("| – | | |\n")
		}
		for _, name := range props {
			arg := "`" + name + "`"
			if slices.Contains(in.Required, name) {
				arg = "**" + arg + "**"
			}
			p := in.Properties[name]
			fmt.Fprintf(&b, "| %s | %s | %s |\n", arg, typeText(p), cell(p.Description))
		}
		b.WriteString("\n| result field | type | description |\n|---|---|---|\n")
		resultRows(&b, "", out)
	}
	return b.String()
}

func resultRows(b *strings.Builder, prefix string, s *jsonschema.Schema) {
	for _, name := range sortedProps(s) {
		p := s.Properties[name]
		fmt.Fprintf(b, "| `%s%s` | %s | %s |\n", prefix, name, typeText(p), cell(p.Description))
		switch {
		case len(p.Properties) > 0:
			resultRows(b, prefix+name+".", p)
		case p.Items != nil && len(p.Items.Properties) > 0:
			resultRows(b, prefix+name+"[].", p.Items)
		}
	}
}

func sortedProps(s *jsonschema.Schema) []string {
	var names []string
	for n := range s.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func typeText(s *jsonschema.Schema) string {
	types := s.Types
	if s.Type != "" {
		types = []string{s.Type}
	}
	var parts []string
	for _, t := range types {
		if t == "null" && len(types) > 1 {
			continue // a nil slice or pointer: shown as absent or null
		}
		switch {
		case t == "array" && s.Items != nil:
			t = typeText(s.Items) + "[]"
		case t == "object" && len(s.Properties) == 0 && s.AdditionalProperties != nil:
			t = "{string: " + typeText(s.AdditionalProperties) + "}"
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, " \\| ")
}

func hintsText(d *toolDef) string {
	var h []string
	for _, x := range []struct {
		on   bool
		name string
	}{{d.readOnly, "readOnly"}, {d.destructive, "destructive"}, {d.idempotent, "idempotent"}, {d.openWorld, "openWorld"}} {
		if x.on {
			h = append(h, x.name)
		}
	}
	return strings.Join(h, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cell escapes text for a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}
