package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/pkg/sftp"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, os.ErrNotExist},
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, os.ErrPermission},
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.EPERM}, os.ErrPermission},
		{&fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, ErrNoSpace},
		{&fs.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, ErrNoSpace},
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.EISDIR}, ErrIsDir},
		{&fs.PathError{Op: "open", Path: "x", Err: syscall.ENOTDIR}, ErrNotDir},
		{&os.LinkError{Op: "link", Old: "a", New: "b", Err: syscall.EEXIST}, os.ErrExist},
		{&sftp.StatusError{Code: 2}, os.ErrNotExist},
		{&sftp.StatusError{Code: 3}, os.ErrPermission},
		{&sftp.StatusError{Code: 4}, nil},
		{&sftp.StatusError{Code: 8}, errors.ErrUnsupported},
		{os.ErrNotExist, os.ErrNotExist},
		{sftp.ErrSSHFxConnectionLost, ErrConnectionLost},
		{fmt.Errorf("wrapped: %w", sftp.ErrSSHFxConnectionLost), ErrConnectionLost},
		{context.Canceled, nil},
		{errors.New("other"), nil},
	}
	for _, tc := range cases {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestPathError(t *testing.T) {
	err := fmt.Errorf("upload %q to %q: %w", "a", "/x", newPathError("create", SideRemote, "/x/y\n", &sftp.StatusError{Code: 3}))
	if want := `upload "a" to "/x": create remote "/x/y\n": permission denied`; err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if !errors.Is(err, os.ErrPermission) {
		t.Error("not os.ErrPermission")
	}
	var se *sftp.StatusError
	if !errors.As(err, &se) {
		t.Error("the sftp status is lost")
	}
	var pe *PathError
	if !errors.As(err, &pe) || pe.Side != SideRemote || pe.Path != "/x/y\n" {
		t.Errorf("PathError = %+v", pe)
	}
	failure := newPathError("write", SideRemote, "/f", &sftp.StatusError{Code: 4})
	if !strings.Contains(failure.Error(), "SSH_FX_FAILURE") || failure.Kind != nil {
		t.Errorf("failure: %v", failure)
	}
	partial := &PartialError{Done: []string{"a"}, Failed: "b", Err: failure}
	if !errors.Is(partial, failure) || !strings.Contains(partial.Error(), `1 file(s) at "b"`) {
		t.Errorf("partial: %v", partial)
	}
}

func TestIsBinary(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"hello\n", false},
		{"tabs\tand\r\nlines\x1b[0m", false},
		{"héllo wörld ✓", false},
		{"a\x00b", true},
		{"caf\xe9 cr\xe8me", false},                    // Latin-1 text: few odd bytes
		{"\xe9\xe8\xff\xfe\x81", true},                 // mostly invalid
		{strings.Repeat("x", 100) + "\xe2\x9c", false}, // cut in a character
		{string([]byte{1, 2, 3, 4, 5, 6, 'a'}), true},
	}
	for _, tc := range cases {
		if got := isBinary([]byte(tc.in)); got != tc.want {
			t.Errorf("isBinary(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := guessType([]byte("\x89PNG\r\n\x1a\n\x00\x00")); got != "PNG image" {
		t.Errorf("png: %q", got)
	}
	tar := make([]byte, 512)
	copy(tar[257:], "ustar")
	if got := guessType(tar); got != "tar archive" {
		t.Errorf("tar: %q", got)
	}
	if got := textType([]byte("caf\xe9")); got != "text (not UTF-8)" {
		t.Errorf("latin-1: %q", got)
	}
}

func TestTrimPartialRune(t *testing.T) {
	for in, want := range map[string]string{
		"abc":            "abc",
		"ab\xc3":         "ab",
		"ab\xe2\x9c":     "ab",
		"ab\xe2\x9c\x93": "ab\xe2\x9c\x93",
		"\xc3":           "\xc3", // nothing left to keep
		"ab\xff":         "ab\xff",
	} {
		if got := string(trimPartialRune([]byte(in))); got != want {
			t.Errorf("trimPartialRune(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTempName(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for _, base := range []string{"plain", "new\nline", "-x", "\xff\xfe", long} {
		p := tempName("/d", base, "tmp")
		name := filepath.Base(p)
		if filepath.Dir(p) != "/d" || !strings.HasPrefix(name, ".") || !strings.Contains(name, ".mrs-tmp-") || len(name) > 255 {
			t.Errorf("tempName(%q) = %q", base, p)
		}
		if base == long && !utf8.ValidString(name) {
			t.Errorf("a long name was cut inside a character: %q", name)
		}
	}
	if tempName("/d", "x", "tmp") == tempName("/d", "x", "tmp") {
		t.Error("temporary names repeat")
	}
}

// TestLocalCopy runs the transfer engine between two local directories: the
// destination rules, per-file atomicity and partial failures need no sshd.
func TestLocalCopy(t *testing.T) {
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "src")
	want := makeTree(t, src, 120)
	dst := t.TempDir()
	run := func(o Options, from, to string) (Stats, error) {
		return newJob(newLocalFS(), newLocalFS(), o).run(ctx, from, to, strings.HasSuffix(to, "/"))
	}
	st, err := run(Options{Recursive: true}, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != 121 {
		t.Errorf("Files = %d", st.Files)
	}
	checkTree(t, filepath.Join(dst, "src"), want)

	// An existing destination file with Overwrite off stops a recursive copy with a partial
	// error, whatever was done stays done.
	mustWrite(t, filepath.Join(dst, "src", "d00", "f0050"), "changed")
	st, err = run(Options{Recursive: true}, src, dst)
	var pe *PartialError
	if !errors.As(err, &pe) || !errors.Is(err, os.ErrExist) {
		t.Fatalf("err = %v", err)
	}
	if got := string(readFile(t, filepath.Join(dst, "src", "d00", "f0050"))); got != "changed" {
		t.Errorf("existing file replaced: %q", got)
	}
	if len(st.Done) != len(pe.Done) {
		t.Errorf("Stats.Done %d, PartialError.Done %d", len(st.Done), len(pe.Done))
	}

	// Cancelled before the start.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := newJob(newLocalFS(), newLocalFS(), Options{}).run(cctx, src, t.TempDir(), false); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestLocalUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	if got := localUmask(); got != 0o027 {
		t.Errorf("localUmask() = %o, want 027", got)
	}
}
