package mcpserve

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// auditLog writes one JSON line per tool call. A nil *auditLog writes nothing.
type auditLog struct {
	mu sync.Mutex
	w  io.Writer
}

// auditRecord is one line of the audit log.
type auditRecord struct {
	Time time.Time `json:"time"`
	Tool string    `json:"tool"`
	// MCPSession is the owner id of the MCP client session that called.
	MCPSession string `json:"mcp_session"`
	// SessionID is the SSH session the call used or created.
	SessionID string `json:"session_id,omitempty"`
	// Target is user@host:port of a new session.
	Target string `json:"target,omitempty"`
	// Arguments are the call's arguments; a secret is {"given": true}.
	Arguments  map[string]any `json:"arguments"`
	Outcome    string         `json:"outcome"` // "ok" or the error code
	Error      string         `json:"error,omitempty"`
	DurationMS int64          `json:"duration_ms"`
}

var secretType = reflect.TypeFor[session.Secret]()

func (a *auditLog) record(start time.Time, tool, owner string, in, out any, err error, dur time.Duration) {
	if a == nil {
		return
	}
	args, _ := redact(reflect.ValueOf(in)).(map[string]any)
	if args == nil {
		args = map[string]any{}
	}
	rec := auditRecord{Time: start.UTC(), Tool: tool, MCPSession: owner, Arguments: args, Outcome: "ok", DurationMS: dur.Milliseconds()}
	if id, ok := args["session_id"].(string); ok {
		rec.SessionID = id
	}
	if err != nil {
		e := session.AsError(err)
		rec.Outcome, rec.Error = string(e.Code), e.Message
	} else if res, ok := redact(reflect.ValueOf(out)).(map[string]any); ok {
		if id, ok := res["session_id"].(string); ok {
			rec.SessionID = id
		}
		if u, ok := res["user"].(string); ok {
			rec.Target = fmt.Sprintf("%s@%v:%v", u, res["host"], res["port"])
		}
	}
	line, jerr := json.Marshal(rec)
	if jerr != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w.Write(append(line, '\n'))
}

// redact turns v into JSON-like values named by their json tags, leaving out
// zero values; a non-empty session.Secret becomes {"given": true} and its
// value is never read.
func redact(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == secretType {
		if v.Len() == 0 {
			return nil
		}
		return map[string]any{"given": true}
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return redact(v.Elem())
	case reflect.Struct:
		if _, ok := v.Interface().(time.Time); ok {
			return v.Interface()
		}
		m := map[string]any{}
		redactStruct(v, m)
		return m
	case reflect.Map:
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = redact(v.MapIndex(k))
		}
		return m
	case reflect.Slice, reflect.Array:
		var l []any
		for i := 0; i < v.Len(); i++ {
			l = append(l, redact(v.Index(i)))
		}
		return l
	}
	if v.IsZero() {
		return nil
	}
	if v.Kind() == reflect.String && v.Len() > auditMaxString {
		// Long text (file content, long input) is cut: the log is for who did what.
		s := strings.ToValidUTF8(v.String()[:auditMaxString], "")
		return fmt.Sprintf("%s… (%d bytes)", s, v.Len())
	}
	return v.Interface()
}

// auditMaxString is the most bytes of one string argument the audit log keeps.
const auditMaxString = 4096

func redactStruct(v reflect.Value, m map[string]any) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			redactStruct(v.Field(i), m)
			continue
		}
		if name == "" {
			name = f.Name
		}
		if x := redact(v.Field(i)); x != nil {
			m[name] = x
		}
	}
}
