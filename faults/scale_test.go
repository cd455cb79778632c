//go:build linux

package faults

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/log"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// scaleEnv turns the scale tests on. scripts/test.sh sets it in its own
// step, run without -race.
const scaleEnv = "MRS_SCALE"

func requireScale(t *testing.T) {
	t.Helper()
	if os.Getenv(scaleEnv) != "1" {
		t.Skip("scale test: runs in the separate scale step of scripts/test.sh (" + scaleEnv + "=1, without -race), not in the -race run")
	}
}

// raiseNoFile lifts the soft open-files limit to the hard one.
func raiseNoFile(t *testing.T, want uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < want && lim.Max > lim.Cur {
		old := lim
		lim.Cur = min(lim.Max, max(want, lim.Cur))
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	}
	if lim.Cur < want {
		t.Fatalf("open files limit %d (hard %d), need %d", lim.Cur, lim.Max, want)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func rssKiB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// forEach runs fn(i) for i in [0, n) on up to par goroutines and returns the errors.
func forEach(n, par int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := make(chan int)
	for range par {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("#%d: %w", i, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}

func reportErrs(t *testing.T, what string, errs []error) {
	t.Helper()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("%s: %d more errors", what, len(errs)-10)
			break
		}
		t.Errorf("%s %v", what, err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
}

// TestScale holds 1,000 sessions to one sshd in one holder, runs 1,000
// concurrent commands across them and 100 concurrent uploads, then closes
// the holder: everything succeeds and no goroutine or file descriptor is
// left behind. The holder's heap and the process RSS are logged.
func TestScale(t *testing.T) {
	requireScale(t)
	const sessions, transfers = 1000, 100
	raiseNoFile(t, 4*sessions)
	b := newBed(t, sshdtest.WithConfig("MaxStartups 200:30:400", "MaxSessions 16"))
	ctx := ctxT(t, 15*time.Minute)
	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap, baseRSS := ms.HeapInuse, rssKiB()

	// The default keepalive (15 s): 1,000 sessions probed every second would
	// be a load test of sshd, not of the holder.
	h := session.NewHolder(session.HolderConfig{Logger: log.New(b.logs), Home: b.env.Home, MaxDialsPerHost: 8})
	closed := false
	defer func() {
		if !closed {
			h.Close()
		}
	}()

	start := time.Now()
	ids := make([]string, sessions)
	target := b.user.Name + "@" + b.srv.Addr
	reportErrs(t, "connect", forEach(sessions, 64, func(i int) error {
		r, err := h.Connect(ctx, session.ConnectRequest{Host: target, KeyPath: b.user.KeyPath})
		ids[i] = r.SessionID
		return err
	}))
	t.Logf("%d sessions connected in %v", sessions, time.Since(start).Round(time.Millisecond))
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("holder with %d idle sessions: heap in use +%.1f MiB, process RSS +%.1f MiB (%.1f KiB per session), %d goroutines (+%d)",
		sessions, float64(ms.HeapInuse-baseHeap)/(1<<20), float64(rssKiB()-baseRSS)/1024, float64(rssKiB()-baseRSS)/sessions,
		runtime.NumGoroutine(), runtime.NumGoroutine()-baseG)

	start = time.Now()
	reportErrs(t, "exec", forEach(sessions, sessions, func(i int) error {
		r, err := h.Exec(ctx, session.ExecRequest{SessionID: ids[i], Command: "echo " + strconv.Itoa(i)})
		if err != nil {
			return err
		}
		if r.Stdout != strconv.Itoa(i)+"\n" || r.ExitCode == nil || *r.ExitCode != 0 {
			return fmt.Errorf("result %+v", r)
		}
		return nil
	}))
	t.Logf("%d concurrent execs in %v", sessions, time.Since(start).Round(time.Millisecond))

	dir := t.TempDir()
	data := randomBytes(t, 256<<10)
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	reportErrs(t, "transfer", forEach(transfers, transfers, func(i int) error {
		remote := filepath.Join(b.user.Home, fmt.Sprintf("scale-%d", i))
		if _, err := h.Upload(ctx, session.UploadRequest{SessionID: ids[i], LocalPath: src, RemotePath: remote}); err != nil {
			return err
		}
		local := filepath.Join(dir, fmt.Sprintf("back-%d", i))
		if _, err := h.Download(ctx, session.DownloadRequest{SessionID: ids[(i+1)%sessions], RemotePath: remote, LocalPath: local}); err != nil {
			return err
		}
		if got, err := os.ReadFile(local); err != nil || !bytes.Equal(got, data) {
			return fmt.Errorf("round trip of 256 KiB: %d bytes, %v", len(got), err)
		}
		return nil
	}))
	t.Logf("%d concurrent 256 KiB upload+download round trips in %v", transfers, time.Since(start).Round(time.Millisecond))
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("holder after the load: heap in use +%.1f MiB, process RSS +%.1f MiB, %d goroutines",
		float64(ms.HeapInuse-baseHeap)/(1<<20), float64(rssKiB()-baseRSS)/1024, runtime.NumGoroutine())

	start = time.Now()
	h.Close()
	closed = true
	t.Logf("holder closed in %v", time.Since(start).Round(time.Millisecond))
	// Goroutines and descriptors go back to where they were (a small
	// tolerance for runtime and net/http idle helpers).
	var g, fd int
	ok := waitFor(30*time.Second, func() bool {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		return g <= baseG+10 && fd <= baseFD+5
	})
	if !ok {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("after closing %d sessions: %d goroutines (%d before), %d open fds (%d before)\n%s", sessions, g, baseG, fd, baseFD, buf[:n])
	}
}
