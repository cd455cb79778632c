package sshdtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// User is a throwaway local unix account for tests, or root (see [Root]).
//
// Its key files live in a root-only temporary directory, never in its home;
// a [Server] started with [WithUsers] authorizes all three keys.
type User struct {
	// Name is the login name: "mrs" and 6 hex digits, or "root".
	Name string
	// Password is the account's password, set with chpasswd (empty for root).
	Password string
	// Home is the home directory, under a temporary directory (never root's
	// real home).
	Home string
	// UID and GID are the account's numeric user and primary group ids.
	UID, GID int
	// KeyPath is an unencrypted ed25519 private key file (0600); its public
	// key is KeyPath+".pub".
	KeyPath string
	// EncKeyPath is an ed25519 private key file (0600) encrypted with
	// Passphrase; its public key is EncKeyPath+".pub".
	EncKeyPath string
	// Passphrase decrypts EncKeyPath.
	Passphrase string
	// RSAKeyPath is an unencrypted RSA private key file (0600); its public
	// key is RSAKeyPath+".pub".
	RSAKeyPath string
	// Sudo is the sudo rule the account was given.
	Sudo SudoMode
	// SudoersPath is the sudoers drop-in file written for the account, or
	// empty when Sudo is SudoNone.
	SudoersPath string
}

// SudoMode selects the sudo rule [WithSudo] gives a user.
type SudoMode int

const (
	// SudoNone gives no sudo rule (the default).
	SudoNone SudoMode = iota
	// SudoPassword lets the user run anything as any user with sudo after
	// giving its own password.
	SudoPassword
	// SudoNoPassword lets the user run anything as any user with sudo
	// without a password (NOPASSWD).
	SudoNoPassword
)

// String returns the mode's name.
func (m SudoMode) String() string {
	switch m {
	case SudoNone:
		return "none"
	case SudoPassword:
		return "password"
	case SudoNoPassword:
		return "nopassword"
	default:
		return "SudoMode(" + strconv.Itoa(int(m)) + ")"
	}
}

// UserOption configures [NewUser].
type UserOption func(*userConfig)

// userConfig collects the options of NewUser.
type userConfig struct {
	sudo SudoMode
}

// WithSudo gives the user a sudoers entry in /etc/sudoers.d/<name> (0440),
// removed at cleanup. The entry also turns off the lecture and the
// credential cache (timestamp_timeout=0), so every sudo behaves the same.
func WithSudo(mode SudoMode) UserOption {
	return func(c *userConfig) { c.sudo = mode }
}

// PublicKeyPaths returns the public key files of the user's three keys.
func (u *User) PublicKeyPaths() []string {
	return []string{u.KeyPath + ".pub", u.EncKeyPath + ".pub", u.RSAKeyPath + ".pub"}
}

// AuthorizedKeys returns the authorized_keys content for the user's three
// keys, one line each.
func (u *User) AuthorizedKeys() (string, error) {
	var b strings.Builder
	for _, p := range u.PublicKeyPaths() {
		line, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("read public key of %s: %w", u.Name, err)
		}
		b.WriteString(strings.TrimSpace(string(line)))
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// Signer returns an ssh.Signer for the unencrypted ed25519 key (KeyPath).
func (u *User) Signer(tb testing.TB) ssh.Signer {
	tb.Helper()
	b, err := os.ReadFile(u.KeyPath)
	if err != nil {
		tb.Fatalf("sshdtest: read key of %s: %v", u.Name, err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		tb.Fatalf("sshdtest: parse key of %s: %v", u.Name, err)
	}
	return s
}

// NewUser creates a throwaway local account: useradd with a home under a
// temporary directory and /bin/bash as shell, a random password set with
// chpasswd, and ed25519, encrypted ed25519 and RSA keys made with
// ssh-keygen. tb.Cleanup kills the account's processes and removes it with
// userdel -r. Account creation and removal are serialised across processes
// with flock on a lock file in os.TempDir(), since useradd locks /etc/passwd.
func NewUser(tb testing.TB, opts ...UserOption) *User {
	tb.Helper()
	Require(tb)
	var cfg userConfig
	for _, o := range opts {
		o(&cfg)
	}

	u := &User{Sudo: cfg.sudo}
	u.Name = "mrs" + randomHex(3)
	u.Password = randomHex(16)
	u.Passphrase = randomHex(16)

	keyDir := tb.TempDir()
	if err := u.generateKeys(keyDir); err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}

	// The home's parent must be searchable by the user, which a tb.TempDir
	// (0700) is not.
	homeBase, err := tempDir("", "home")
	if err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}
	if err := os.Chmod(homeBase, 0o755); err != nil {
		_ = os.RemoveAll(homeBase)
		tb.Fatalf("sshdtest: chmod home parent: %v", err)
	}

	if err := u.create(homeBase); err != nil {
		_ = os.RemoveAll(homeBase)
		tb.Fatalf("sshdtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := u.remove(); err != nil {
			tb.Errorf("sshdtest: %v", err)
		}
		if err := os.RemoveAll(homeBase); err != nil {
			tb.Errorf("sshdtest: remove home parent of %s: %v", u.Name, err)
		}
	})

	if err := run(nil, u.Name+":"+u.Password+"\n", "chpasswd"); err != nil {
		tb.Fatalf("sshdtest: set password of %s: %v", u.Name, err)
	}
	if u.Sudo != SudoNone {
		if err := u.writeSudoers(); err != nil {
			tb.Fatalf("sshdtest: %v", err)
		}
	}
	return u
}

