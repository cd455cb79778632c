package mcpserve

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/textsafe"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// neutralize escapes, in place, every string reachable from ptr (struct
// fields, slices, maps, pointers) with textsafe.Neutralize: remote text in an
// MCP result cannot drive a terminal or hide text. Only MCP results are
// neutralised; the CLI's --json shows the text as it is.
func neutralize(ptr any) {
	neutralizeValue(reflect.ValueOf(ptr))
}

func neutralizeValue(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			neutralizeValue(v.Elem())
		}
	case reflect.String:
		if v.CanSet() {
			if s := textsafe.Neutralize(v.String()); s != v.String() {
				v.SetString(s)
			}
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				neutralizeValue(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			neutralizeValue(v.Index(i))
		}
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.String {
			for _, k := range v.MapKeys() {
				e := v.MapIndex(k)
				if s := textsafe.Neutralize(e.String()); s != e.String() {
					v.SetMapIndex(k, reflect.ValueOf(s).Convert(v.Type().Elem()))
				}
			}
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			neutralizeValue(e)
			v.SetMapIndex(k, e)
		}
	}
}

// render is the short text rendering of a (neutralised) result, for clients
// that ignore structuredContent. Results without their own rendering are
// shown as compact JSON.
func render(out any) string {
	switch r := out.(type) {
	case session.ExecResult:
		return renderExec(r)
	case session.ConnectResult:
		s := fmt.Sprintf("session_id %s: %s@%s:%d (%s), auth %s, host key %s", r.SessionID, r.User, r.Host, r.Port, r.ServerVersion, r.AuthMethod, r.HostKeyFingerprint)
		if r.HostKeyRecorded {
			s += " (new, recorded in known_hosts)"
		}
		if r.Name != "" {
			s += ", name " + r.Name
		}
		return s
	case session.ListSessionsResult:
		if len(r.Sessions) == 0 {
			return "no sessions"
		}
		var b strings.Builder
		for _, x := range r.Sessions {
			fmt.Fprintf(&b, "%s %s@%s:%d %s idle %dms shells %d forwards %d", x.SessionID, x.User, x.Host, x.Port, x.State, x.IdleMS, x.Shells, x.Forwards)
			if x.Name != "" {
				b.WriteString(" name " + x.Name)
			}
			b.WriteByte('\n')
		}
		return strings.TrimSuffix(b.String(), "\n")
	case session.CloseSessionResult:
		return fmt.Sprintf("closed session %s (%d shells, %d forwards)", r.SessionID, r.ShellsClosed, r.ForwardsClosed)
	case session.ShellReadResult:
		s := fmt.Sprintf("offset %d, next_offset %d", r.Offset, r.NextOffset)
		if r.DroppedBytes > 0 {
			s += fmt.Sprintf(", %d bytes dropped", r.DroppedBytes)
		}
		return s + exitedText(r.Exited, r.ExitStatus) + "\n" + r.Output
	case session.ShellWaitResult:
		s := "matched"
		switch {
		case r.TimedOut:
			s = "timed out"
		case !r.Matched:
			s = "not matched"
		}
		s += fmt.Sprintf(" after %d ms, next_offset %d", r.WaitedMS, r.NextOffset)
		return s + exitedText(r.Exited, nil) + "\n" + r.Output
	case session.ReadFileResult:
		if r.Binary {
			return fmt.Sprintf("binary file (%d bytes, %s): content not shown", r.Size, r.TypeGuess)
		}
		s := fmt.Sprintf("bytes %d-%d of %d (%s)", r.Offset, r.Offset+int64(r.BytesRead), r.Size, r.Encoding)
		if r.Truncated {
			s += ", more remains"
		}
		return s + "\n" + r.Content
	case session.ListDirResult:
		var b strings.Builder
		fmt.Fprintf(&b, "%s: %d entries", r.Path, len(r.Entries))
		for _, e := range r.Entries {
			fmt.Fprintf(&b, "\n%s %-7s %10d %s %s", e.Mode, e.Type, e.Size, e.MTime.Format("2006-01-02T15:04:05Z"), e.Name)
			if e.LinkTarget != "" {
				b.WriteString(" -> " + e.LinkTarget)
			}
		}
		return b.String()
	case session.ListForwardsResult:
		if len(r.Forwards) == 0 {
			return "no forwards"
		}
		var b strings.Builder
		for _, x := range r.Forwards {
			fmt.Fprintf(&b, "%s %s %s -> %s (session %s) %s conns %d/%d in %d out %d\n", x.ForwardID, x.Direction, x.Listen, x.Target,
				x.SessionID, x.State, x.ActiveConns, x.TotalConns, x.BytesIn, x.BytesOut)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Sprintf("%v", out)
	}
	return string(b)
}

func exitedText(exited bool, status *int) string {
	switch {
	case !exited:
		return ""
	case status == nil:
		return ", shell exited"
	}
	return fmt.Sprintf(", shell exited with status %d", *status)
}

func renderExec(r session.ExecResult) string {
	var b strings.Builder
	if r.ExitCode != nil {
		fmt.Fprintf(&b, "exit_code %d", *r.ExitCode)
	} else {
		b.WriteString("exit_code unknown")
	}
	if r.Signal != "" {
		b.WriteString(", signal " + r.Signal)
	}
	fmt.Fprintf(&b, " (%s, %d ms)", r.Outcome, r.DurationMS)
	for _, s := range []struct {
		name, text string
		n          int64
		cut        bool
	}{{"stdout", r.Stdout, r.StdoutBytes, r.StdoutTruncated}, {"stderr", r.Stderr, r.StderrBytes, r.StderrTruncated}} {
		if s.n == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n--- %s (%d bytes", s.name, s.n)
		if s.cut {
			b.WriteString(", truncated")
		}
		b.WriteString(") ---\n")
		b.WriteString(s.text)
	}
	return b.String()
}
