//go:build linux

package faults

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/faultproxy"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// TestLinkCutMidCommand puts sshd behind a veth link in a namespace of the
// test's own and takes the link down while a command runs: keepalives notice
// within keepalive x (max+1), the command reports the lost connection and an
// unknown outcome, the session turns disconnected, and once the link is
// back the next command reconnects the same session.
func TestLinkCutMidCommand(t *testing.T) {
	b := newBed(t)
	ns := newNetns(t)
	addr := ns.startSSHD(t, b.srv)
	h := b.holder(t, session.HolderConfig{})
	ctx := ctxT(t, 2*time.Minute)
	id := b.connect(t, ctx, h, addr)

	cmd, marker := sleeper(30)
	type out struct {
		res session.ExecResult
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := h.Exec(ctx, session.ExecRequest{SessionID: id, Command: cmd})
		done <- out{r, err}
	}()
	if !waitFor(10*time.Second, func() bool { return remoteAlive(marker) }) {
		t.Fatalf("the remote %q never started", cmd)
	}
	ns.setLink(t, false)
	cut := time.Now()
	var o out
	select {
	case o = <-done:
	case <-time.After(lostWithin):
		t.Fatalf("exec still running %v after the link went down (keepalive %v x %d)", lostWithin, keepalive, keepaliveMax)
	}
	t.Logf("link down noticed after %v", time.Since(cut).Round(time.Millisecond))
	e := wantCode(t, o.err, session.CodeConnectionLost)
	if o.res.Outcome != session.OutcomeUnknown || o.res.ExitCode != nil {
		t.Errorf("result after a cut link: outcome %q, exit code %v; want unknown, null", o.res.Outcome, o.res.ExitCode)
	}
	if !strings.Contains(e.Message, "lost") {
		t.Errorf("error should say the connection was lost: %v", e)
	}
	if !waitFor(2*time.Second, func() bool { return sessionState(t, h, id) == session.StateDisconnected }) {
		t.Errorf("session state %q after the cut, want disconnected", sessionState(t, h, id))
	}

	ns.setLink(t, true)
	r, err := h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "echo back"})
	if err != nil || r.Stdout != "back\n" {
		t.Fatalf("exec after the link came back: %+v, %v", r, err)
	}
	if st := sessionState(t, h, id); st != session.StateConnected {
		t.Errorf("session %s is %q after reconnecting", id, st)
	}
}

// TestLinkCutMidTransfer cuts the link (veth down) while a file moves each
// way; a throttling proxy in front of the namespace keeps the transfer slow
// enough to be cut in the middle. The destination keeps its old content,
// no local temporary file is left, and the error says how many bytes had
// been sent.
func TestLinkCutMidTransfer(t *testing.T) {
	b := newBed(t)
	ns := newNetns(t)
	addr := ns.startSSHD(t, b.srv)
	const size = 16 << 20
	newData := randomBytes(t, size)
	oldData := []byte("old content\n")

	for _, dir := range []string{"put", "get"} {
		t.Run(dir, func(t *testing.T) {
			ns.setLink(t, true)
			p := faultproxy.Start(t, addr)
			p.SetRate(2 << 20)
			h := b.holder(t, session.HolderConfig{})
			ctx := ctxT(t, 2*time.Minute)
			id := b.connect(t, ctx, h, p.Addr)

			localDir := t.TempDir()
			var dst, watchDir string
			var call func() (int64, error)
			name := "cut-" + dir + "-" + randomHex(3)
			if dir == "put" {
				src := filepath.Join(localDir, "src.bin")
				if err := os.WriteFile(src, newData, 0o644); err != nil {
					t.Fatal(err)
				}
				dst = b.remoteFile(t, name, oldData)
				watchDir = b.user.Home
				call = func() (int64, error) {
					r, err := h.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: dst})
					return r.Bytes, err
				}
			} else {
				src := b.remoteFile(t, name+".src", newData)
				dst = filepath.Join(localDir, "dst.bin")
				if err := os.WriteFile(dst, oldData, 0o644); err != nil {
					t.Fatal(err)
				}
				watchDir = localDir
				call = func() (int64, error) {
					r, err := h.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: src, LocalPath: dst})
					return r.Bytes, err
				}
			}
			type out struct {
				n   int64
				err error
			}
			done := make(chan out, 1)
			go func() {
				n, err := call()
				done <- out{n, err}
			}()
			if !waitFor(30*time.Second, func() bool { return tempGrown(t, watchDir, 256<<10) }) {
				t.Fatalf("no temporary file of 256 KiB appeared in %s", watchDir)
			}
			ns.setLink(t, false)
			var o out
			select {
			case o = <-done:
			case <-time.After(lostWithin):
				t.Fatalf("%s still running %v after the link went down", dir, lostWithin)
			}
			e := wantCode(t, o.err, session.CodeConnectionLost)
			t.Logf("%s error: %v", dir, e)
			if !strings.Contains(e.Message, "bytes") {
				t.Errorf("the error should say how many bytes had been sent: %v", e)
			}
			got, err := os.ReadFile(dst)
			if dir == "put" {
				got, err = os.ReadFile(dst) // the remote is this machine
			}
			if err != nil || !bytes.Equal(got, oldData) {
				t.Errorf("destination after a cut %s: %d bytes (%v), want the old %d", dir, len(got), err, len(oldData))
			}
			if dir == "get" {
				if left := tempFiles(t, localDir); len(left) > 0 {
					t.Errorf("local temporary files left after a cut download: %v", left)
				}
			}
			ns.setLink(t, true)
			// The session reconnects and the transfer then completes.
			if _, err := call(); err != nil {
				t.Fatalf("%s again after the link came back: %v", dir, err)
			}
			got, _ = os.ReadFile(dst)
			if !bytes.Equal(got, newData) {
				t.Errorf("destination after the retried %s differs (%d bytes)", dir, len(got))
			}
			if dir == "put" {
				// The remote temporary file could not be removed over the
				// dead link; the holder removes it once SFTP runs again on
				// the reconnected session.
				if !waitFor(5*time.Second, func() bool { return len(tempFiles(t, b.user.Home)) == 0 }) {
					t.Errorf("remote temporary files left by the cut upload: %v", tempFiles(t, b.user.Home))
				}
			}
		})
	}
}
