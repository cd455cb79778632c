package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkExecWarm: `mcp-remote-ssh exec S -- true` (the CLI's start-up
// included) on a warm session vs `ssh -S CTL host true` through a warm
// OpenSSH ControlMaster; median and p95 over N runs. Goal: median <= 0.8x.
func BenchmarkExecWarm(b *testing.B) {
	bd := newBed(b)
	ctl, _, _ := bd.controlMaster("cm")
	bd.connect("--name", "w")
	rounds := pick(200, 20)
	// One unmeasured call each: the first mux and exec channel open.
	bd.must("ssh", bd.muxArgs(ctl, "true")...)
	bd.mrs("exec", "w", "--", "true")

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
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		var s samples
		for b.Loop() {
			for range rounds {
				s = append(s, bd.timed(bd.bin, "exec", "w", "--", "true"))
			}
		}
		reportLatency(b, s)
		if len(base) == 0 {
			return
		}
		r := msf(s.median()) / msf(base.median())
		b.ReportMetric(r, "ratio_vs_openssh")
		b.ReportMetric(msf(s.p95())/msf(base.p95()), "p95_ratio_vs_openssh")
		summary{Name: "exec warm (median)", Ours: ms(s.median()), Base: "ControlMaster " + ms(base.median()),
			Ratio: r, Goal: "<= 0.8x", Met: r <= 0.8,
			Note: fmt.Sprintf("p95 ours %s vs %s; %d runs", ms(s.p95()), ms(base.p95()), len(s))}.log(b)
	})
}

// block is 1 MiB of random bytes, written over and over by the throughput
// benchmarks (nothing on the way compresses, but nothing could cheat either).
var block = sync.OnceValue(func() []byte {
	b := make([]byte, 1<<20)
	_, _ = rand.Read(b)
	return b
})

// writeN writes n bytes of block to w.
func writeN(w io.Writer, n int64) error {
	blk := block()
	for n > 0 {
		m := min(n, int64(len(blk)))
		if _, err := w.Write(blk[:m]); err != nil {
			return err
		}
		n -= m
	}
	return nil
}

// pipeRun runs cmd, writing up bytes to its stdin (then closing it) and
// counting what it writes to stdout, which must be down bytes.
func pipeRun(cmd *exec.Cmd, up, down int64) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		err := writeN(stdin, up)
		if cerr := stdin.Close(); err == nil {
			err = cerr
		}
		werr <- err
	}()
	got, rerr := io.CopyBuffer(io.Discard, stdout, make([]byte, 256<<10))
	err = cmd.Wait()
	if e := <-werr; err == nil && rerr == nil && e != nil {
		err = fmt.Errorf("write stdin: %w", e)
	}
	if err == nil && rerr != nil {
		err = fmt.Errorf("read stdout: %w", rerr)
	}
	if err == nil && got != down {
		err = fmt.Errorf("read %d bytes from stdout, want %d", got, down)
	}
	return err
}

// reps is how many times a throughput benchmark repeats its transfer per op
// (3 in full mode, 1 in smoke mode); the ratios compare the best rates of
// each side, the least disturbed by other work on the machine.
func reps() int { return pick(3, 1) }

// BenchmarkExecThroughput: bytes through stdin (`cat >/dev/null`), stdout
// (`head -c N /dev/zero`) and both at once (`cat`) of `mcp-remote-ssh exec`
// vs `ssh host CMD`, same cipher. 1 GiB each (256 MiB in smoke mode), best of
// reps. Goal: >= 0.8x.
func BenchmarkExecThroughput(b *testing.B) {
	bd := newBed(b)
	off := bd.logOffset()
	bd.connect("--name", "t")
	oursNote := bd.negotiated(off)
	size := pick(int64(1<<30), int64(256<<20))
	modes := []struct {
		name     string
		command  string
		up, down int64
	}{
		{"stdin", "cat >/dev/null", size, 0},
		{"stdout", "head -c " + strconv.FormatInt(size, 10) + " /dev/zero", 0, size},
		{"both", "cat", size, size},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			var base float64
			var baseNote string
			runOne := func(b *testing.B, name string, args ...string) (best float64) {
				b.SetBytes(size * int64(reps()))
				b.ReportAllocs()
				for b.Loop() {
					for range reps() {
						ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
						cmd := bd.command(ctx, name, args...)
						start := time.Now()
						err := pipeRun(cmd, m.up, m.down)
						best = max(best, float64(size)/time.Since(start).Seconds())
						cancel()
						if err != nil {
							b.Fatalf("%s: %v", m.command, err)
						}
					}
				}
				b.ReportMetric(best/1e6, "best-MB/s")
				return best
			}
			b.Run("openssh", func(b *testing.B) {
				off := bd.logOffset()
				base = runOne(b, "ssh", bd.sshArgs([]string{"-o", "ControlMaster=no", "-o", "ControlPath=none"}, m.command)...)
				baseNote = bd.negotiated(off)
			})
			b.Run("ours", func(b *testing.B) {
				rate := runOne(b, bd.bin, "exec", "t", "--", m.command)
				if base == 0 {
					return
				}
				r := rate / base
				b.ReportMetric(r, "ratio_vs_openssh")
				summary{Name: "exec throughput " + m.name, Ours: mbps(rate), Base: "ssh " + mbps(base),
					Ratio: r, Goal: ">= 0.8x", Met: r >= 0.8,
					Note: fmt.Sprintf("%d MiB, best of %d; ssh: %s; ours: %s", size>>20, reps(), baseNote, oursNote)}.log(b)
			})
		})
	}
}
