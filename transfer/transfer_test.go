package transfer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
)

// TestRemote runs the transfer operations against one real sshd and user.
func TestRemote(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "roundtrip")
		for _, n := range []int64{0, 1, 32767, 32768, 32769, 1<<20 + 1, 8<<20 + 3} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				t.Parallel()
				local := filepath.Join(t.TempDir(), "src")
				want := writeRandomFile(t, local, n, uint64(n))
				remote := filepath.Join(dir, fmt.Sprintf("f%d", n))
				st, err := Upload(ctx, f.c, local, remote, Options{Overwrite: true})
				if err != nil {
					t.Fatal(err)
				}
				if st.Files != 1 || st.Bytes != n || !slices.Equal(st.Done, []string{remote}) {
					t.Errorf("upload stats = %+v", st)
				}
				if got := fileSHA(t, remote); got != want {
					t.Fatalf("uploaded sha256 %s, want %s", got, want)
				}
				back := filepath.Join(t.TempDir(), "back")
				st, err = Download(ctx, f.c, remote, back, Options{Overwrite: true})
				if err != nil {
					t.Fatal(err)
				}
				if st.Files != 1 || st.Bytes != n {
					t.Errorf("download stats = %+v", st)
				}
				if got := fileSHA(t, back); got != want {
					t.Fatalf("downloaded sha256 %s, want %s", got, want)
				}
			})
		}
	})

	t.Run("Tree", func(t *testing.T) {
		t.Parallel()
		src := filepath.Join(t.TempDir(), "tree")
		want := makeTree(t, src, 1000)
		dst := f.mkRemoteDir(t, "trees")
		start := time.Now()
		st, err := Upload(ctx, f.c, src, dst, Options{Recursive: true, Overwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("put -r of 1,000 files: %v", time.Since(start))
		if st.Files != 1001 { // 1,000 files and one link
			t.Errorf("upload Files = %d, want 1001", st.Files)
		}
		checkTree(t, filepath.Join(dst, "tree"), want)

		back := t.TempDir()
		start = time.Now()
		st, err = Download(ctx, f.c, filepath.Join(dst, "tree"), back, Options{Recursive: true, Overwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("get -r of 1,000 files: %v", time.Since(start))
		if st.Files != 1001 {
			t.Errorf("download Files = %d, want 1001", st.Files)
		}
		checkTree(t, filepath.Join(back, "tree"), want)

		// Again onto the existing trees: every file is replaced, nothing
		// is left behind.
		if _, err := Upload(ctx, f.c, src, dst, Options{Recursive: true, Overwrite: true}); err != nil {
			t.Fatal(err)
		}
		checkTree(t, filepath.Join(dst, "tree"), want)
		if tmp := tempFiles(t, dst); len(tmp) > 0 {
			t.Errorf("temporary files left: %q", tmp)
		}
	})

	t.Run("TreeOverwriteOff", func(t *testing.T) {
		t.Parallel()
		src := filepath.Join(t.TempDir(), "t")
		makeTree(t, src, 20)
		dst := f.mkRemoteDir(t, "tree-nooverwrite")
		f.mkRemoteDir(t, "tree-nooverwrite", "t", "d00")
		f.writeRemote(t, filepath.Join(dst, "t", "d00", "f0005"), []byte("mine"), 0o644)
		st, err := Upload(ctx, f.c, src, dst, Options{Recursive: true})
		if !errors.Is(err, os.ErrExist) {
			t.Fatalf("err = %v, want os.ErrExist", err)
		}
		var pe *PartialError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %T, want a *PartialError", err)
		}
		if pe.Failed != filepath.Join(dst, "t", "d00", "f0005") || slices.Contains(pe.Done, pe.Failed) {
			t.Errorf("Failed = %q, Done = %q", pe.Failed, pe.Done)
		}
		if !slices.Equal(st.Done, pe.Done) || len(st.Done) == 0 {
			t.Errorf("Stats.Done = %d files, PartialError.Done = %d", len(st.Done), len(pe.Done))
		}
		if got := string(readFile(t, pe.Failed)); got != "mine" {
			t.Errorf("existing file became %q", got)
		}
		mustContain(t, err, "upload", pe.Failed, "already exists")
	})

	t.Run("TreeSymlinks", func(t *testing.T) {
		t.Parallel()
		base := t.TempDir()
		src := filepath.Join(base, "s")
		mustMkdir(t, filepath.Join(src, "sub"))
		mustWrite(t, filepath.Join(src, "sub", "file"), "inner")
		mustWrite(t, filepath.Join(base, "outside"), "outside")
		mustSymlink(t, "sub/file", filepath.Join(src, "in-link"))
		mustSymlink(t, "../outside", filepath.Join(src, "out-link"))
		mustSymlink(t, "..", filepath.Join(src, "sub", "loop"))
		mustSymlink(t, "nowhere", filepath.Join(src, "dangling"))

		dst := f.mkRemoteDir(t, "links")
		if _, err := Upload(ctx, f.c, src, filepath.Join(dst, "plain"), Options{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		for name, target := range map[string]string{"in-link": "sub/file", "out-link": "../outside", "sub/loop": "..", "dangling": "nowhere"} {
			got, err := os.Readlink(filepath.Join(dst, "plain", name))
			if err != nil || got != target {
				t.Errorf("link %s -> %q (%v), want %q", name, got, err, target)
			}
		}

		st, err := Upload(ctx, f.c, src, filepath.Join(dst, "follow"), Options{Recursive: true, FollowSymlinks: true})
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{"in-link": "inner", "out-link": "outside", "sub/file": "inner"} {
			p := filepath.Join(dst, "follow", name)
			if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s: %v, want a regular file", name, err)
				continue
			}
			if got := string(readFile(t, p)); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		slices.Sort(st.Skipped)
		if want := []string{filepath.Join(src, "dangling"), filepath.Join(src, "sub", "loop")}; !slices.Equal(st.Skipped, want) {
			t.Errorf("Skipped = %q, want %q", st.Skipped, want)
		}

		back := t.TempDir()
		if _, err := Download(ctx, f.c, filepath.Join(dst, "plain"), back, Options{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(filepath.Join(back, "plain", "out-link")); err != nil || got != "../outside" {
			t.Errorf("downloaded link -> %q (%v)", got, err)
		}
	})

	t.Run("DestinationRules", func(t *testing.T) {
		t.Parallel()
		local := filepath.Join(t.TempDir(), "name.txt")
		mustWrite(t, local, "x")
		dir := f.mkRemoteDir(t, "rules")
		// An existing directory, with or without a slash: inside it.
		for _, d := range []string{dir, dir + "/"} {
			st, err := Upload(ctx, f.c, local, d, Options{Overwrite: true})
			if err != nil || st.Done[0] != filepath.Join(dir, "name.txt") {
				t.Errorf("upload to %q: %v %v", d, st.Done, err)
			}
		}
		// "~", "~/x" and relative paths are in the home directory.
		for _, d := range []string{"~", "~/", "rules", "~/rules/renamed.txt", "rules/rel.txt"} {
			if _, err := Upload(ctx, f.c, local, d, Options{Overwrite: true}); err != nil {
				t.Errorf("upload to %q: %v", d, err)
			}
		}
		for _, p := range []string{f.home("name.txt"), filepath.Join(dir, "renamed.txt"), filepath.Join(dir, "rel.txt")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
		// A slash on a missing directory is an error, not a file named so.
		_, err := Upload(ctx, f.c, local, filepath.Join(dir, "missing")+"/", Options{})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("upload to missing/: %v, want os.ErrNotExist", err)
		}
		// A directory goes inside an existing directory, or becomes a
		// missing one.
		srcDir := filepath.Join(t.TempDir(), "srcdir")
		mustMkdir(t, srcDir)
		mustWrite(t, filepath.Join(srcDir, "a"), "a")
		if _, err := Upload(ctx, f.c, srcDir, dir, Options{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := Upload(ctx, f.c, srcDir, filepath.Join(dir, "newname"), Options{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(dir, "srcdir", "a"), filepath.Join(dir, "newname", "a")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	})

	t.Run("Modes", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "modes")
		local := filepath.Join(t.TempDir(), "m")
		mustWrite(t, local, "data")
		mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		must(t, os.Chmod(local, 0o751))
		must(t, os.Chtimes(local, mtime, mtime))

		// Preserve: mode and mtime both ways.
		remote := filepath.Join(dir, "preserved")
		if _, err := Upload(ctx, f.c, local, remote, Options{Preserve: true}); err != nil {
			t.Fatal(err)
		}
		checkModeTime(t, remote, 0o751, mtime)
		back := filepath.Join(t.TempDir(), "back")
		if _, err := Download(ctx, f.c, remote, back, Options{Preserve: true}); err != nil {
			t.Fatal(err)
		}
		checkModeTime(t, back, 0o751, mtime)

		// A new file without Preserve: the source's bits minus 022.
		must(t, os.Chmod(local, 0o666))
		fresh := filepath.Join(dir, "fresh")
		if _, err := Upload(ctx, f.c, local, fresh, Options{}); err != nil {
			t.Fatal(err)
		}
		checkMode(t, fresh, 0o644)

		// An overwrite keeps the replaced file's mode, both ways.
		kept := filepath.Join(dir, "kept")
		f.writeRemote(t, kept, []byte("old"), 0o600)
		if _, err := Upload(ctx, f.c, local, kept, Options{Overwrite: true}); err != nil {
			t.Fatal(err)
		}
		checkMode(t, kept, 0o600)
		if got := string(readFile(t, kept)); got != "data" {
			t.Errorf("content %q", got)
		}
		localKept := filepath.Join(t.TempDir(), "kept")
		mustWrite(t, localKept, "old")
		must(t, os.Chmod(localKept, 0o640))
		if _, err := Download(ctx, f.c, fresh, localKept, Options{Overwrite: true}); err != nil {
			t.Fatal(err)
		}
		checkMode(t, localKept, 0o640)

		// Preserved directory modes and times in a tree, even read-only ones.
		tree := filepath.Join(t.TempDir(), "ro")
		mustMkdir(t, filepath.Join(tree, "sub"))
		mustWrite(t, filepath.Join(tree, "sub", "f"), "f")
		must(t, os.Chmod(filepath.Join(tree, "sub"), 0o555))
		must(t, os.Chtimes(filepath.Join(tree, "sub"), mtime, mtime))
		if _, err := Upload(ctx, f.c, tree, dir, Options{Recursive: true, Preserve: true}); err != nil {
			t.Fatal(err)
		}
		checkModeTime(t, filepath.Join(dir, "ro", "sub"), 0o555, mtime)
	})

	t.Run("OverwriteOff", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "nooverwrite")
		remote := filepath.Join(dir, "x")
		f.writeRemote(t, remote, []byte("old"), 0o644)
		local := filepath.Join(t.TempDir(), "x")
		mustWrite(t, local, "new")
		_, err := Upload(ctx, f.c, local, remote, Options{})
		if !errors.Is(err, os.ErrExist) {
			t.Fatalf("upload: %v, want os.ErrExist", err)
		}
		mustContain(t, err, `remote "`+remote+`"`, "already exists")
		_, err = Download(ctx, f.c, remote, local, Options{})
		if !errors.Is(err, os.ErrExist) {
			t.Fatalf("download: %v, want os.ErrExist", err)
		}
		mustContain(t, err, `local "`+local+`"`)
		if string(readFile(t, remote)) != "old" || string(readFile(t, local)) != "new" {
			t.Error("a file was overwritten")
		}
		// Without a conflict, Overwrite=false is fine.
		if _, err := Upload(ctx, f.c, local, filepath.Join(dir, "y"), Options{}); err != nil {
			t.Error(err)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "errors")
		localDir := t.TempDir()
		local := filepath.Join(localDir, "file")
		mustWrite(t, local, "content")
		rootFile := filepath.Join(dir, "rootonly")
		mustWrite(t, rootFile, "secret")
		must(t, os.Chmod(rootFile, 0o600))
		rootDir := filepath.Join(dir, "rootdir")
		mustMkdir(t, rootDir)
		f.mkRemoteDir(t, "errors", "adir")
		f.writeRemote(t, filepath.Join(dir, "afile"), []byte("x"), 0o644)
		f.mkRemoteDir(t, "errors", "hasdir", "file")

		cases := []struct {
			name  string
			run   func() error
			is    error
			parts []string
		}{
			{"missing local", func() error {
				_, err := Upload(ctx, f.c, filepath.Join(localDir, "nope"), dir, Options{})
				return err
			}, os.ErrNotExist, []string{`local "` + filepath.Join(localDir, "nope") + `": no such file`}},
			{"missing remote", func() error {
				_, err := Download(ctx, f.c, filepath.Join(dir, "nope"), localDir, Options{})
				return err
			}, os.ErrNotExist, []string{`remote "` + filepath.Join(dir, "nope") + `": no such file`}},
			{"remote permission denied reading", func() error {
				_, err := Download(ctx, f.c, rootFile, filepath.Join(localDir, "out"), Options{})
				return err
			}, os.ErrPermission, []string{`remote "` + rootFile + `": permission denied`}},
			{"remote permission denied writing", func() error {
				_, err := Upload(ctx, f.c, local, filepath.Join(rootDir, "x"), Options{})
				return err
			}, os.ErrPermission, []string{`remote "` + filepath.Join(rootDir, "x") + `"`, "permission denied", rootDir}},
			{"remote permission denied mkdir", func() error {
				_, err := Upload(ctx, f.c, localDir, filepath.Join(rootDir, "tree"), Options{Recursive: true})
				return err
			}, os.ErrPermission, []string{`remote "` + filepath.Join(rootDir, "tree") + `"`, "permission denied"}},
			{"upload a directory without recursion", func() error {
				_, err := Upload(ctx, f.c, localDir, dir, Options{})
				return err
			}, ErrIsDir, []string{`local "` + localDir + `": is a directory`}},
			{"download a directory without recursion", func() error {
				_, err := Download(ctx, f.c, filepath.Join(dir, "adir"), localDir, Options{})
				return err
			}, ErrIsDir, []string{`remote "` + filepath.Join(dir, "adir") + `": is a directory`}},
			{"file onto a directory", func() error {
				_, err := Upload(ctx, f.c, local, filepath.Join(dir, "hasdir"), Options{Overwrite: true})
				return err
			}, ErrIsDir, []string{`remote "` + filepath.Join(dir, "hasdir", "file") + `": is a directory`}},
			{"directory onto a file", func() error {
				_, err := Upload(ctx, f.c, localDir, filepath.Join(dir, "afile"), Options{Recursive: true, Overwrite: true})
				return err
			}, ErrNotDir, []string{`remote "` + filepath.Join(dir, "afile") + `"`, "not a directory"}},
			{"file into a file with a slash", func() error {
				_, err := Upload(ctx, f.c, local, filepath.Join(dir, "afile")+"/", Options{Overwrite: true})
				return err
			}, ErrNotDir, []string{`remote "` + filepath.Join(dir, "afile") + `"`}},
			{"remote parent missing", func() error {
				_, err := Upload(ctx, f.c, local, filepath.Join(dir, "no", "such", "file"), Options{})
				return err
			}, os.ErrNotExist, []string{`parent directory "` + filepath.Join(dir, "no", "such") + `" does not exist`, "remote"}},
			{"remote parent is a file", func() error {
				_, err := Upload(ctx, f.c, local, filepath.Join(dir, "afile", "x"), Options{})
				return err
			}, ErrNotDir, []string{`parent "` + filepath.Join(dir, "afile") + `" is not a directory`}},
			{"local parent missing", func() error {
				_, err := Download(ctx, f.c, filepath.Join(dir, "afile"), filepath.Join(localDir, "no", "file"), Options{})
				return err
			}, os.ErrNotExist, []string{`local "` + filepath.Join(localDir, "no", "file") + `"`, `parent directory "` + filepath.Join(localDir, "no") + `" does not exist`}},
			{"local parent is a file", func() error {
				_, err := Download(ctx, f.c, filepath.Join(dir, "afile"), filepath.Join(local, "x"), Options{})
				return err
			}, ErrNotDir, []string{`parent "` + local + `" is not a directory`}},
			{"read a directory", func() error {
				_, err := ReadFile(ctx, f.c, dir, 0, 0)
				return err
			}, ErrIsDir, []string{dir}},
			{"read permission denied", func() error {
				_, err := ReadFile(ctx, f.c, rootFile, 0, 0)
				return err
			}, os.ErrPermission, []string{rootFile}},
			{"write a directory", func() error {
				_, err := WriteFile(ctx, f.c, dir, strings.NewReader("x"), false, nil)
				return err
			}, ErrIsDir, []string{dir}},
			{"write with parent missing", func() error {
				_, err := WriteFile(ctx, f.c, filepath.Join(dir, "no", "x"), strings.NewReader("x"), false, nil)
				return err
			}, os.ErrNotExist, []string{`parent directory "` + filepath.Join(dir, "no") + `" does not exist`}},
			{"list missing", func() error {
				_, _, err := ListDir(ctx, f.c, filepath.Join(dir, "nope"), false)
				return err
			}, os.ErrNotExist, []string{filepath.Join(dir, "nope")}},
			{"NUL in a path", func() error {
				_, err := Upload(ctx, f.c, local, dir+"/a\x00b", Options{})
				return err
			}, ErrInvalid, []string{"NUL"}},
			{"negative offset", func() error {
				_, err := ReadFile(ctx, f.c, rootFile, -1, 0)
				return err
			}, ErrInvalid, []string{"negative offset"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.run()
				if !errors.Is(err, tc.is) {
					t.Fatalf("err = %v, want %v", err, tc.is)
				}
				mustContain(t, err, tc.parts...)
			})
		}
		if tmp := tempFiles(t, dir); len(tmp) > 0 {
			t.Errorf("temporary files left: %q", tmp)
		}
	})

	t.Run("LocalPermissionDenied", func(t *testing.T) {
		t.Parallel()
		// Root ignores modes; an immutable directory refuses even root.
		dir := t.TempDir()
		if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
			t.Skipf("chattr +i not available: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", dir).Run() })
		remote := filepath.Join(f.mkRemoteDir(t, "localperm"), "f")
		f.writeRemote(t, remote, []byte("x"), 0o644)
		_, err := Download(ctx, f.c, remote, filepath.Join(dir, "f"), Options{})
		if !errors.Is(err, os.ErrPermission) {
			t.Fatalf("err = %v, want os.ErrPermission", err)
		}
		mustContain(t, err, `local "`+filepath.Join(dir, "f")+`"`, "permission denied")
	})

	t.Run("WeirdNames", func(t *testing.T) {
		t.Parallel()
		names := []string{"with space", `quote'"`, "$(id)", "semi;colon", "new\nline", "-leading", "\xff\xfe not utf-8",
			"tab\there", `back\slash`, "*glob?[x]", "`touch pwned`", "é ü 日本"}
		dir := f.mkRemoteDir(t, "weird")
		src := filepath.Join(t.TempDir(), "w")
		mustMkdir(t, src)
		for i, n := range names {
			mustWrite(t, filepath.Join(src, n), fmt.Sprint(i))
		}
		for i, n := range names {
			local := filepath.Join(src, n)
			// As a target name, and by the into-directory rule.
			if _, err := Upload(ctx, f.c, local, filepath.Join(dir, "as-"+n), Options{}); err != nil {
				t.Errorf("upload %q: %v", n, err)
			}
			if _, err := Upload(ctx, f.c, local, dir, Options{}); err != nil {
				t.Errorf("upload %q into a directory: %v", n, err)
			}
			for _, p := range []string{filepath.Join(dir, "as-"+n), filepath.Join(dir, n)} {
				if got, err := os.ReadFile(p); err != nil || string(got) != fmt.Sprint(i) {
					t.Errorf("remote %q = %q, %v", p, got, err)
				}
			}
			back := t.TempDir()
			if _, err := Download(ctx, f.c, filepath.Join(dir, n), back, Options{}); err != nil {
				t.Errorf("download %q: %v", n, err)
			} else if got := string(readFile(t, filepath.Join(back, n))); got != fmt.Sprint(i) {
				t.Errorf("downloaded %q = %q", n, got)
			}
			r, err := ReadFile(ctx, f.c, filepath.Join(dir, n), 0, 0)
			if err != nil || string(r.Content) != fmt.Sprint(i) {
				t.Errorf("read %q: %q %v", n, r.Content, err)
			}
		}
		if _, err := Upload(ctx, f.c, src, dir, Options{Recursive: true}); err != nil {
			t.Fatal(err)
		}
		_, entries, err := ListDir(ctx, f.c, filepath.Join(dir, "w"), true)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name)
		}
		want := slices.Clone(names)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("listed %q, want %q", got, want)
		}
		_, err = Download(ctx, f.c, filepath.Join(dir, "nope\n$(id)"), t.TempDir(), Options{})
		mustContain(t, err, `"`+filepath.Join(dir, "nope\\n$(id)")+`"`)
		if _, err := os.Stat(filepath.Join(f.u.Home, "pwned")); err == nil {
			t.Error("a name was run by a shell")
		}
	})

	t.Run("ReadFile", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "read")
		text := filepath.Join(dir, "text")
		f.writeRemote(t, text, []byte("hello world\n"), 0o644)
		r, err := ReadFile(ctx, f.c, text, 0, 0)
		if err != nil || string(r.Content) != "hello world\n" || r.Truncated || r.Binary || r.Size != 12 || r.BytesRead != 12 || r.TypeGuess != "ASCII text" {
			t.Errorf("whole: %+v %v", r, err)
		}
		r, err = ReadFile(ctx, f.c, text, 6, 3)
		if err != nil || string(r.Content) != "wor" || !r.Truncated || r.Offset != 6 || r.BytesRead != 3 {
			t.Errorf("window: %+v %v", r, err)
		}
		r, err = ReadFile(ctx, f.c, text, 9, 3)
		if err != nil || string(r.Content) != "ld\n" || r.Truncated {
			t.Errorf("last window: %+v %v", r, err)
		}
		r, err = ReadFile(ctx, f.c, text, 100, 3)
		if err != nil || len(r.Content) != 0 || r.Truncated || r.Size != 12 {
			t.Errorf("past the end: %+v %v", r, err)
		}
		utf := filepath.Join(dir, "utf")
		f.writeRemote(t, utf, []byte("ééé"), 0o644)
		r, err = ReadFile(ctx, f.c, utf, 0, 3)
		if err != nil || string(r.Content) != "é" || r.BytesRead != 2 || !r.Truncated || r.TypeGuess != "UTF-8 text" {
			t.Errorf("utf-8 cut: %+v %v", r, err)
		}
		elf := filepath.Join(dir, "elf")
		f.writeRemote(t, elf, append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100<<10)...), 0o755)
		r, err = ReadFile(ctx, f.c, elf, 0, 0)
		if err != nil || !r.Binary || r.Content != nil || r.TypeGuess != "ELF executable" || r.Size != 100<<10+7 || !r.Truncated {
			t.Errorf("binary: %+v %v", r, err)
		}
		gz := filepath.Join(dir, "gz")
		f.writeRemote(t, gz, randomBytes(5000, 3), 0o644)
		r, err = ReadFile(ctx, f.c, gz, 0, 0)
		if err != nil || !r.Binary || r.TypeGuess != "binary data" {
			t.Errorf("random: %+v %v", r, err)
		}
		// Files that report size 0 still read.
		r, err = ReadFile(ctx, f.c, "/proc/version", 0, 0)
		if err != nil || !strings.Contains(string(r.Content), "Linux") || r.Size == 0 {
			t.Errorf("/proc/version: %+v %v", r, err)
		}
		// A symbolic link to a file is followed.
		mustSymlink(t, "text", filepath.Join(dir, "link"))
		r, err = ReadFile(ctx, f.c, filepath.Join(dir, "link"), 0, 0)
		if err != nil || string(r.Content) != "hello world\n" {
			t.Errorf("link: %+v %v", r, err)
		}
		// A large window.
		big := filepath.Join(dir, "big")
		f.writeRemote(t, big, []byte(strings.Repeat("0123456789abcdef", 300_000)), 0o644)
		r, err = ReadFile(ctx, f.c, big, 1, 3<<20)
		if err != nil || r.BytesRead != 3<<20 || !r.Truncated || string(r.Content[:3]) != "123" {
			t.Errorf("large window: %d bytes, truncated %v, %v", r.BytesRead, r.Truncated, err)
		}
	})

	t.Run("WriteFile", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "write")
		p := filepath.Join(dir, "w")
		res, err := WriteFile(ctx, f.c, p, strings.NewReader("one\n"), false, nil)
		if err != nil || !res.Created || res.BytesWritten != 4 || res.Path != p {
			t.Fatalf("create: %+v %v", res, err)
		}
		checkMode(t, p, 0o644)
		res, err = WriteFile(ctx, f.c, p, strings.NewReader("two\n"), true, nil)
		if err != nil || res.Created || res.BytesWritten != 4 {
			t.Fatalf("append: %+v %v", res, err)
		}
		if got := string(readFile(t, p)); got != "one\ntwo\n" {
			t.Errorf("after append: %q", got)
		}
		must(t, os.Chmod(p, 0o600))
		if _, err := WriteFile(ctx, f.c, p, strings.NewReader("three\n"), false, nil); err != nil {
			t.Fatal(err)
		}
		checkMode(t, p, 0o600)
		if got := string(readFile(t, p)); got != "three\n" {
			t.Errorf("after overwrite: %q", got)
		}
		mode := os.FileMode(0o640)
		if _, err := WriteFile(ctx, f.c, p, strings.NewReader("four\n"), false, &mode); err != nil {
			t.Fatal(err)
		}
		checkMode(t, p, 0o640)
		// Append creates, with a mode.
		mode = 0o700
		q := filepath.Join(dir, "appended")
		res, err = WriteFile(ctx, f.c, q, strings.NewReader("a"), true, &mode)
		if err != nil || !res.Created {
			t.Fatalf("append create: %+v %v", res, err)
		}
		checkMode(t, q, 0o700)
		// A large append lands in order.
		big := strings.Repeat("0123456789", 100_000)
		if _, err := WriteFile(ctx, f.c, q, strings.NewReader(big), true, nil); err != nil {
			t.Fatal(err)
		}
		if got := string(readFile(t, q)); got != "a"+big {
			t.Errorf("large append: %d bytes, wrong content", len(got))
		}
		// Writing through a symbolic link replaces its target.
		mustSymlink(t, "w", filepath.Join(dir, "link"))
		res, err = WriteFile(ctx, f.c, filepath.Join(dir, "link"), strings.NewReader("via link"), false, nil)
		if err != nil || res.Path != p {
			t.Fatalf("via link: %+v %v", res, err)
		}
		if fi, err := os.Lstat(filepath.Join(dir, "link")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Error("the link was replaced")
		}
		if got := string(readFile(t, p)); got != "via link" {
			t.Errorf("target = %q", got)
		}
		if tmp := tempFiles(t, dir); len(tmp) > 0 {
			t.Errorf("temporary files left: %q", tmp)
		}
	})

	t.Run("ListDir", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "list")
		f.writeRemote(t, filepath.Join(dir, "b-file"), []byte("12345"), 0o640)
		f.mkRemoteDir(t, "list", "a-dir")
		f.writeRemote(t, filepath.Join(dir, ".hidden"), nil, 0o644)
		mustSymlink(t, "b-file", filepath.Join(dir, "c-link"))
		mustSymlink(t, "/no/where", filepath.Join(dir, "d-dangling"))
		must(t, exec.Command("mkfifo", filepath.Join(dir, "e-fifo")).Run())

		p, entries, err := ListDir(ctx, f.c, "~/list", false)
		if err != nil || p != dir {
			t.Fatalf("list: %q %v", p, err)
		}
		type row struct{ name, typ, target string }
		var got []row
		for _, e := range entries {
			got = append(got, row{e.Name, e.Type, e.LinkTarget})
		}
		want := []row{{"a-dir", "dir", ""}, {"b-file", "file", ""}, {"c-link", "symlink", "b-file"}, {"d-dangling", "symlink", "/no/where"}, {"e-fifo", "other", ""}}
		if !slices.Equal(got, want) {
			t.Errorf("entries %v, want %v", got, want)
		}
		if e := entries[1]; e.Size != 5 || e.Mode.Perm() != 0o640 || e.ModTime.IsZero() {
			t.Errorf("file entry %+v", e)
		}
		_, entries, _ = ListDir(ctx, f.c, dir, true)
		if len(entries) != 6 || entries[0].Name != ".hidden" {
			t.Errorf("all: %d entries, first %q", len(entries), entries[0].Name)
		}
		_, entries, err = ListDir(ctx, f.c, filepath.Join(dir, "b-file"), false)
		if err != nil || len(entries) != 1 || entries[0].Name != "b-file" || entries[0].Type != "file" {
			t.Errorf("a file: %+v %v", entries, err)
		}
		_, entries, err = ListDir(ctx, f.c, filepath.Join(dir, "d-dangling"), false)
		if err != nil || len(entries) != 1 || entries[0].Type != "symlink" {
			t.Errorf("a dangling link: %+v %v", entries, err)
		}
		// Download of a link to a file reads the file.
		back := filepath.Join(t.TempDir(), "x")
		if _, err := Download(ctx, f.c, filepath.Join(dir, "c-link"), back, Options{}); err != nil {
			t.Fatal(err)
		}
		if got := string(readFile(t, back)); got != "12345" {
			t.Errorf("downloaded link = %q", got)
		}
	})

	t.Run("Progress", func(t *testing.T) {
		t.Parallel()
		local := filepath.Join(t.TempDir(), "p")
		const n = 3 << 20
		writeRandomFile(t, local, n, 9)
		var calls, last, total atomic.Int64
		o := Options{Overwrite: true, Progress: func(done, tot int64) {
			calls.Add(1)
			last.Store(done)
			total.Store(tot)
		}}
		if _, err := Upload(ctx, f.c, local, f.home("progress"), o); err != nil {
			t.Fatal(err)
		}
		if calls.Load() < 2 || last.Load() != n || total.Load() != n {
			t.Errorf("progress: %d calls, last %d/%d", calls.Load(), last.Load(), total.Load())
		}
		calls.Store(0)
		if _, err := Download(ctx, f.c, f.home("progress"), filepath.Join(t.TempDir(), "p"), o); err != nil {
			t.Fatal(err)
		}
		if calls.Load() < 2 || last.Load() != n || total.Load() != n {
			t.Errorf("download progress: %d calls, last %d/%d", calls.Load(), last.Load(), total.Load())
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		dir := f.mkRemoteDir(t, "cancel")
		local := filepath.Join(t.TempDir(), "big")
		writeRandomFile(t, local, 32<<20, 5)
		remote := filepath.Join(dir, "target")
		f.writeRemote(t, remote, []byte("old remote"), 0o644)

		cctx, cancel := context.WithCancel(ctx)
		j := newJob(newLocalFS(), newRemoteFS(f.c), Options{Overwrite: true, Progress: cancelAfter(cancel, 4<<20)})
		j.meter.interval = 0
		_, err := j.run(cctx, local, remote, false)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("upload: %v, want context.Canceled", err)
		}
		if got := string(readFile(t, remote)); got != "old remote" {
			t.Errorf("remote target changed: %.20q", got)
		}
		if tmp := tempFiles(t, dir); len(tmp) > 0 {
			t.Errorf("remote temporary files left: %q", tmp)
		}

		f.writeRemote(t, filepath.Join(dir, "big"), readFile(t, local), 0o644)
		localDir := t.TempDir()
		localTarget := filepath.Join(localDir, "target")
		mustWrite(t, localTarget, "old local")
		cctx, cancel = context.WithCancel(ctx)
		j = newJob(newRemoteFS(f.c), newLocalFS(), Options{Overwrite: true, Progress: cancelAfter(cancel, 4<<20)})
		j.meter.interval = 0
		_, err = j.run(cctx, filepath.Join(dir, "big"), localTarget, false)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("download: %v, want context.Canceled", err)
		}
		if got := string(readFile(t, localTarget)); got != "old local" {
			t.Errorf("local target changed: %.20q", got)
		}
		if tmp := tempFiles(t, localDir); len(tmp) > 0 {
			t.Errorf("local temporary files left: %q", tmp)
		}
		// An already cancelled context does nothing.
		_, err = Upload(cctx, f.c, local, remote, Options{Overwrite: true})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled upload: %v", err)
		}
	})

	t.Run("RenameFallback", func(t *testing.T) {
		t.Parallel()
		if _, ok := f.c.HasExtension("posix-rename@openssh.com"); !ok {
			t.Error("OpenSSH should advertise posix-rename@openssh.com")
		}
		dir := f.mkRemoteDir(t, "fallback")
		remote := filepath.Join(dir, "target")
		f.writeRemote(t, remote, []byte("old"), 0o600)
		local := filepath.Join(t.TempDir(), "new")
		mustWrite(t, local, "new")
		rfs := newRemoteFS(f.c)
		rfs.posixRename = false
		for _, target := range []string{remote, filepath.Join(dir, "fresh")} {
			if _, err := newJob(newLocalFS(), rfs, Options{Overwrite: true}).run(ctx, local, target, false); err != nil {
				t.Fatal(err)
			}
			if got := string(readFile(t, target)); got != "new" {
				t.Errorf("%s = %q", target, got)
			}
		}
		checkMode(t, remote, 0o600)
		// A failed second rename puts the old file back.
		tmp := tempName(dir, "target", "tmp")
		err := rfs.replaceFallback(tmp, remote) // tmp does not exist
		if err == nil {
			t.Fatal("replacing with a missing file worked")
		}
		if got := string(readFile(t, remote)); got != "new" {
			t.Errorf("after a failed replace: %q", got)
		}
		if left := tempFiles(t, dir); len(left) > 0 {
			t.Errorf("temporary files left: %q", left)
		}
	})

	t.Run("DiskFull", func(t *testing.T) {
		t.Parallel()
		full := f.mkRemoteDir(t, "full")
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=1777", "tmpfs", full).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs (needs root and CAP_SYS_ADMIN): %v %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", full).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", full, err, out)
			}
		})
		target := filepath.Join(full, "keep")
		f.writeRemote(t, target, []byte("old"), 0o644)
		local := filepath.Join(t.TempDir(), "big")
		writeRandomFile(t, local, 2<<20, 7)
		_, err := Upload(ctx, f.c, local, target, Options{Overwrite: true})
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("upload: %v, want ErrNoSpace", err)
		}
		mustContain(t, err, `remote "`+target+`"`, "no space left")
		_, err = WriteFile(ctx, f.c, target, strings.NewReader(strings.Repeat("x", 2<<20)), false, nil)
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("write: %v, want ErrNoSpace", err)
		}
		if got := string(readFile(t, target)); got != "old" {
			t.Errorf("target changed: %.20q", got)
		}
		if tmp := tempFiles(t, full); len(tmp) > 0 {
			t.Errorf("temporary files left: %q", tmp)
		}

		// The same on the local side.
		localFull := t.TempDir()
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", localFull).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", localFull).Run() })
		f.writeRemote(t, f.home("full-src"), readFile(t, local), 0o644)
		_, err = Download(ctx, f.c, f.home("full-src"), filepath.Join(localFull, "x"), Options{})
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("download: %v, want ErrNoSpace", err)
		}
		mustContain(t, err, `local "`+filepath.Join(localFull, "x")+`"`)
		if tmp := tempFiles(t, localFull); len(tmp) > 0 {
			t.Errorf("local temporary files left: %q", tmp)
		}
	})
}

