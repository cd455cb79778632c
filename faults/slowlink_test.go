//go:build linux

package faults

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/faultproxy"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

// TestSlowLink adds 100 ms each way (a 200 ms round trip): exec, put, get
// and a local forward still complete with the short keepalive, and their
// times are logged next to OpenSSH's ssh and scp through the same proxy.
func TestSlowLink(t *testing.T) {
	b := newBed(t)
	p := faultproxy.Start(t, b.srv.Addr)
	p.SetDelay(100*time.Millisecond, 100*time.Millisecond)
	h := b.holder(t, session.HolderConfig{})
	ctx := ctxT(t, 3*time.Minute)

	start := time.Now()
	id := b.connect(t, ctx, h, p.Addr)
	connectTime := time.Since(start)

	start = time.Now()
	r, err := h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "echo slow"})
	if err != nil || r.Stdout != "slow\n" {
		t.Fatalf("exec over a slow link: %+v %v", r, err)
	}
	execTime := time.Since(start)

	const size = 4 << 20
	data := randomBytes(t, size)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	remote := filepath.Join(b.user.Home, "slow-"+randomHex(3))
	start = time.Now()
	if _, err := h.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: remote}); err != nil {
		t.Fatalf("upload over a slow link: %v", err)
	}
	putTime := time.Since(start)
	back := filepath.Join(dir, "back")
	start = time.Now()
	if _, err := h.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: remote, LocalPath: back}); err != nil {
		t.Fatalf("download over a slow link: %v", err)
	}
	getTime := time.Since(start)
	if got, _ := os.ReadFile(back); !bytes.Equal(got, data) {
		t.Fatalf("round trip over a slow link changed the file")
	}

	// A stall shorter than the keepalive's patience (keepalive x (max+1) of
	// silence) holds the upload back but does not kill the session.
	stallDone := make(chan error, 1)
	go func() {
		_, err := h.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: remote + ".stalled"})
		stallDone <- err
	}()
	if !waitFor(30*time.Second, func() bool { return tempGrown(t, b.user.Home, 64<<10) }) {
		t.Fatal("the second upload never got going")
	}
	p.Stall()
	<-time.After(keepalive * 3 / 2)
	p.Resume()
	if err := <-stallDone; err != nil {
		t.Fatalf("upload through a %v stall: %v", keepalive*3/2, err)
	}

	_, echoPort := echoServer(t)
	fw, err := h.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, RemoteHost: "127.0.0.1", RemotePort: echoPort})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := echoThrough(fw.Listen, data[:1<<20], time.Minute); err != nil {
		t.Fatalf("1 MiB echo through a forward over a slow link: %v", err)
	}
	fwdTime := time.Since(start)

	// OpenSSH through the same proxy, from the same client home.
	sshArgs := []string{"-F", "/dev/null", "-i", b.user.KeyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=accept-new", "-o", "UserKnownHostsFile=" + filepath.Join(b.env.Home, ".ssh", "known_hosts")}
	run := func(name string, args ...string) time.Duration {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, name, args...)
		cmd.Env = b.env.Environ()
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return time.Since(start)
	}
	target := b.user.Name + "@" + p.Host()
	sshTime := run("ssh", append(append([]string{}, sshArgs...), "-p", p.PortString(), target, "echo slow")...)
	scpPut := run("scp", append(append([]string{}, sshArgs...), "-P", p.PortString(), src, target+":"+remote+".scp")...)
	scpGet := run("scp", append(append([]string{}, sshArgs...), "-P", p.PortString(), target+":"+remote+".scp", back+".scp")...)

	mibs := func(d time.Duration) string {
		return strconv.FormatFloat(float64(size)/(1<<20)/d.Seconds(), 'f', 2, 64) + " MiB/s"
	}
	t.Logf("100 ms each way: connect %v; exec on the live session %v vs ssh (new connection each time) %v",
		connectTime.Round(time.Millisecond), execTime.Round(time.Millisecond), sshTime.Round(time.Millisecond))
	t.Logf("4 MiB put %v (%s) vs scp %v (%s): ratio %.2f", putTime.Round(time.Millisecond), mibs(putTime),
		scpPut.Round(time.Millisecond), mibs(scpPut), scpPut.Seconds()/putTime.Seconds())
	t.Logf("4 MiB get %v (%s) vs scp %v (%s): ratio %.2f", getTime.Round(time.Millisecond), mibs(getTime),
		scpGet.Round(time.Millisecond), mibs(scpGet), scpGet.Seconds()/getTime.Seconds())
	t.Logf("1 MiB echo through a local forward: %v", fwdTime.Round(time.Millisecond))
}
