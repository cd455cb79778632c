package mcpserve

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func writeLocal(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// The SFTP tools through the go-sdk client against the real sshd, with the
// local-path policy.
func TestFileTools(t *testing.T) {
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 180*time.Second)
	var mu sync.Mutex
	var progress []*mcp.ProgressNotificationParams
	cs := client(t, f.s, &mcp.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		mu.Lock()
		progress = append(progress, r.Params)
		mu.Unlock()
	}})
	conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
	sid := conn.SessionID
	args := func(kv ...any) map[string]any {
		m := map[string]any{"session_id": sid}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	exec := func(cmd string) string {
		t.Helper()
		r, _ := call[session.ExecResult](t, ctx, cs, "ssh_execute", args("command", cmd))
		if r.ExitCode == nil || *r.ExitCode != 0 {
			t.Fatalf("%s: %+v", cmd, r)
		}
		return r.Stdout
	}

	t.Run("upload and download round trip", func(t *testing.T) {
		data := make([]byte, 1<<20+7)
		rand.Read(data)
		writeLocal(t, filepath.Join(f.local, "data.bin"), data)
		up, res := call[session.UploadResult](t, ctx, cs, "ssh_upload_file", args("local_path", "data.bin", "remote_path", "data.bin"))
		if up.Files != 1 || up.Bytes != int64(len(data)) || up.RemotePath != filepath.Join(f.user.Home, "data.bin") {
			t.Errorf("upload %+v", up)
		}
		if !strings.Contains(resultText(res), `"files":1`) {
			t.Errorf("text rendering %q", resultText(res))
		}
		down, _ := call[session.DownloadResult](t, ctx, cs, "ssh_download_file", args("remote_path", "data.bin", "local_path", "back.bin"))
		if down.Files != 1 || down.Bytes != int64(len(data)) || down.LocalPath != filepath.Join(f.local, "back.bin") {
			t.Errorf("download %+v: local_path should be absolute, under the local root", down)
		}
		if sum(t, filepath.Join(f.local, "back.bin")) != sha256.Sum256(data) {
			t.Error("round trip changed the content")
		}
		// Into an existing directory, by absolute path.
		os.Mkdir(filepath.Join(f.local, "in"), 0o755)
		down, _ = call[session.DownloadResult](t, ctx, cs, "ssh_download_file", args("remote_path", "~/data.bin", "local_path", filepath.Join(f.local, "in")))
		if sum(t, filepath.Join(f.local, "in", "data.bin")) != sha256.Sum256(data) {
			t.Errorf("download into a directory: %+v", down)
		}
		callErr(t, ctx, cs, "ssh_upload_file", args("local_path", "missing.bin", "remote_path", "x"), session.CodeNotFound)
		callErr(t, ctx, cs, "ssh_download_file", args("remote_path", "missing.bin", "local_path", "x"), session.CodeNotFound)
	})

	t.Run("recursive upload", func(t *testing.T) {
		tree := filepath.Join(f.local, "tree")
		writeLocal(t, filepath.Join(tree, "a.txt"), []byte("alpha\n"))
		writeLocal(t, filepath.Join(tree, "sub", "b.txt"), []byte("beta\n"))
		writeLocal(t, filepath.Join(tree, "sub", "deeper", "c.txt"), []byte("gamma\n"))
		up, _ := call[session.UploadResult](t, ctx, cs, "ssh_upload_file", args("local_path", "tree", "remote_path", "up", "recursive", true))
		if up.Files != 3 || up.Bytes != 17 {
			t.Errorf("recursive upload %+v", up)
		}
		if got := exec("cd up && find . -type f | sort | xargs cat"); got != "alpha\nbeta\ngamma\n" {
			t.Errorf("remote tree content %q", got)
		}
		callErr(t, ctx, cs, "ssh_upload_file", args("local_path", "tree", "remote_path", "up2"), session.CodeInvalidArgument)
	})

	t.Run("local write guard", func(t *testing.T) {
		exec("printf 'ssh-ed25519 AAAA attacker' > key.pub")
		ak := filepath.Join(f.env.Home, ".ssh", "authorized_keys")
		for _, local := range []string{ak, "~/.ssh/authorized_keys", filepath.Join(f.env.Home, ".ssh"), "~/.bashrc"} {
			e := callErr(t, ctx, cs, "ssh_download_file", args("remote_path", "key.pub", "local_path", local), session.CodePolicyDenied)
			if !strings.Contains(e.Hint, "--allow-local-write") {
				t.Errorf("hint should name --allow-local-write: %v", e)
			}
		}
		if _, err := os.Stat(ak); !os.IsNotExist(err) {
			t.Fatalf("authorized_keys written despite the guard: %v", err)
		}
		if _, err := os.Stat(filepath.Join(f.env.Home, ".ssh", "key.pub")); !os.IsNotExist(err) {
			t.Fatalf("file written into ~/.ssh despite the guard: %v", err)
		}
		// The operator allows it.
		allowed := client(t, f.newServer(Options{AllowLocalWrite: []string{ak}}), nil)
		c2, _ := call[session.ConnectResult](t, ctx, allowed, "ssh_connect", f.connectArgs())
		call[session.DownloadResult](t, ctx, allowed, "ssh_download_file", map[string]any{"session_id": c2.SessionID, "remote_path": "key.pub", "local_path": ak})
		if b, _ := os.ReadFile(ak); string(b) != "ssh-ed25519 AAAA attacker" {
			t.Errorf("allowed download wrote %q", b)
		}
		// Reading private keys for an upload is refused; public keys are fine.
		writeLocal(t, filepath.Join(f.env.Home, ".ssh", "id_test"), []byte("PRIVATE"))
		writeLocal(t, filepath.Join(f.env.Home, ".ssh", "id_test.pub"), []byte("PUBLIC"))
		e := callErr(t, ctx, cs, "ssh_upload_file", args("local_path", "~/.ssh/id_test", "remote_path", "stolen"), session.CodePolicyDenied)
		if !strings.Contains(e.Hint, "--allow-local-read") {
			t.Errorf("hint should name --allow-local-read: %v", e)
		}
		call[session.UploadResult](t, ctx, cs, "ssh_upload_file", args("local_path", "~/.ssh/id_test.pub", "remote_path", "id_test.pub"))
		if a := f.audit.String(); !strings.Contains(a, `"local_path":"`+filepath.Join(f.env.Home, ".ssh", "id_test.pub")+`"`) {
			t.Errorf("audit log should record the resolved local path:\n%s", a)
		}
	})

	t.Run("upload progress", func(t *testing.T) {
		big := filepath.Join(f.local, "big.bin")
		data := bytes.Repeat([]byte("0123456789abcdef"), 64<<20/16)
		writeLocal(t, big, data)
		mu.Lock()
		progress = nil
		mu.Unlock()
		p := &mcp.CallToolParams{Name: "ssh_upload_file", Arguments: args("local_path", big, "remote_path", "big.bin")}
		p.SetProgressToken("up-1")
		res, err := cs.CallTool(ctx, p)
		if err != nil || res.IsError {
			t.Fatalf("upload: %v %s", err, resultText(res))
		}
		waitFor(t, 5*time.Second, "the final progress notification", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(progress) >= 2 && progress[len(progress)-1].Progress == float64(len(data))
		})
		mu.Lock()
		last := -1.0
		for _, n := range progress {
			if n.ProgressToken != "up-1" || n.Total != float64(len(data)) || n.Progress <= last {
				t.Errorf("bad progress %+v after %v", n, last)
			}
			last = n.Progress
		}
		t.Logf("%d progress notifications for 64 MiB", len(progress))
		mu.Unlock()
		want := sha256.Sum256(data)
		if got := exec("sha256sum big.bin | cut -c1-64"); strings.TrimSpace(got) != hex.EncodeToString(want[:]) {
			t.Errorf("remote sha256 %s", got)
		}
		os.Remove(big)

		// A canceled download stops and leaves no file behind.
		mu.Lock()
		progress = nil
		mu.Unlock()
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		p = &mcp.CallToolParams{Name: "ssh_download_file", Arguments: args("remote_path", "big.bin", "local_path", "canceled.bin")}
		p.SetProgressToken("down-1")
		done := make(chan error, 1)
		go func() {
			_, err := cs.CallTool(cctx, p)
			done <- err
		}()
		waitFor(t, 10*time.Second, "download progress", func() bool { mu.Lock(); defer mu.Unlock(); return len(progress) > 0 })
		cancel()
		select {
		case err := <-done:
			if err == nil {
				t.Error("canceled download returned no error")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("canceled download did not return")
		}
		waitFor(t, 10*time.Second, "no partial file", func() bool {
			ents, _ := os.ReadDir(f.local)
			for _, e := range ents {
				if strings.Contains(e.Name(), "canceled") {
					return false
				}
			}
			return true
		})
	})

	t.Run("read remote file", func(t *testing.T) {
		exec(`printf '0123456789' > digits.txt; printf 'a\0b\1\2\3' > bin.dat; printf 'x\033[2Jy\n' > esc.txt`)
		r, res := call[session.ReadFileResult](t, ctx, cs, "ssh_read_remote_file", args("remote_path", "digits.txt"))
		if r.Content != "0123456789" || r.Size != 10 || r.Truncated || r.Binary || r.Encoding != "utf-8" {
			t.Errorf("read %+v", r)
		}
		if !strings.HasSuffix(resultText(res), "\n0123456789") {
			t.Errorf("text rendering %q", resultText(res))
		}
		r, _ = call[session.ReadFileResult](t, ctx, cs, "ssh_read_remote_file", args("remote_path", "digits.txt", "offset", 3, "limit", 4))
		if r.Content != "3456" || r.Offset != 3 || r.BytesRead != 4 || !r.Truncated {
			t.Errorf("read offset 3 limit 4: %+v", r)
		}
		r, res = call[session.ReadFileResult](t, ctx, cs, "ssh_read_remote_file", args("remote_path", "bin.dat"))
		if !r.Binary || r.Content != "" || r.Size != 6 {
			t.Errorf("binary read %+v", r)
		}
		if !strings.Contains(resultText(res), "binary") {
			t.Errorf("text rendering %q", resultText(res))
		}
		r, _ = call[session.ReadFileResult](t, ctx, cs, "ssh_read_remote_file", args("remote_path", "esc.txt"))
		if r.Content != `x\x1b[2Jy`+"\n" {
			t.Errorf("escape sequence not neutralised: %q", r.Content)
		}
		callErr(t, ctx, cs, "ssh_read_remote_file", args("remote_path", "nope.txt"), session.CodeNotFound)
	})

	t.Run("write remote file", func(t *testing.T) {
		w, _ := call[session.WriteFileResult](t, ctx, cs, "ssh_write_remote_file", args("remote_path", "w.txt", "content", "one\n", "mode", "0640"))
		if !w.Created || w.BytesWritten != 4 || w.RemotePath != filepath.Join(f.user.Home, "w.txt") {
			t.Errorf("write %+v", w)
		}
		w, _ = call[session.WriteFileResult](t, ctx, cs, "ssh_write_remote_file", args("remote_path", "w.txt", "content", "two\n", "append", true))
		if w.Created || w.BytesWritten != 4 {
			t.Errorf("append %+v", w)
		}
		if got := exec("cat w.txt; stat -c %a w.txt"); got != "one\ntwo\n640\n" {
			t.Errorf("remote content and mode %q", got)
		}
		call[session.WriteFileResult](t, ctx, cs, "ssh_write_remote_file", args("remote_path", "w.txt", "content", "three\n"))
		if got := exec("cat w.txt; stat -c %a w.txt"); got != "three\n640\n" {
			t.Errorf("replace should keep the mode: %q", got)
		}
		long := strings.Repeat("z", 10000)
		call[session.WriteFileResult](t, ctx, cs, "ssh_write_remote_file", args("remote_path", "long.txt", "content", long))
		if a := f.audit.String(); strings.Contains(a, long) || !strings.Contains(a, "… (10000 bytes)") {
			t.Error("the audit log should keep only the head of long content")
		}
		callErr(t, ctx, cs, "ssh_write_remote_file", args("remote_path", "w.txt", "content", "x", "mode", "rwx"), session.CodeInvalidArgument)
		callErr(t, ctx, cs, "ssh_write_remote_file", args("remote_path", "no/such/dir/w.txt", "content", "x"), session.CodeNotFound)
	})

	t.Run("list remote dir", func(t *testing.T) {
		exec("mkdir -p ls/sub && printf 12345 > ls/file && chmod 0604 ls/file && ln -s file ls/link && touch ls/.hidden")
		l, res := call[session.ListDirResult](t, ctx, cs, "ssh_list_remote_dir", args("remote_path", "ls"))
		got := map[string]session.DirEntry{}
		for _, e := range l.Entries {
			got[e.Name] = e
		}
		if l.Path != filepath.Join(f.user.Home, "ls") || len(l.Entries) != 3 {
			t.Errorf("list %+v", l)
		}
		if e := got["file"]; e.Type != "file" || e.Size != 5 || e.Mode != "0604" || e.MTime.IsZero() {
			t.Errorf("file entry %+v", e)
		}
		if e := got["link"]; e.Type != "symlink" || e.LinkTarget != "file" {
			t.Errorf("symlink entry %+v", e)
		}
		if e := got["sub"]; e.Type != "dir" {
			t.Errorf("dir entry %+v", e)
		}
		if !strings.Contains(resultText(res), "link -> file") {
			t.Errorf("text rendering %q", resultText(res))
		}
		l, _ = call[session.ListDirResult](t, ctx, cs, "ssh_list_remote_dir", args("remote_path", "ls", "all", true))
		if len(l.Entries) != 4 {
			t.Errorf("all: %+v", l.Entries)
		}
		callErr(t, ctx, cs, "ssh_list_remote_dir", args("remote_path", "nope"), session.CodeNotFound)
	})
}