// TestKilledConnection cuts the link in the middle of transfers: the old
// destination survives, and no local temporary file remains.
func TestKilledConnection(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	dir := f.mkRemoteDir(t, "killed")
	local := filepath.Join(t.TempDir(), "big")
	const n = 64 << 20
	writeRandomFile(t, local, n, 11)
	remote := filepath.Join(dir, "target")
	f.writeRemote(t, remote, []byte("old remote"), 0o644)

	// Cut uploads at random offsets: the destination is old or absent,
	// never partial.
	c := f.c
	for i, cut := range []int64{8 << 20, 1 + rand.Int64N(n-1), 1 + rand.Int64N(n-1)} {
		if i > 0 {
			_, c = f.dial(t)
		}
		target := remote
		if i == 2 {
			target = filepath.Join(dir, "absent")
		}
		j := newJob(newLocalFS(), newRemoteFS(c), Options{Overwrite: true, Progress: killAfter(f.srv, cut)})
		j.meter.interval = 0
		_, err := j.run(ctx, local, target, false)
		if !errors.Is(err, ErrConnectionLost) {
			t.Errorf("upload cut at %d: %v, want ErrConnectionLost", cut, err)
		}
		if got := string(readFile(t, remote)); got != "old remote" {
			t.Errorf("remote target changed: %.20q", got)
		}
		if _, err := os.Stat(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a cut upload created its destination: %v", err)
		}
		t.Logf("upload cut at %d: %v; remote temporary files left (accepted): %d", cut, err, len(tempFiles(t, dir)))
	}

	_, c = f.dial(t)
	bigRemote := filepath.Join(dir, "big")
	f.writeRemote(t, bigRemote, readFile(t, local), 0o644)
	localDir := t.TempDir()
	localTarget := filepath.Join(localDir, "target")
	mustWrite(t, localTarget, "old local")
	j := newJob(newRemoteFS(c), newLocalFS(), Options{Overwrite: true, Progress: killAfter(f.srv, 8<<20)})
	j.meter.interval = 0
	_, err := j.run(ctx, bigRemote, localTarget, false)
	if !errors.Is(err, ErrConnectionLost) {
		t.Errorf("download: %v, want ErrConnectionLost", err)
	}
	if got := string(readFile(t, localTarget)); got != "old local" {
		t.Errorf("local target changed: %.20q", got)
	}
	if tmp := tempFiles(t, localDir); len(tmp) > 0 {
		t.Errorf("local temporary files left: %q", tmp)
	}

	// A recursive download cut part way reports what was done.
	_, c = f.dial(t)
	tree := f.mkRemoteDir(t, "killed", "tree")
	chunk := readFile(t, local)[:2<<20]
	for i := range 24 {
		f.writeRemote(t, filepath.Join(tree, fmt.Sprintf("f%02d", i)), chunk, 0o644)
	}
	// parallelFiles files of 2 MiB are in flight at most: past 24 MiB, some
	// files must have completed.
	j = newJob(newRemoteFS(c), newLocalFS(), Options{Recursive: true, Progress: killAfter(f.srv, 24<<20)})
	j.meter.interval = 0
	back := t.TempDir()
	st, err := j.run(ctx, tree, back, false)
	var pe *PartialError
	if !errors.As(err, &pe) || !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("recursive download: %v, want a *PartialError for a lost connection", err)
	}
	t.Logf("recursive download: %d done, failed at %q after %d bytes", len(st.Done), pe.Failed, pe.BytesSent)
	if len(pe.Done) == 0 || len(pe.Done) == 24 {
		t.Errorf("%d files done, want some", len(pe.Done))
	}
	for _, p := range pe.Done {
		if fi, err := os.Stat(p); err != nil || fi.Size() != 2<<20 {
			t.Errorf("done file %s: %v", p, err)
		}
	}
	if tmp := tempFiles(t, back); len(tmp) > 0 {
		t.Errorf("local temporary files left: %q", tmp)
	}
}

