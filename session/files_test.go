package session_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/session"
)

func sha256File(t *testing.T, p string) string {
	t.Helper()
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func randomFile(t *testing.T, p string, size int64) {
	t.Helper()
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(fh, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFilesRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 120*time.Second)
	id := f.connect(t, ctx).SessionID
	filesContract(t, ctx, f.h, f, id)
}

// filesContract checks upload, download and the remote file operations on ops.
func filesContract(t *testing.T, ctx context.Context, ops session.Operations, f *fixture, id string) {
	local := t.TempDir()
	home := f.user.Home
	for _, size := range []int64{0, 1, 32768, 1<<20 + 1} {
		t.Run(fmt.Sprintf("%d bytes", size), func(t *testing.T) {
			src := filepath.Join(local, fmt.Sprintf("src-%d", size))
			randomFile(t, src, size)
			name := fmt.Sprintf("rt-%d", size)
			up, err := ops.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: "~/" + name})
			if err != nil {
				t.Fatal(err)
			}
			if up.Files != 1 || up.Bytes != size || up.RemotePath != filepath.Join(home, name) {
				t.Errorf("upload %+v", up)
			}
			if got, want := sha256File(t, filepath.Join(home, name)), sha256File(t, src); got != want {
				t.Fatalf("remote sha256 %s, want %s", got, want)
			}
			dst := filepath.Join(local, fmt.Sprintf("back-%d", size))
			down, err := ops.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: name, LocalPath: dst})
			if err != nil {
				t.Fatal(err)
			}
			if down.Files != 1 || down.Bytes != size || down.LocalPath != dst {
				t.Errorf("download %+v", down)
			}
			if got, want := sha256File(t, dst), sha256File(t, src); got != want {
				t.Errorf("downloaded sha256 %s, want %s", got, want)
			}
		})
	}
	t.Run("recursive tree", func(t *testing.T) {
		tree := filepath.Join(local, "tree")
		for _, p := range []string{"a.txt", "sub/b.bin", "sub/deeper/c.txt", "empty/.keep"} {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(tree, p)), 0o755); err != nil {
				t.Fatal(err)
			}
			randomFile(t, filepath.Join(tree, p), int64(len(p))*100)
		}
		up, err := ops.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: tree, RemotePath: "tree-copy", Recursive: true})
		if err != nil {
			t.Fatal(err)
		}
		if up.Files != 4 || up.RemotePath != filepath.Join(home, "tree-copy") {
			t.Errorf("upload %+v", up)
		}
		back := filepath.Join(local, "tree-back")
		if _, err := ops.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: "~/tree-copy", LocalPath: back, Recursive: true}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"a.txt", "sub/b.bin", "sub/deeper/c.txt", "empty/.keep"} {
			want := sha256File(t, filepath.Join(tree, p))
			if got := sha256File(t, filepath.Join(home, "tree-copy", p)); got != want {
				t.Errorf("remote %s differs", p)
			}
			if got := sha256File(t, filepath.Join(back, p)); got != want {
				t.Errorf("downloaded %s differs", p)
			}
		}
		// A directory without recursive is refused.
		_, err = ops.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: tree, RemotePath: "tree-flat"})
		wantCode(t, err, session.CodeInvalidArgument)
	})
	t.Run("read file", func(t *testing.T) {
		if _, err := ops.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: "notes.txt", Content: "line one\nline two\nline three\n"}); err != nil {
			t.Fatal(err)
		}
		r, err := ops.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: "~/notes.txt"})
		if err != nil || r.Content != "line one\nline two\nline three\n" || r.Size != 29 || r.Truncated || r.Binary || r.BytesRead != 29 || r.Encoding != "utf-8" {
			t.Errorf("read %+v %v", r, err)
		}
		r, err = ops.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: filepath.Join(home, "notes.txt"), Offset: 5, Limit: 8})
		if err != nil || r.Content != "one\nline" || r.Offset != 5 || r.BytesRead != 8 || !r.Truncated || r.Size != 29 {
			t.Errorf("window %+v %v", r, err)
		}
		if err := os.WriteFile(filepath.Join(home, "blob.bin"), []byte("\x7fELF\x00\x01\x02\x00\x00binary"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err = ops.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: "blob.bin"})
		if err != nil || !r.Binary || r.Content != "" || r.Size != 15 || r.TypeGuess == "" {
			t.Errorf("binary %+v %v", r, err)
		}
		_, err = ops.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: "notes.txt", Offset: -1})
		wantCode(t, err, session.CodeInvalidArgument)
	})
	t.Run("write file", func(t *testing.T) {
		p := filepath.Join(home, "written.txt")
		w, err := ops.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: "written.txt", Content: "first\n", Mode: "0640"})
		if err != nil || !w.Created || w.BytesWritten != 6 || w.RemotePath != p {
			t.Fatalf("write %+v %v", w, err)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("mode %v %v", st.Mode(), err)
		}
		before, _ := os.Stat(p)
		w, err = ops.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: "written.txt", Content: "second\n"})
		if err != nil || w.Created || readFile(t, p) != "second\n" {
			t.Fatalf("replace %+v %v %q", w, err, readFile(t, p))
		}
		// Replacing is atomic: a new inode was renamed over the old one, and the mode is kept.
		after, _ := os.Stat(p)
		if os.SameFile(before, after) || after.Mode().Perm() != 0o640 {
			t.Errorf("replace kept the inode (%v) or lost the mode (%v)", os.SameFile(before, after), after.Mode())
		}
		if w, err := ops.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: "written.txt", Content: "third\n", Append: true}); err != nil || w.BytesWritten != 6 {
			t.Fatalf("append %+v %v", w, err)
		}
		if got := readFile(t, p); got != "second\nthird\n" {
			t.Errorf("after append %q", got)
		}
		leftovers, _ := filepath.Glob(filepath.Join(home, ".written.txt.mrs-*"))
		if len(leftovers) > 0 {
			t.Errorf("temporary files left: %v", leftovers)
		}
		for _, mode := range []string{"0999", "rwx", "77777"} {
			_, err := ops.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: "written.txt", Content: "x", Mode: mode})
			wantCode(t, err, session.CodeInvalidArgument)
		}
		if got := readFile(t, p); got != "second\nthird\n" {
			t.Errorf("an invalid mode changed the file: %q", got)
		}
	})
	t.Run("list dir", func(t *testing.T) {
		if _, err := ops.Exec(ctx, session.ExecRequest{SessionID: id, Command: "mkdir -p ls/d && echo hi > ls/f && chmod 0640 ls/f && ln -sfn f ls/l && touch ls/.hidden"}); err != nil {
			t.Fatal(err)
		}
		r, err := ops.ListDir(ctx, session.ListDirRequest{SessionID: id, RemotePath: "ls"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Path != filepath.Join(home, "ls") {
			t.Errorf("path %q", r.Path)
		}
		var got []string
		for _, e := range r.Entries {
			got = append(got, fmt.Sprintf("%s %s %s %d %s", e.Name, e.Type, e.Mode, e.Size, e.LinkTarget))
			if e.MTime.IsZero() || time.Since(e.MTime) > time.Hour {
				t.Errorf("%s: mtime %v", e.Name, e.MTime)
			}
		}
		want := []string{"d dir 0755 4096 ", "f file 0640 3 ", "l symlink 0777 1 f"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		r, err = ops.ListDir(ctx, session.ListDirRequest{SessionID: id, RemotePath: "ls", All: true})
		if err != nil || len(r.Entries) != 4 || r.Entries[0].Name != ".hidden" {
			t.Errorf("all: %+v %v", r.Entries, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		missing := filepath.Join(local, "no-such-file")
		_, err := ops.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: missing, RemotePath: "x"})
		e := wantCode(t, err, session.CodeNotFound)
		if !strings.Contains(e.Message, missing) || !strings.Contains(e.Message, "local") {
			t.Errorf("message should name the path and the side: %v", e)
		}
		_, err = ops.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: "/no/such/remote", LocalPath: filepath.Join(local, "x")})
		e = wantCode(t, err, session.CodeNotFound)
		if !strings.Contains(e.Message, "/no/such/remote") || !strings.Contains(e.Message, "remote") {
			t.Errorf("message should name the path and the side: %v", e)
		}
		_, err = ops.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: "/no/such/remote"})
		wantCode(t, err, session.CodeNotFound)
		_, err = ops.ListDir(ctx, session.ListDirRequest{SessionID: id, RemotePath: "/no/such/dir"})
		wantCode(t, err, session.CodeNotFound)

		secret := filepath.Join(t.TempDir(), "root-only")
		if err := os.WriteFile(secret, []byte("top secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(filepath.Dir(secret), 0o755)
		_, err = ops.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: secret})
		wantCode(t, err, session.CodePermissionDenied)
		_, err = ops.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: secret, LocalPath: filepath.Join(local, "stolen")})
		wantCode(t, err, session.CodePermissionDenied)
		_, err = ops.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: secret, Content: "x"})
		wantCode(t, err, session.CodePermissionDenied)
		if got := readFile(t, secret); got != "top secret" {
			t.Errorf("root's file changed: %q", got)
		}

		src := filepath.Join(local, "small")
		if err := os.WriteFile(src, []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(home, "keep.txt"), []byte("old"), 0o644); err != nil {
			t.Fatal(err)
		}
		no := false
		_, err = ops.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: "keep.txt", Overwrite: &no})
		wantCode(t, err, session.CodeExists)
		if got := readFile(t, filepath.Join(home, "keep.txt")); got != "old" {
			t.Errorf("overwrite=false replaced the file: %q", got)
		}
		_, err = ops.Download(ctx, session.DownloadRequest{SessionID: id, RemotePath: "keep.txt", LocalPath: src, Overwrite: &no})
		wantCode(t, err, session.CodeExists)
		_, err = ops.Upload(ctx, session.UploadRequest{SessionID: id, LocalPath: src})
		wantCode(t, err, session.CodeInvalidArgument)
		_, err = ops.Upload(ctx, session.UploadRequest{SessionID: "deadbeef", LocalPath: src, RemotePath: "x"})
		wantCode(t, err, session.CodeNotFound)
	})
}

