package mcpserve

import (
	"context"
	"fmt"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// elicitNote tells the person where the answer goes.
const elicitNote = "\n\n(Asked by mcp-remote-ssh. The answer goes to the SSH connection only: it is not shown to the AI model, logged or stored.)"

// prompter asks the person behind the MCP client by elicitation, or is nil
// when the client cannot elicit (operations then fail with input_required
// naming the argument to pass).
func (s *Server) prompter(ss *mcp.ServerSession) session.Prompter {
	ip := ss.InitializeParams()
	if ip == nil || ip.Capabilities == nil || ip.Capabilities.Elicitation == nil {
		return nil
	}
	if e := ip.Capabilities.Elicitation; e.Form == nil && e.URL != nil {
		return nil // url-only clients cannot fill a form
	}
	return session.PrompterFunc(func(ctx context.Context, p session.Prompt) (string, error) {
		return elicit(ctx, ss, p)
	})
}

// elicit asks one question. A secret is a form with one string property
// named after the prompt's kind; a host key is a yes/no approval.
func elicit(ctx context.Context, ss *mcp.ServerSession, p session.Prompt) (string, error) {
	field, title := p.Kind, p.Kind
	var prop map[string]any
	switch p.Kind {
	case session.PromptHostKey:
		field, title = "approve", "Trust this host key"
		prop = map[string]any{"type": "boolean", "title": title,
			"description": fmt.Sprintf("Approve host key %s of %s (compare it with the fingerprint you expect)", p.Fingerprint, p.Host)}
	case session.PromptPassword:
		title = "SSH password"
	case session.PromptPassphrase:
		title = "Key passphrase"
	case session.PromptSudoPassword:
		title = "sudo password"
	}
	if prop == nil {
		prop = map[string]any{"type": "string", "title": title, "description": p.Message}
	}
	res, err := ss.Elicit(ctx, &mcp.ElicitParams{
		Message: p.Message + elicitNote,
		RequestedSchema: map[string]any{
			"type":       "object",
			"properties": map[string]any{field: prop},
			"required":   []string{field},
		},
	})
	if err != nil {
		if ctx.Err() != nil {
			return "", session.AsError(ctx.Err())
		}
		return "", session.Wrap(session.CodeInputRequired, err, "", "could not ask the user")
	}
	if res.Action != "accept" {
		if p.Kind == session.PromptHostKey {
			return "no", nil
		}
		return "", session.Errf(session.CodeInputRequired, "the user declined; pass "+p.Kind+" as an argument, or call again and ask the user to answer",
			"the user did not give the %s (%s)", title, res.Action)
	}
	switch v := res.Content[field].(type) {
	case bool:
		if v {
			return "yes", nil
		}
		return "no", nil
	case string:
		return v, nil
	}
	return "", session.Errf(session.CodeInputRequired, "call again and ask the user to answer", "the user's answer had no %s", field)
}