// TestLargeWithRekey moves 256 MiB each way with RekeyLimit 1M, so the
// connection re-keys hundreds of times mid-transfer.
func TestLargeWithRekey(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB transfer skipped in -short mode")
	}
	f := newFixture(t, sshdtest.WithConfig("RekeyLimit 1M"))
	ctx := t.Context()
	const n = 256 << 20
	local := filepath.Join(t.TempDir(), "big")
	want := writeRandomFile(t, local, n, 42)
	remote := filepath.Join(f.mkRemoteDir(t, "large"), "big")

	start := time.Now()
	if _, err := Upload(ctx, f.c, local, remote, Options{}); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	if got := fileSHA(t, remote); got != want {
		t.Fatalf("uploaded sha256 %s, want %s", got, want)
	}
	back := filepath.Join(t.TempDir(), "back")
	start = time.Now()
	if _, err := Download(ctx, f.c, remote, back, Options{}); err != nil {
		t.Fatal(err)
	}
	down := time.Since(start)
	if got := fileSHA(t, back); got != want {
		t.Fatalf("downloaded sha256 %s, want %s", got, want)
	}
	t.Logf("256 MiB with RekeyLimit 1M: upload %v (%.0f MB/s), download %v (%.0f MB/s)",
		up.Round(time.Millisecond), n/up.Seconds()/1e6, down.Round(time.Millisecond), n/down.Seconds()/1e6)
}

