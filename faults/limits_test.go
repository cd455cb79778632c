//go:build linux

package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/faultproxy"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// TestMaxStartups: sshd refuses a third unauthenticated connection
// (MaxStartups 2); 20 concurrent first-use connects through one holder all
// succeed because the holder keeps at most two dials to a host in flight.
// A proxy with 30 ms each way makes every dial last a while and counts
// accepted connections; the test counts finished connects.
func TestMaxStartups(t *testing.T) {
	b := newBed(t, sshdtest.WithConfig("MaxStartups 2"))
	p := faultproxy.Start(t, b.srv.Addr)
	p.SetDelay(30*time.Millisecond, 30*time.Millisecond)
	h := b.holder(t, session.HolderConfig{})
	ctx := ctxT(t, 2*time.Minute)

	const n = 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ends []time.Time
		errs []error
	)
	for range n {
		wg.Go(func() {
			_, err := h.Connect(ctx, session.ConnectRequest{Host: b.user.Name + "@" + p.Addr, KeyPath: b.user.KeyPath})
			mu.Lock()
			defer mu.Unlock()
			ends = append(ends, time.Now())
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("connect: %v", err)
	}
	// Connections sshd dropped before its banner (it may count a
	// connection as unauthenticated a little after the client has
	// authenticated) are tried again by the holder within the same dial.
	var starts []time.Time
	dropped := 0
	for _, c := range p.Conns() {
		if c.Down == 0 {
			dropped++
			continue
		}
		starts = append(starts, c.Accepted)
	}
	if len(starts) != n {
		t.Errorf("%d sessions' connections reached the proxy for %d connects", len(starts), n)
	}
	// Dials in flight when each connection arrived: those accepted before
	// it whose Connect had not returned. A dial's slot is released just
	// before its Connect returns, so returns up to 20 ms after an accept
	// are counted as done (a dial here takes several 60 ms round trips).
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	peak := 0
	for i, s := range starts {
		done := 0
		for _, e := range ends {
			if e.Before(s.Add(20 * time.Millisecond)) {
				done++
			}
		}
		if inFlight := i + 1 - done; inFlight > peak {
			peak = inFlight
		}
	}
	t.Logf("%d connects, %d succeeded, at most %d dials in flight; %d connections dropped by sshd before its banner and tried again",
		n, n-len(errs), peak, dropped)
	if peak > 2 {
		t.Errorf("%d dials were in flight at once, want at most 2", peak)
	}
	if drops := grepLines(b.srv.Log(), "MaxStartups"); drops != "" {
		t.Logf("sshd log:\n%s", drops)
	}
}

// TestMaxSessions: with sshd's MaxSessions 2, eight concurrent commands and
// an SFTP operation on one session all complete (channel opens past the
// limit wait for a free one).
func TestMaxSessions(t *testing.T) {
	b := newBed(t, sshdtest.WithConfig("MaxSessions 2"))
	h := b.holder(t, session.HolderConfig{})
	ctx := ctxT(t, 2*time.Minute)
	id := b.connect(t, ctx, h, b.srv.Addr)
	local := filepath.Join(t.TempDir(), "up")
	if err := os.WriteFile(local, []byte("sftp under MaxSessions\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 8 {
		wg.Go(func() {
			r, err := h.Exec(ctx, session.ExecRequest{SessionID: id, Command: fmt.Sprintf("sleep 0.3; echo %d", i)})
			if err != nil {
				errs <- fmt.Errorf("exec %d: %w", i, err)
			} else if r.Stdout != fmt.Sprintf("%d\n", i) {
				errs <- fmt.Errorf("exec %d: stdout %q", i, r.Stdout)
			}
		})
	}
	wg.Go(func() {
		// Let the commands take both channels first.
		waitFor(5*time.Second, func() bool { return remoteAlive("sleep 0.3") })
		remote := filepath.Join(b.user.Home, "maxsessions.txt")
		if _, err := h.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: local, RemotePath: remote}); err != nil {
			errs <- fmt.Errorf("upload: %w", err)
			return
		}
		if _, err := h.ListDir(ctx, session.ListDirRequest{SessionID: id, RemotePath: b.user.Home}); err != nil {
			errs <- fmt.Errorf("list dir: %w", err)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