func TestFilesConnectionKilledMidUpload(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 120*time.Second)
	id := f.connect(t, ctx).SessionID
	src := filepath.Join(t.TempDir(), "big")
	randomFile(t, src, 64<<20)
	dest := filepath.Join(f.user.Home, "big.dat")
	if _, err := f.h.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: dest, Content: "old content"}); err != nil {
		t.Fatal(err)
	}
	var calls, done atomic.Int64
	killed := make(chan struct{})
	pctx := session.WithCaller(ctx, session.Caller{Progress: func(u session.ProgressUpdate) {
		calls.Add(1)
		done.Store(u.Done)
		if u.Total != 64<<20 {
			t.Errorf("progress total %d", u.Total)
		}
	}})
	go func() {
		defer close(killed)
		deadline := time.Now().Add(60 * time.Second)
		for done.Load() < 4<<20 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		f.srv.KillConnections()
	}()
	_, err := f.h.Upload(pctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: dest})
	<-killed
	if done.Load() >= 64<<20 {
		t.Skip("the upload finished before the connection was killed")
	}
	e := wantCode(t, err, session.CodeConnectionLost)
	if !strings.Contains(e.Message, dest) && !strings.Contains(e.Message, "big.dat") {
		t.Logf("message does not name the file: %v", e)
	}
	if calls.Load() == 0 {
		t.Error("no progress reported")
	}
	if got := readFile(t, dest); got != "old content" {
		t.Errorf("destination after a cut upload: %d bytes, want the old content", len(got))
	}
	// The session reconnects and the next upload works.
	up, err := f.h.Upload(pctx, session.UploadRequest{SessionID: id, LocalPath: src, RemotePath: dest})
	if err != nil {
		t.Fatal(err)
	}
	if up.Bytes != 64<<20 || sha256File(t, dest) != sha256File(t, src) {
		t.Errorf("upload after reconnect %+v", up)
	}
	leftovers, _ := filepath.Glob(filepath.Join(f.user.Home, ".big.dat.mrs-*"))
	if _, err := f.h.CloseSession(ctx, session.CloseSessionRequest{SessionID: id}); err != nil {
		t.Fatal(err)
	}
	after, _ := filepath.Glob(filepath.Join(f.user.Home, ".big.dat.mrs-*"))
	if len(after) > 0 {
		t.Errorf("temporary files left after the session closed: %v (before close: %v)", after, leftovers)
	}
}

func TestFilesAfterConnectionDrop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpt{})
	ctx := ctxT(t, 60*time.Second)
	id := f.connect(t, ctx).SessionID
	if _, err := f.h.WriteFile(ctx, session.WriteFileRequest{SessionID: id, RemotePath: "a.txt", Content: "before"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		f.srv.KillConnections()
		// Reads are safe to repeat: the session reconnects under them.
		r, err := f.h.ReadFile(ctx, session.ReadFileRequest{SessionID: id, RemotePath: "a.txt"})
		if err != nil || r.Content != "before" {
			t.Fatalf("round %d: read right after the drop: %+v %v", i, r, err)
		}
		f.srv.KillConnections()
		l, err := f.h.ListDir(ctx, session.ListDirRequest{SessionID: id, RemotePath: "~"})
		if err != nil || len(l.Entries) == 0 {
			t.Fatalf("round %d: list right after the drop: %+v %v", i, l, err)
		}
	}
}
