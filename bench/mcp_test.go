package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// lockedBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mcpServer is a running `serve mcp` over stdio with its client session.
type mcpServer struct {
	cs     *mcp.ClientSession
	pid    int
	stderr *lockedBuffer
}

// serveMCP spawns `mcp-remote-ssh serve mcp` (stdio, embedded holder) and
// connects a go-sdk client (initialize done). It is closed at cleanup.
func (bd *bed) serveMCP(ctx context.Context) *mcpServer {
	bd.tb.Helper()
	cmd := exec.Command(bd.bin, "serve", "mcp", "--log-level", "warn")
	cmd.Env = bd.environ
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp-remote-ssh-bench", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, nil)
	if err != nil {
		bd.tb.Fatalf("connect to serve mcp: %v\nstderr:\n%s", err, stderr.String())
	}
	s := &mcpServer{cs: cs, pid: cmd.Process.Pid, stderr: stderr}
	bd.tb.Cleanup(func() { _ = s.cs.Close() })
	return s
}

// call calls a tool and decodes its structuredContent into out.
func (s *mcpServer) call(ctx context.Context, tool string, args map[string]any, out any) error {
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return fmt.Errorf("%s: %w\nstderr:\n%s", tool, err, s.stderr.String())
	}
	if res.IsError {
		var text string
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				text += t.Text
			}
		}
		return fmt.Errorf("%s: tool error: %s", tool, text)
	}
	if out == nil {
		return nil
	}
	data, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

// connectArgs are ssh_connect's arguments for the bed's user and key.
func (bd *bed) connectArgs() map[string]any {
	return map[string]any{"host": bd.target, "key_path": bd.user.KeyPath, "use_agent": false}
}

// BenchmarkMCP: `ssh_execute` of `true` over stdio against the built binary's
// `serve mcp`, median and p95 of N calls, vs `ssh -S CTL host true` through a
// warm ControlMaster (goal <= 0.5x); spawn to first tools/list (goal < 20 ms);
// `serve mcp` RSS with 10 sessions (goal < 30 MiB).
func BenchmarkMCP(b *testing.B) {
	bd := newBed(b)
	ctl, _, _ := bd.controlMaster("cm")
	bd.must("ssh", bd.muxArgs(ctl, "true")...)
	rounds := pick(200, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	var base samples
	b.Run("openssh-controlmaster", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range rounds {
				base = append(base, bd.timed("ssh", bd.muxArgs(ctl, "true")...))
			}
		}
		reportLatency(b, base)
	})
	b.Run("ours-ssh_execute", func(b *testing.B) {
		b.ReportAllocs()
		srv := bd.serveMCP(ctx)
		var conn session.ConnectResult
		if err := srv.call(ctx, "ssh_connect", bd.connectArgs(), &conn); err != nil {
			b.Fatal(err)
		}
		args := map[string]any{"session_id": conn.SessionID, "command": "true"}
		if err := srv.call(ctx, "ssh_execute", args, nil); err != nil { // first channel, unmeasured
			b.Fatal(err)
		}
		var s samples
		for b.Loop() {
			for range rounds {
				var res session.ExecResult
				start := time.Now()
				if err := srv.call(ctx, "ssh_execute", args, &res); err != nil {
					b.Fatal(err)
				}
				s = append(s, time.Since(start))
				if res.ExitCode == nil || *res.ExitCode != 0 {
					b.Fatalf("ssh_execute true: %+v", res)
				}
			}
		}
		reportLatency(b, s)
		if len(base) == 0 {
			return
		}
		r := msf(s.median()) / msf(base.median())
		b.ReportMetric(r, "ratio_vs_openssh")
		b.ReportMetric(msf(s.p95())/msf(base.p95()), "p95_ratio_vs_openssh")
		summary{Name: "MCP ssh_execute (median)", Ours: ms(s.median()), Base: "ControlMaster " + ms(base.median()),
			Ratio: r, Goal: "<= 0.5x", Met: r <= 0.5,
			Note: fmt.Sprintf("p95 ours %s vs %s; %d calls over stdio", ms(s.p95()), ms(base.p95()), len(s))}.log(b)
	})
	b.Run("ours-spawn-to-tools-list", func(b *testing.B) {
		b.ReportAllocs()
		var s samples
		for b.Loop() {
			for range pick(20, 3) {
				start := time.Now()
				srv := bd.serveMCP(ctx)
				tools, err := srv.cs.ListTools(ctx, nil)
				took := time.Since(start)
				if err != nil || len(tools.Tools) == 0 {
					b.Fatalf("tools/list: %v (%d tools)", err, len(tools.Tools))
				}
				s = append(s, took)
				_ = srv.cs.Close()
			}
		}
		reportLatency(b, s)
		summary{Name: "MCP spawn to first tools/list (median)", Ours: ms(s.median()), Goal: "< 20ms",
			Met: s.median() < 20*time.Millisecond, Note: fmt.Sprintf("p95 %s; %d spawns", ms(s.p95()), len(s))}.log(b)
	})
	b.Run("ours-rss-10-sessions", func(b *testing.B) {
		b.ReportAllocs()
		var idle, loaded int64
		for b.Loop() {
			srv := bd.serveMCP(ctx)
			idle = rss(b, srv.pid)
			for range 10 {
				var conn session.ConnectResult
				if err := srv.call(ctx, "ssh_connect", bd.connectArgs(), &conn); err != nil {
					b.Fatal(err)
				}
				if err := srv.call(ctx, "ssh_execute", map[string]any{"session_id": conn.SessionID, "command": "true"}, nil); err != nil {
					b.Fatal(err)
				}
			}
			loaded = rss(b, srv.pid)
			_ = srv.cs.Close()
		}
		b.ReportMetric(float64(loaded)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(idle)/(1<<20), "idle-rss-MiB")
		summary{Name: "MCP serve mcp RSS, 10 sessions", Ours: mib(loaded), Goal: "< 30 MiB",
			Met: loaded < 30<<20, Note: "with no session: " + mib(idle)}.log(b)
	})
}
