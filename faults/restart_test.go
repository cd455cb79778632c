//go:build linux

package faults

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestSSHDRestart restarts sshd under a session with a shell, a local and
// a remote forward: the next call reconnects (checking the host key), the
// shell reports that it ended, and both forwards work again (the remote one
// is bound anew on the new connection). A changed host key on a later
// reconnect is refused.
func TestSSHDRestart(t *testing.T) {
	b := newBed(t)
	h := b.holder(t, session.HolderConfig{})
	ctx := ctxT(t, 2*time.Minute)
	id := b.connect(t, ctx, h, b.srv.Addr)
	echoAddr, echoPort := echoServer(t)

	sh, err := h.ShellOpen(ctx, session.ShellOpenRequest{SessionID: id})
	if err != nil {
		t.Fatal(err)
	}
	local, err := h.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, RemoteHost: "127.0.0.1", RemotePort: echoPort})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := h.ForwardOpen(ctx, session.ForwardRequest{SessionID: id, Direction: "remote", LocalHost: "127.0.0.1", LocalPort: echoPort})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{local.Listen, remote.Listen} {
		if err := echoThrough(a, []byte("before"), 10*time.Second); err != nil {
			t.Fatalf("forward %s before the restart: %v", a, err)
		}
	}
	t.Logf("echo %s, local forward %s, remote forward %s", echoAddr, local.Listen, remote.Listen)

	b.srv.Restart(t)
	if !waitFor(5*time.Second, func() bool { return sessionState(t, h, id) == session.StateDisconnected }) {
		t.Errorf("session state %q after sshd restarted, want disconnected", sessionState(t, h, id))
	}

	// Shells report that they ended with the connection.
	rd, err := h.ShellRead(ctx, session.ShellReadRequest{SessionID: id, ShellID: sh.ShellID})
	if err != nil || !rd.Exited {
		t.Errorf("shell read after the restart: exited=%v err=%v, want exited", rd.Exited, err)
	}
	_, err = h.ShellSend(ctx, session.ShellSendRequest{SessionID: id, ShellID: sh.ShellID, Data: "true"})
	wantCode(t, err, session.CodeShellExited)

	// The next call reconnects the same session, host key checked against
	// the line recorded at the first connect.
	r, err := h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "echo again"})
	if err != nil || r.Stdout != "again\n" {
		t.Fatalf("exec after the restart: %+v %v", r, err)
	}
	if st := sessionState(t, h, id); st != session.StateConnected {
		t.Errorf("session %q after reconnecting", st)
	}
	if err := echoThrough(local.Listen, []byte("local after"), 20*time.Second); err != nil {
		t.Errorf("local forward after the restart: %v", err)
	}
	// The remote forward is bound again in the background after the reconnect.
	var lastErr error
	if !waitFor(20*time.Second, func() bool {
		lastErr = echoThrough(remote.Listen, []byte("remote after"), 5*time.Second)
		return lastErr == nil
	}) {
		t.Errorf("remote forward %s not re-established after the restart: %v", remote.Listen, lastErr)
	}
	list, err := h.ListForwards(ctx, session.ListForwardsRequest{SessionID: id})
	if err != nil || len(list.Forwards) != 2 {
		t.Errorf("forwards after the restart: %+v %v", list, err)
	}

	// A reconnect does check the host key: with another key recorded for
	// the address, it is refused.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	kh := filepath.Join(b.env.Home, ".ssh", "known_hosts")
	line := knownhosts.Line([]string{b.srv.Addr}, signer.PublicKey()) + "\n"
	if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	b.srv.Restart(t)
	_, err = h.Exec(ctx, session.ExecRequest{SessionID: id, Command: "true"})
	wantCode(t, err, session.CodeHostKeyMismatch)
}
