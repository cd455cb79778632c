package cmd_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

func sha(t *testing.T, b []byte) string {
	t.Helper()
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestFilesCLI(t *testing.T) {
	h := newHarness(t, true)
	want(t, h.run("connect", h.target(), "-i", h.user.KeyPath, "--name", "web"), 0)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	data := make([]byte, 3<<20+7)
	rand.Read(data)
	local := filepath.Join(dir, "file with space.bin")
	os.WriteFile(local, data, 0o644)

	// put into the remote home (relative path), get back into a directory.
	r := h.run("put", "web", local, "up.bin", "--json")
	want(t, r, 0)
	var up session.UploadResult
	json.Unmarshal([]byte(r.stdout), &up)
	if up.Files != 1 || up.Bytes != int64(len(data)) || up.RemotePath != filepath.Join(h.user.Home, "up.bin") {
		t.Errorf("upload result %+v", up)
	}
	want(t, h.run("exec", "web", "--", "sha256sum up.bin"), 0, "out:"+sha(t, data))
	got := filepath.Join(dir, "back") + "/"
	os.Mkdir(got, 0o755)
	want(t, h.run("get", "web", "~/up.bin", got), 0, "downloaded 1 file(s)")
	back, _ := os.ReadFile(filepath.Join(got, "up.bin"))
	if !bytes.Equal(back, data) {
		t.Error("download differs")
	}
	// Recursive both ways.
	tree := filepath.Join(dir, "tree")
	for i := 0; i < 20; i++ {
		p := filepath.Join(tree, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(strings.Repeat("x", i)), 0o644)
	}
	want(t, h.run("put", "web", "-r", tree, "tree"), 0, "uploaded 20 file(s)")
	want(t, h.run("get", "web", "-r", "tree", filepath.Join(dir, "tree2")), 0, "downloaded 20 file(s)")
	// write, append, mode, cat, ls.
	want(t, h.runWith(runOpts{stdin: strings.NewReader("x=1\n")}, "write", "web", "env.txt", "--mode", "0640"), 0)
	want(t, h.runWith(runOpts{stdin: strings.NewReader("y=2\n")}, "write", "web", "env.txt", "--append"), 0)
	want(t, h.run("cat", "web", "env.txt"), 0, "out:x=1\ny=2\n")
	want(t, h.run("cat", "web", "env.txt", "--offset", "4", "--limit", "2"), 0, "out:y=", "truncated")
	r = h.run("ls", "web", ".", "-l")
	want(t, r, 0, "out:0640", "out:env.txt", "out:dir")
	want(t, h.run("cat", "web", "/bin/ls"), 1, "binary", "ELF")
	// Bad input: missing files name the path and side; the old file survives a refused overwrite.
	want(t, h.run("put", "web", filepath.Join(dir, "nope"), "x"), 1, "not_found", "nope", "local")
	want(t, h.run("get", "web", "/no/such/file", dir), 1, "not_found", "/no/such/file", "remote")
	want(t, h.run("put", "web", local, "env.txt", "--no-overwrite"), 1, "exists")
	want(t, h.run("cat", "web", "env.txt"), 0, "out:x=1\ny=2\n")
	want(t, h.run("write", "web", "x", "--mode", "999"), 2, "octal")
	want(t, h.run("cat", "web", "x", "--limit", "lots"), 2, "byte count")
	want(t, h.run("put", "web", "-r", tree, "/root/forbidden"), 1, "permission_denied")
}

func TestForwardCLI(t *testing.T) {
	h := newHarness(t, true)
	want(t, h.run("connect", h.target(), "-i", h.user.KeyPath, "--name", "web"), 0)
	// An echo server on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	echoPort := ln.Addr().(*net.TCPAddr).Port
	r := h.run("forward", "web", "-L", fmt.Sprintf("0:127.0.0.1:%d", echoPort), "--json")
	want(t, r, 0)
	var fw session.ForwardResult
	json.Unmarshal([]byte(r.stdout), &fw)
	if fw.ForwardID == "" || !strings.HasPrefix(fw.Listen, "127.0.0.1:") {
		t.Fatalf("forward %+v", fw)
	}
	// The forward outlives the CLI process that made it.
	c, err := net.DialTimeout("tcp", fw.Listen, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("through the tunnel")
	c.Write(msg)
	buf := make([]byte, len(msg))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, msg) {
		t.Fatalf("echo: %q %v", buf, err)
	}
	c.Close()
	r = h.run("forward", "list", "--json")
	want(t, r, 0)
	var list session.ListForwardsResult
	json.Unmarshal([]byte(r.stdout), &list)
	if len(list.Forwards) != 1 || list.Forwards[0].TotalConns != 1 || list.Forwards[0].BytesOut != int64(len(msg)) || list.Forwards[0].BytesIn != int64(len(msg)) {
		t.Errorf("counters %+v", list.Forwards)
	}
	want(t, h.run("forward", "list"), 0, "out:"+fw.ForwardID, "out:local")
	// The session row counts it.
	want(t, h.run("sessions", "--json"), 0, `out:"forwards":1`)
	want(t, h.run("forward", "close", fw.ForwardID), 0)
	if !sshdtest.PortRefuses(fw.Listen) {
		t.Error("port still accepts after close")
	}
	// Bad input.
	want(t, h.run("forward", "web", "-L", "bad"), 2, "accepted forms")
	want(t, h.run("forward", "web", "-L", "1:x:1", "-D", "2"), 2, "exactly one")
	want(t, h.run("forward", "close", "deadbeef"), 1, "not_found")
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	want(t, h.run("forward", "web", "-L", fmt.Sprintf("%d:127.0.0.1:%d", busy.Addr().(*net.TCPAddr).Port, echoPort)), 1, "port_in_use", fmt.Sprint(busy.Addr().(*net.TCPAddr).Port))
}
