package mcpserve

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/textsafe"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// call runs one tool call: it attaches the caller, runs the operation
// (recovering panics), audits it and shapes the result. run returns the
// neutralised result and its text rendering.
func (s *Server) call(ctx context.Context, req *mcp.CallToolRequest, tool string, in any,
	run func(context.Context) (any, string, error)) (*mcp.CallToolResult, any, error) {
	start := time.Now()
	owner := s.owner(req.Session)
	caller := session.Caller{
		Owner:         owner,
		All:           s.opts.Shared,
		Prompter:      s.prompter(req.Session),
		AgentSocket:   s.opts.AgentSocket,
		HostKeyPolicy: s.opts.HostKeyPolicy,
	}
	prog := newProgress(ctx, req)
	if prog != nil {
		caller.Progress = prog.send
	}
	out, text, err := s.runSafe(session.WithCaller(ctx, caller), tool, run)
	prog.stop()
	dur := time.Since(start)
	s.audit.record(start, tool, owner, in, out, err, dur)

	clog := slog.New(mcp.NewLoggingHandler(req.Session, &mcp.LoggingHandlerOptions{LoggerName: "mcp-remote-ssh"}))
	if err != nil {
		e := session.AsError(err)
		s.logger.Info("tool failed", "tool", tool, "owner", owner, "code", e.Code, "duration", dur.Round(time.Millisecond))
		clog.Warn("tool failed", "tool", tool, "code", string(e.Code), "duration_ms", dur.Milliseconds())
		return errorResult(e), nil, nil
	}
	s.logger.Debug("tool done", "tool", tool, "owner", owner, "duration", dur.Round(time.Millisecond))
	clog.Info("tool done", "tool", tool, "duration_ms", dur.Milliseconds())
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
}

// runSafe runs the operation, turning a panic into an internal error.
func (s *Server) runSafe(ctx context.Context, tool string, run func(context.Context) (any, string, error)) (out any, text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic in tool", "tool", tool, "panic", r, "stack", string(debug.Stack()))
			out, text = nil, ""
			err = session.Errf(session.CodeInternal, "this is a bug in mcp-remote-ssh; the server log has details", "internal error in %s", tool)
		}
	}()
	return run(ctx)
}

// errorResult is the isError result of a failed operation: the text is
// "code: message — hint" and structuredContent is {"error": {...}}.
func errorResult(e *session.Error) *mcp.CallToolResult {
	pub := session.Error{Code: e.Code, Message: textsafe.Neutralize(e.Message), Hint: textsafe.Neutralize(e.Hint)}
	text := string(pub.Code) + ": " + pub.Message
	if pub.Hint != "" {
		text += " — " + pub.Hint
	}
	return &mcp.CallToolResult{
		IsError:           true,
		Content:           []mcp.Content{&mcp.TextContent{Text: text}},
		StructuredContent: map[string]any{"error": pub},
	}
}

// inputSchema is the schema of a request type as go-sdk would infer it,
// without the fields d hides, with d's shorter descriptions, and with plain
// types for optional pointer fields (null means nothing more than absent).
func inputSchema[In any](d *toolDef) *jsonschema.Schema {
	sch, err := jsonschema.For[In](nil)
	if err != nil {
		panic(fmt.Sprintf("mcpserve: input schema of %T: %v", *new(In), err))
	}
	prop := func(name string) *jsonschema.Schema {
		p, ok := sch.Properties[name]
		if !ok {
			panic(fmt.Sprintf("mcpserve: %s: %T has no field %q", d.name, *new(In), name))
		}
		return p
	}
	for _, h := range d.hide {
		prop(h)
		delete(sch.Properties, h)
		sch.Required = slices.DeleteFunc(sch.Required, func(r string) bool { return r == h })
	}
	for name, text := range d.args {
		prop(name).Description = text
	}
	for _, p := range sch.Properties {
		if len(p.Types) == 2 && p.Types[0] == "null" {
			p.Type, p.Types = p.Types[1], nil
		}
	}
	return sch
}

// outputSchema is the schema of a result type, kept small for the token
// budget of tools/list: the names of the fields and their nesting only. The
// types and meaning of each field are in the result types' documentation
// and TOOLS.md; additionalProperties and required are left out (results only
// grow, and every field is always present).
func outputSchema[Out any]() json.RawMessage {
	b, err := json.Marshal(strippedSchema[Out]())
	if err != nil {
		panic(fmt.Sprintf("mcpserve: output schema of %T: %v", *new(Out), err))
	}
	// A stripped property marshals as the boolean schema true, which MCP
	// clients reject (a Tool's schema properties must be objects): write {}.
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("mcpserve: output schema of %T: %v", *new(Out), err))
	}
	var objectify func(v any)
	objectify = func(v any) {
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		if props, ok := obj["properties"].(map[string]any); ok {
			for k, p := range props {
				if p == true {
					props[k] = map[string]any{}
				}
				objectify(props[k])
			}
		}
		if it, ok := obj["items"]; ok {
			if it == true {
				obj["items"] = map[string]any{}
			}
			objectify(obj["items"])
		}
	}
	objectify(m)
	out, _ := json.Marshal(m)
	return out
}

// strippedSchema is Out's schema reduced to property names and nesting.
func strippedSchema[Out any]() *jsonschema.Schema {
	sch, err := jsonschema.For[Out](nil)
	if err != nil {
		panic(fmt.Sprintf("mcpserve: output schema of %T: %v", *new(Out), err))
	}
	var strip func(*jsonschema.Schema)
	strip = func(sc *jsonschema.Schema) {
		if sc == nil {
			return
		}
		sc.AdditionalProperties = nil
		sc.Required = nil
		sc.Description = ""
		sc.Type, sc.Types = "", nil // the names and nesting are enough here
		for _, p := range sc.Properties {
			strip(p)
		}
		strip(sc.Items)
	}
	strip(sch)
	sch.Type = "object"
	return sch
}

// progress forwards an operation's progress as notifications/progress when
// the request carries a progress token. Progress always increases: it is
// done/total when the total is known, else the seconds elapsed.
type progress struct {
	ctx   context.Context
	req   *mcp.CallToolRequest
	token any
	start time.Time

	mu      sync.Mutex
	last    float64
	stopped bool
}

func newProgress(ctx context.Context, req *mcp.CallToolRequest) *progress {
	if req.Params == nil {
		return nil
	}
	tok := req.Params.GetProgressToken()
	if tok == nil {
		return nil
	}
	return &progress{ctx: ctx, req: req, token: tok, start: time.Now()}
}

func (p *progress) send(u session.ProgressUpdate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	v := time.Since(p.start).Seconds()
	if u.Total > 0 {
		v = float64(u.Done)
	}
	if v <= p.last {
		v = p.last + 0.001
	}
	p.last = v
	n := &mcp.ProgressNotificationParams{ProgressToken: p.token, Progress: v, Message: textsafe.Neutralize(u.Message)}
	if u.Total > 0 {
		n.Total = float64(u.Total)
	}
	if err := p.req.Session.NotifyProgress(p.ctx, n); err != nil {
		p.stopped = true // the client is gone or the call is over
	}
}

// stop drops later updates (the result is on its way).
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}
