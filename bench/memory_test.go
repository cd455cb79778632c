package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// threads reads the thread count of pid (Threads: in /proc/PID/status).
func threads(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(rest))
			return n
		}
	}
	return 0
}

// parallel runs f(i) for i in [0, n) with at most width at once, and
// returns the first error.
func parallel(n, width int, f func(i int) error) error {
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// BenchmarkMemory: holder RSS (VmRSS of the holder process) with 1, 100 and,
// in full mode, 1,000 idle sessions to one sshd vs as many OpenSSH
// ControlMaster processes (the sum of their RSS). Goals: 100 sessions <
// 30 MiB, 1,000 < 150 MiB, >= 20x less than the ControlMasters.
func BenchmarkMemory(b *testing.B) {
	counts := pick([]int{1, 100, 1000}, []int{1, 100})
	top := counts[len(counts)-1]
	bd := newBed(b, fmt.Sprintf("MaxStartups %d:30:%d", top+100, 2*top+200))
	pid := bd.holder()
	c, ctx := bd.client()
	sessions := 0
	// Dial gently: the holder lets 2 dials per host run at once anyway.
	const width = 4

	for _, n := range counts {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			var cmSum, cmPss int64
			b.Run("openssh-controlmaster", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					pids := make([]int, n)
					stops := make([]func(), n)
					err := parallel(n, width, func(i int) error {
						var err error
						_, pids[i], stops[i], err = bd.startControlMaster(fmt.Sprintf("m%d", i))
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					cmSum, cmPss = 0, 0
					for _, p := range pids {
						if p != 0 {
							cmSum += rss(b, p)
							cmPss += pss(p)
						}
					}
					for _, stop := range stops {
						if stop != nil {
							stop()
						}
					}
				}
				b.ReportMetric(float64(cmSum)/(1<<20), "rss-MiB")
				b.ReportMetric(float64(cmSum)/float64(n)/(1<<20), "MiB/session")
			})
			b.Run("ours", func(b *testing.B) {
				b.ReportAllocs()
				var r int64
				for b.Loop() {
					if err := parallel(n-sessions, width, func(int) error {
						_, err := c.Connect(ctx, bd.connectRequest())
						return err
					}); err != nil {
						b.Fatal(err)
					}
					sessions = n
					r = rss(b, pid)
				}
				b.ReportMetric(float64(r)/(1<<20), "rss-MiB")
				b.ReportMetric(float64(r)/float64(n)/(1<<20), "MiB/session")
				b.ReportMetric(float64(threads(pid)), "threads")
				if cmSum == 0 {
					return
				}
				ratio := float64(cmSum) / float64(r)
				b.ReportMetric(ratio, "x_less_than_openssh")
				s := summary{Name: fmt.Sprintf("holder RSS, %d idle session(s)", n), Ours: mib(r),
					Base: fmt.Sprintf("%d ControlMaster(s) %s", n, mib(cmSum)), Ratio: float64(r) / float64(cmSum),
					Note: fmt.Sprintf("%.1fx less memory; PSS (shared pages split) ours %s vs %s; %d holder threads",
						ratio, mib(pss(pid)), mib(cmPss), threads(pid))}
				switch n {
				case 100:
					s.Goal, s.Met = "< 30 MiB", r < 30<<20
				case 1000:
					s.Goal, s.Met = "< 150 MiB and >= 20x less", r < 150<<20 && ratio >= 20
				}
				s.log(b)
			})
		})
	}
}
