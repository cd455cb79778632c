package bench

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkExecAcrossSessions: exec throughput (commands per second) of
// `exec SESSION -- true` spread over 100 sessions (10 in smoke mode), 100 at
// a time, as a script driving a fleet runs it, vs `ssh -S CTL host true`
// through as many OpenSSH ControlMasters. Both sides start one client
// process per command. Higher is better.
func BenchmarkExecAcrossSessions(b *testing.B) {
	n := pick(100, 10)
	cmds := pick(1000, 50)
	bd := newBed(b, fmt.Sprintf("MaxStartups %d:30:%d", n+50, 2*n+100))
	bd.holder()
	ids := make([]string, n)
	ctls := make([]string, n)
	for i := range n {
		ids[i] = bd.connect()
		ctls[i], _, _ = bd.controlMaster(fmt.Sprintf("f%d", i))
	}
	width := min(n, 100)
	var base float64
	b.Run("openssh-controlmasters", func(b *testing.B) {
		for b.Loop() {
			var done atomic.Int64
			start := time.Now()
			if err := parallel(cmds, width, func(i int) error {
				_, err := bd.run("ssh", bd.muxArgs(ctls[i%n], "true")...)
				done.Add(1)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			base = float64(done.Load()) / time.Since(start).Seconds()
		}
		b.ReportMetric(base, "cmds/s")
	})
	b.Run("ours", func(b *testing.B) {
		var rate float64
		for b.Loop() {
			var done atomic.Int64
			start := time.Now()
			if err := parallel(cmds, width, func(i int) error {
				_, err := bd.run(bd.bin, "exec", ids[i%n], "-n", "--", "true")
				done.Add(1)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			rate = float64(done.Load()) / time.Since(start).Seconds()
		}
		b.ReportMetric(rate, "cmds/s")
		if base == 0 {
			return
		}
		b.ReportMetric(rate/base, "ratio_vs_openssh")
		summary{Name: fmt.Sprintf("exec throughput across %d sessions, %d at a time", n, width), Ours: fmt.Sprintf("%.0f cmds/s", rate),
			Base: fmt.Sprintf("%d ControlMasters %.0f cmds/s", n, base), Ratio: rate / base, Goal: "(issue 10: reported)", Met: true,
			Note: fmt.Sprintf("%d commands, one client process each on both sides", cmds)}.log(b)
	})
}
