package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// roundCommand is what every shell round types: its output, "X-<i>", never
// appears in the echo of the line itself, so a match is the command's output
// on both sides whatever the echo handling.
func roundCommand(i int) (line, marker string) {
	return fmt.Sprintf(`echo "X-"%d`, i), fmt.Sprintf("X-%d", i)
}

// ptyShell is an OpenSSH `ssh -tt` client through a ControlMaster, driven by a
// pseudo-terminal as a person's terminal (or an expect script) would drive it.
type ptyShell struct {
	ptmx *os.File
	mu   sync.Mutex
	out  []byte
	more chan struct{} // signalled when out grows
	done chan struct{} // closed when the reader stops
}

// openPTYShell starts `ssh -tt -S CTL host` on a new pty.
func (bd *bed) openPTYShell(ctl string) *ptyShell {
	bd.tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := bd.command(ctx, "ssh", bd.sshArgs([]string{"-S", ctl, "-o", "ControlMaster=no", "-tt"})...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 200, Rows: 50})
	if err != nil {
		cancel()
		bd.tb.Fatalf("start ssh -tt on a pty: %v", err)
	}
	p := &ptyShell{ptmx: ptmx, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		buf := make([]byte, 64<<10)
		for {
			n, err := ptmx.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.out = append(p.out, buf[:n]...)
				p.mu.Unlock()
				select {
				case p.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	bd.tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		ptmx.Close()
		<-p.done
	})
	return p
}

// offset is how much output the shell produced so far.
func (p *ptyShell) offset() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.out)
}

// send types a line.
func (p *ptyShell) send(line string) error {
	_, err := io.WriteString(p.ptmx, line+"\r")
	return err
}

// wait waits until marker appears in the output after offset from.
func (p *ptyShell) wait(from int, marker string, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	m := []byte(marker)
	for {
		p.mu.Lock()
		found := bytes.Contains(p.out[from:], m)
		p.mu.Unlock()
		if found {
			return nil
		}
		select {
		case <-p.more:
		case <-p.done:
			return errors.New("ssh -tt exited")
		case <-deadline.C:
			return fmt.Errorf("no %q after %v", marker, timeout)
		}
	}
}

