package transfer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/mcp-remote-ssh/mcp-remote-ssh/internal/sshdtest"
)

// fixture is a real sshd with one user, and an SFTP client logged in as that
// user. The test process (root) shares the machine's file system with the
// server, so it can set up and check remote files directly under u.Home.
type fixture struct {
	srv  *sshdtest.Server
	u    *sshdtest.User
	conn *ssh.Client
	c    *sftp.Client
}

func newFixture(t testing.TB, opts ...sshdtest.Option) *fixture {
	t.Helper()
	u := sshdtest.NewUser(t)
	srv := sshdtest.Start(t, append([]sshdtest.Option{sshdtest.WithUsers(u)}, opts...)...)
	f := &fixture{srv: srv, u: u}
	f.conn, f.c = f.dial(t)
	return f
}

// dial opens a new SSH connection and SFTP client, checking the host key
// against a known_hosts file.
func (f *fixture) dial(t testing.TB) (*ssh.Client, *sftp.Client) {
	t.Helper()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	f.srv.WriteKnownHosts(t, kh)
	cb, err := knownhosts.New(kh)
	if err != nil {
		t.Fatalf("known_hosts: %v", err)
	}
	cfg := &ssh.ClientConfig{
		User:            f.u.Name,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(f.u.Signer(t))},
		HostKeyCallback: cb,
		Timeout:         10 * time.Second,
	}
	conn, err := ssh.Dial("tcp", f.srv.Addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", f.srv.Addr, err)
	}
	c, err := NewClient(conn)
	if err != nil {
		conn.Close()
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		conn.Close()
	})
	return conn, c
}

// home returns a path under the remote user's home.
func (f *fixture) home(elem ...string) string {
	return filepath.Join(append([]string{f.u.Home}, elem...)...)
}

// mkRemoteDir creates a directory in the user's home owned by the user.
func (f *fixture) mkRemoteDir(t testing.TB, elem ...string) string {
	t.Helper()
	p := f.u.Home
	for _, e := range elem {
		p = filepath.Join(p, e)
		if err := os.Mkdir(p, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		f.chown(t, p)
	}
	return p
}

// writeRemote writes a file owned by the user.
func (f *fixture) writeRemote(t testing.TB, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	f.chown(t, p)
}

func (f *fixture) chown(t testing.TB, p string) {
	t.Helper()
	if err := os.Lchown(p, f.u.UID, f.u.GID); err != nil {
		t.Fatal(err)
	}
}

// randomBytes returns n pseudo-random bytes from a fixed seed.
func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// writeRandomFile writes n pseudo-random bytes to p in chunks and returns
// their sha256.
func writeRandomFile(t testing.TB, p string, n int64, seed uint64) string {
	t.Helper()
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	w := io.MultiWriter(fh, h)
	const chunk = 1 << 20
	for done := int64(0); done < n; {
		k := min(chunk, n-done)
		if _, err := w.Write(randomBytes(int(k), seed+uint64(done))); err != nil {
			t.Fatal(err)
		}
		done += k
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSHA(t testing.TB, p string) string {
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

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tempFiles lists the transfer temporary files under dir.
func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	var found []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".mrs-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// mustContain fails unless err's message contains every part.
func mustContain(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func equalBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("content differs: got %d bytes, want %d", len(got), len(want))
	}
}