// Root returns a User describing root, with freshly generated keys (in a
// temporary directory) and Home set to a temporary directory: root's real
// home and ~/.ssh are never used. Password is empty. Pass it to [WithUsers],
// or use [WithRoot], to authorize its keys.
func Root(tb testing.TB) *User {
	tb.Helper()
	Require(tb)
	u := &User{Name: "root", UID: 0, GID: 0, Home: tb.TempDir(), Passphrase: randomHex(16)}
	if err := u.generateKeys(tb.TempDir()); err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}
	return u
}

// generateKeys makes the user's three keys in dir, in parallel.
func (u *User) generateKeys(dir string) error {
	u.KeyPath = filepath.Join(dir, "id_ed25519")
	u.EncKeyPath = filepath.Join(dir, "id_ed25519_enc")
	u.RSAKeyPath = filepath.Join(dir, "id_rsa")
	comment := u.Name + "@sshdtest"
	jobs := []struct {
		path, typ, bits, pass string
	}{
		{u.KeyPath, "ed25519", "", ""},
		{u.EncKeyPath, "ed25519", "", u.Passphrase},
		{u.RSAKeyPath, "rsa", "2048", ""},
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { errs[i] = keygen(j.path, j.typ, j.bits, j.pass, comment) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keygen runs ssh-keygen to write a private key (0600) at path and its public
// key at path+".pub".
func keygen(path, typ, bits, passphrase, comment string) error {
	args := []string{"-q", "-t", typ, "-N", passphrase, "-C", comment, "-f", path}
	if bits != "" {
		args = append(args, "-b", bits)
	}
	if err := run(nil, "", "ssh-keygen", args...); err != nil {
		return fmt.Errorf("generate %s key %s: %w", typ, path, err)
	}
	return nil
}

// create adds the account under the user database lock, picking another
// name if the random one is taken.
func (u *User) create(homeBase string) error {
	unlock, err := lockUserDB()
	if err != nil {
		return err
	}
	defer unlock()
	sweepOnce.Do(sweepStaleUsers)
	for range 5 {
		if _, err := user.Lookup(u.Name); err == nil {
			u.Name = "mrs" + randomHex(3)
			continue
		}
		u.Home = filepath.Join(homeBase, u.Name)
		err := run(nil, "", "useradd", "--create-home", "--home-dir", u.Home,
			"--shell", "/bin/bash", "--user-group", "--no-log-init",
			"--comment", ownerComment(), u.Name)
		if err != nil {
			return fmt.Errorf("create user %s: %w", u.Name, err)
		}
		pw, err := user.Lookup(u.Name)
		if err != nil {
			return errors.Join(fmt.Errorf("look up new user %s: %w", u.Name, err), u.deleteLocked())
		}
		u.UID, _ = strconv.Atoi(pw.Uid)
		u.GID, _ = strconv.Atoi(pw.Gid)
		return nil
	}
	return errors.New("create user: no free random name after 5 tries")
}

// ownerPrefix starts the GECOS comment of every account NewUser creates.
const ownerPrefix = "sshdtest owner "

// ownerComment names the creating test process (pid and start time) in the
// account's GECOS field, so a later process can tell a leaked account (its
// creator killed before cleanup, say by a test timeout) from a live one.
func ownerComment() string {
	self, err := readProc(os.Getpid())
	if err != nil {
		return ownerPrefix + strconv.Itoa(os.Getpid()) + " 0"
	}
	return fmt.Sprintf("%s%d %d", ownerPrefix, self.pid, self.start)
}

// sweepOnce runs sweepStaleUsers once per test process.
var sweepOnce sync.Once

// sweepStaleUsers deletes accounts created by NewUser in test processes
// that are gone, with their sudoers entries and home directories. The caller
// holds the user database lock. Errors are ignored: sweeping is best effort.
func sweepStaleUsers() {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 || !strings.HasPrefix(f[4], ownerPrefix) || !strings.HasPrefix(f[0], "mrs") {
			continue
		}
		var owner procID
		if _, err := fmt.Sscanf(strings.TrimPrefix(f[4], ownerPrefix), "%d %d", &owner.pid, &owner.start); err != nil {
			continue
		}
		if owner.start == 0 || alive(owner) {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil || uid == 0 {
			continue
		}
		stale := &User{Name: f[0], UID: uid, Home: f[5], SudoersPath: filepath.Join("/etc/sudoers.d", f[0])}
		_ = os.Remove(stale.SudoersPath)
		if stale.deleteLocked() == nil && strings.HasPrefix(filepath.Base(filepath.Dir(stale.Home)), "mrs-home-") {
			_ = os.Remove(filepath.Dir(stale.Home)) // only when empty
		}
	}
}

// remove deletes the sudoers entry, kills the account's processes and
// deletes the account with its home, then checks it is gone.
func (u *User) remove() error {
	var errs []error
	if u.SudoersPath != "" {
		if err := os.Remove(u.SudoersPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove sudoers entry of %s: %w", u.Name, err))
		}
	}
	unlock, err := lockUserDB()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	defer unlock()
	errs = append(errs, u.deleteLocked())
	return errors.Join(errs...)
}

// deleteLocked kills the account's processes and runs userdel -r; the caller
// holds the user database lock.
func (u *User) deleteLocked() error {
	var err error
	for range 3 {
		if u.UID != 0 {
			if kerr := killUser(u.UID, 5*time.Second); kerr != nil {
				err = kerr
				continue
			}
		}
		err = run(nil, "", "userdel", "--remove", u.Name)
		if err == nil {
			break
		}
		// userdel refuses a user with live processes: kill and try again.
	}
	if err != nil {
		return fmt.Errorf("delete user %s: %w", u.Name, err)
	}
	if _, lerr := user.Lookup(u.Name); lerr == nil {
		return fmt.Errorf("delete user %s: still in the user database after userdel", u.Name)
	}
	if _, lerr := user.LookupGroup(u.Name); lerr == nil {
		// userdel keeps a user group only when other members use it.
		_ = run(nil, "", "groupdel", u.Name)
	}
	return nil
}

// writeSudoers writes /etc/sudoers.d/<name> (0440) for u.Sudo, validated
// with visudo -cf when visudo exists. The file is written under a name sudo
// ignores (it contains a dot) and renamed into place once valid.
func (u *User) writeSudoers() error {
	tag := ""
	switch u.Sudo {
	case SudoPassword:
	case SudoNoPassword:
		tag = "NOPASSWD: "
	default:
		return fmt.Errorf("write sudoers entry of %s: unknown mode %v", u.Name, u.Sudo)
	}
	content := fmt.Sprintf("Defaults:%[1]s !lecture, timestamp_timeout=0\n%[1]s ALL=(ALL:ALL) %[2]sALL\n", u.Name, tag)
	final := filepath.Join("/etc/sudoers.d", u.Name)
	tmp := filepath.Join("/etc/sudoers.d", "."+u.Name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o440); err != nil {
		return fmt.Errorf("write sudoers entry of %s: %w", u.Name, err)
	}
	if err := os.Chmod(tmp, 0o440); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("chmod sudoers entry of %s: %w", u.Name, err)
	}
	if visudo, err := exec.LookPath("visudo"); err == nil {
		if err := run(nil, "", visudo, "-cf", tmp); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("validate sudoers entry of %s: %w", u.Name, err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("install sudoers entry of %s: %w", u.Name, err)
	}
	u.SudoersPath = final
	return nil
}

// lockUserDB takes an exclusive flock on a lock file in os.TempDir(), shared
// by every test process, polling for at most two minutes.
func lockUserDB() (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "mcp-remote-ssh-sshdtest-users.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open user database lock %s: %w", path, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("lock %s: still held by another process after 2m", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// run runs a command with a two-minute timeout (generous: test machines are
// often loaded), feeding it stdin, and returns an error holding its output
// when it fails. env nil means the current environment.
func run(env []string, stdin, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			return fmt.Errorf("%s: %w", name, err)
		}
		return fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return nil
}