// cancelAfter returns a progress callback that cancels once n bytes moved.
func cancelAfter(cancel context.CancelFunc, n int64) func(done, total int64) {
	return func(done, total int64) {
		if done >= n {
			cancel()
		}
	}
}

// killAfter returns a progress callback that drops every connection of srv
// once n bytes moved.
func killAfter(srv *sshdtest.Server, n int64) func(done, total int64) {
	var once atomic.Bool
	return func(done, total int64) {
		if done >= n && once.CompareAndSwap(false, true) {
			srv.KillConnections()
		}
	}
}

// makeTree writes n small files in directories of 100 under root, plus an
// empty directory and a symbolic link, and returns path -> content.
func makeTree(t testing.TB, root string, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	mustMkdir(t, filepath.Join(root, "empty"))
	for i := range n {
		rel := filepath.Join(fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%04d", i))
		p := filepath.Join(root, rel)
		if i%100 == 0 {
			mustMkdir(t, filepath.Dir(p))
		}
		content := string(randomBytes(i%2000, uint64(i)))
		mustWrite(t, p, content)
		want[rel] = content
	}
	mustSymlink(t, "d00/f0000", filepath.Join(root, "link"))
	return want
}

// checkTree compares a copied tree with makeTree's map.
func checkTree(t testing.TB, root string, want map[string]string) {
	t.Helper()
	got := 0
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "link" {
			if target, err := os.Readlink(p); err != nil || target != "d00/f0000" {
				t.Errorf("link -> %q, %v", target, err)
			}
			return nil
		}
		got++
		if w, ok := want[rel]; !ok {
			t.Errorf("unexpected %s", rel)
		} else if string(readFile(t, p)) != w {
			t.Errorf("%s differs", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Errorf("%d files in %s, want %d", got, root, len(want))
	}
	if fi, err := os.Stat(filepath.Join(root, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory: %v", err)
	}
}

func checkMode(t testing.TB, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %o, want %o", p, got, want)
	}
}

func checkModeTime(t testing.TB, p string, mode os.FileMode, mtime time.Time) {
	t.Helper()
	checkMode(t, p, mode)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), mtime)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t testing.TB, p string) { t.Helper(); must(t, os.MkdirAll(p, 0o755)) }
func mustWrite(t testing.TB, p, s string) {
	t.Helper()
	must(t, os.WriteFile(p, []byte(s), 0o644))
}
func mustSymlink(t testing.TB, target, p string) { t.Helper(); must(t, os.Symlink(target, p)) }