// Under --read-only the file tools that cannot change the host work; the
// others are not there.
func TestReadOnlyFileTools(t *testing.T) {
	f := newFixture(t, fixtureOpt{opts: Options{ReadOnly: true}})
	ctx := ctxT(t, 60*time.Second)
	cs := client(t, f.s, nil)
	conn, _ := call[session.ConnectResult](t, ctx, cs, "ssh_connect", f.connectArgs())
	args := map[string]any{"session_id": conn.SessionID, "remote_path": ".profile"}
	call[session.ReadFileResult](t, ctx, cs, "ssh_read_remote_file", args)
	call[session.ListDirResult](t, ctx, cs, "ssh_list_remote_dir", map[string]any{"session_id": conn.SessionID, "remote_path": "."})
	args["local_path"] = "profile.txt"
	call[session.DownloadResult](t, ctx, cs, "ssh_download_file", args)
	if _, err := os.Stat(filepath.Join(f.local, "profile.txt")); err != nil {
		t.Errorf("download under --read-only: %v", err)
	}
	args["local_path"] = "~/.profile"
	callErr(t, ctx, cs, "ssh_download_file", args, session.CodePolicyDenied)
	for _, tool := range []string{"ssh_write_remote_file", "ssh_upload_file", "ssh_execute", "ssh_shell_open", "ssh_forward_port"} {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"session_id": conn.SessionID}}); err == nil {
			t.Errorf("%s callable under --read-only", tool)
		}
	}
}