// BenchmarkShell: a shell round trip (send `echo X`, wait for X) through our
// holder (socket client, as an agent or `serve mcp --shared` drives it: no
// process per round; and, for reference, with the `shell send` + `shell wait`
// CLI processes) vs the same through a ControlMaster `ssh -tt` driven by a
// pty; median over N rounds (goal <= 0.5x). Then holder memory with 100
// shells that each printed 10 MiB (goal < 100 MiB).
func BenchmarkShell(b *testing.B) {
	bd := newBed(b)
	ctl, _, _ := bd.controlMaster("cm")
	id := bd.connect("--name", "sh")
	c, ctx := bd.client()
	rounds := pick(200, 20)

	var base samples
	b.Run("openssh-controlmaster-pty", func(b *testing.B) {
		b.ReportAllocs()
		p := bd.openPTYShell(ctl)
		if err := p.send(`echo "R-"0`); err != nil {
			b.Fatal(err)
		}
		if err := p.wait(0, "R-0", 30*time.Second); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			for range rounds {
				i++
				line, marker := roundCommand(i)
				from := p.offset()
				start := time.Now()
				if err := p.send(line); err != nil {
					b.Fatal(err)
				}
				if err := p.wait(from, marker, 30*time.Second); err != nil {
					b.Fatal(err)
				}
				base = append(base, time.Since(start))
			}
		}
		reportLatency(b, base)
	})

	var shellID string
	b.Run("ours-socket-client", func(b *testing.B) {
		b.ReportAllocs()
		op, err := c.ShellOpen(ctx, session.ShellOpenRequest{SessionID: id})
		if err != nil {
			b.Fatal(err)
		}
		shellID = op.ShellID
		round := func(line, marker string) error {
			if _, err := c.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: shellID, Data: line}); err != nil {
				return err
			}
			w, err := c.ShellWait(ctx, session.ShellWaitRequest{SessionID: id, ShellID: shellID, Pattern: marker, Timeout: 30})
			if err == nil && !w.Matched {
				err = fmt.Errorf("wait %q: no match: %+v", marker, w)
			}
			return err
		}
		if err := round(`echo "R-"0`, "R-0"); err != nil {
			b.Fatal(err)
		}
		var s samples
		i := 0
		for b.Loop() {
			for range rounds {
				i++
				line, marker := roundCommand(i)
				start := time.Now()
				if err := round(line, marker); err != nil {
					b.Fatal(err)
				}
				s = append(s, time.Since(start))
			}
		}
		reportLatency(b, s)
		if len(base) == 0 {
			return
		}
		r := msf(s.median()) / msf(base.median())
		b.ReportMetric(r, "ratio_vs_openssh")
		summary{Name: "shell send+wait round trip (median)", Ours: ms(s.median()), Base: "ControlMaster ssh -tt on a pty " + ms(base.median()),
			Ratio: r, Goal: "<= 0.5x", Met: r <= 0.5,
			Note: fmt.Sprintf("socket client, as agents drive it; p95 ours %s vs %s; %d rounds", ms(s.p95()), ms(base.p95()), len(s))}.log(b)
	})
	b.Run("ours-cli", func(b *testing.B) {
		b.ReportAllocs()
		var s samples
		i := 1000000
		for b.Loop() {
			for range pick(50, 5) {
				i++
				line, marker := roundCommand(i)
				start := time.Now()
				bd.mrs("shell", "send", "sh", "--shell", shellID, line)
				bd.mrs("shell", "wait", "sh", "--shell", shellID, "--pattern", marker, "--timeout", "30s")
				s = append(s, time.Since(start))
			}
		}
		reportLatency(b, s)
		if len(base) == 0 {
			return
		}
		r := msf(s.median()) / msf(base.median())
		b.ReportMetric(r, "ratio_vs_openssh")
		summary{Name: "shell round trip via CLI (median)", Ours: ms(s.median()), Base: "ControlMaster ssh -tt on a pty " + ms(base.median()),
			Ratio: r, Note: "two CLI processes per round (shell send, shell wait)"}.log(b)
	})
	b.Run("ours-holder-rss", func(b *testing.B) {
		b.ReportAllocs()
		shells := pick(100, 20)
		each := pick(10<<20, 2<<20)
		pid := bd.holder()
		var before, after, peak int64
		for b.Loop() {
			before = rss(b, pid)
			stopPeak := peakSampler(pid)
			printMany(b, bd, c, ctx, shells, each)
			peak = stopPeak()
			after = rss(b, pid)
		}
		b.ReportMetric(float64(after)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
		summary{Name: fmt.Sprintf("holder RSS, %d shells x %d MiB printed", shells, each>>20), Ours: mib(after), Goal: "< 100 MiB",
			Met: after < 100<<20, Note: fmt.Sprintf("peak while printing %s; before %s", mib(peak), mib(before))}.log(b)
	})
}

// printMany opens n shells (10 per session, on new sessions) and has each
// print size bytes of text, all at once, waiting until every one is done.
func printMany(b testing.TB, bd *bed, c session.Operations, ctx context.Context, n, size int) {
	b.Helper()
	type sh struct{ sess, shell string }
	shells := make([]sh, n)
	sessions := make([]string, (n+9)/10)
	for i := range sessions {
		r, err := c.Connect(ctx, bd.connectRequest())
		if err != nil {
			b.Fatal(err)
		}
		sessions[i] = r.SessionID
	}
	// A shell open waits for the prompt to settle: open them side by side.
	if err := parallel(n, 10, func(i int) error {
		op, err := c.ShellOpen(ctx, session.ShellOpenRequest{SessionID: sessions[i/10]})
		if err != nil {
			return fmt.Errorf("open shell %d: %w", i, err)
		}
		shells[i] = sh{sessions[i/10], op.ShellID}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("mcp-remote-ssh benchmark output ", 2) // 64 bytes
	cmd := fmt.Sprintf(`yes '%s' | head -c %d; echo; echo "D-"ONE`, line[:63], size)
	var wg sync.WaitGroup
	errs := make(chan error, len(shells))
	for _, s := range shells {
		wg.Go(func() {
			if _, err := c.ShellSend(ctx, session.ShellSendRequest{SessionID: s.sess, ShellID: s.shell, Data: cmd}); err != nil {
				errs <- err
				return
			}
			w, err := c.ShellWait(ctx, session.ShellWaitRequest{SessionID: s.sess, ShellID: s.shell, Pattern: "D-ONE", Timeout: 600})
			if err == nil && !w.Matched {
				err = fmt.Errorf("shell %s/%s: no D-ONE (timed out %v)", s.sess, s.shell, w.TimedOut)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
