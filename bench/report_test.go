package bench

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// samples collects latencies of repeated rounds.
type samples []time.Duration

// quantile returns the q-quantile (0..1) by the nearest-rank method.
func (s samples) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(q*float64(len(c))+0.5) - 1
	return c[min(max(i, 0), len(c)-1)]
}

func (s samples) median() time.Duration { return s.quantile(0.5) }
func (s samples) p95() time.Duration    { return s.quantile(0.95) }

// reportLatency reports the median and p95 of s (in ms) on b.
func reportLatency(b *testing.B, s samples) {
	b.ReportMetric(msf(s.median()), "median-ms")
	b.ReportMetric(msf(s.p95()), "p95-ms")
}

// summary is one human line of results, also appended to MRS_BENCH_SUMMARY.
type summary struct {
	// Name is what was measured, e.g. "exec warm (median)".
	Name string
	// Ours and Base are the two sides, with units ("2.10ms",
	// "ControlMaster 6.60ms"); Base may be empty for an absolute goal.
	Ours, Base string
	// Ratio is ours / baseline (or baseline / ours for rates, so that
	// higher is better where the goal says >=); 0 when there is none.
	Ratio float64
	// Goal is the target, e.g. "<= 0.8x" or "< 30 MiB"; Met says whether
	// this run reached it.
	Goal string
	Met  bool
	// Note is extra context (negotiated algorithms, sizes).
	Note string
}

var summaryMu sync.Mutex

// log prints the summary on tb and appends it to $MRS_BENCH_SUMMARY.
func (s summary) log(tb testing.TB) {
	tb.Helper()
	verdict := "met"
	if !s.Met {
		verdict = "NOT met"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ours %s", s.Name, s.Ours)
	if s.Base != "" {
		fmt.Fprintf(&b, " vs %s", s.Base)
	}
	if s.Ratio > 0 {
		fmt.Fprintf(&b, " → %.2fx", s.Ratio)
	}
	if s.Goal != "" {
		fmt.Fprintf(&b, " (goal %s: %s)", s.Goal, verdict)
	}
	if s.Note != "" {
		fmt.Fprintf(&b, " [%s]", s.Note)
	}
	if !full() {
		b.WriteString(" {smoke}")
	}
	tb.Log(b.String())
	path := os.Getenv("MRS_BENCH_SUMMARY")
	if path == "" {
		return
	}
	ratio := "-"
	if s.Ratio > 0 {
		ratio = fmt.Sprintf("%.2fx", s.Ratio)
	}
	if s.Goal == "" {
		verdict = "-"
	}
	clean := func(v string) string {
		if v == "" {
			return "-"
		}
		return strings.NewReplacer("\t", " ", "\n", " ").Replace(v)
	}
	line := strings.Join([]string{clean(s.Name), clean(s.Ours), clean(s.Base), ratio, clean(s.Goal), verdict, clean(s.Note)}, "\t") + "\n"
	summaryMu.Lock()
	defer summaryMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Logf("write summary: %v", err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		tb.Logf("write summary: %v", err)
	}
}
