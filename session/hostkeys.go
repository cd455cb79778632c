package session

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/charmbracelet/log"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	xknownhosts "golang.org/x/crypto/ssh/knownhosts"
	"golang.org/x/sys/unix"
)

// HostKeyError is a host-key policy refusal: a changed key, an unknown host
// under strict, or a revoked key.
type HostKeyError struct {
	Host           string
	Fingerprint    string
	KnownHostsLine string // file:line that disagrees, for a mismatch
}

// Error names the host and the fingerprint that was refused.
func (e *HostKeyError) Error() string {
	return fmt.Sprintf("host key of %s (%s) refused", e.Host, e.Fingerprint)
}

// hostKeyCheck verifies one host's key during a handshake under a policy.
type hostKeyCheck struct {
	logger   *log.Logger
	policy   string
	files    []string // user known_hosts files; new keys go to files[0]
	global   []string
	caller   Caller
	ctx      context.Context
	recorded bool
	fp       string
	err      error
}

// appendMu serialises appends to known_hosts inside this process; flock does across processes.
var appendMu sync.Mutex //nolint:gochecknoglobals // guards a file shared by every holder goroutine

// loadKnownHosts builds a DB from files, skipping (with a warning) lines that
// do not parse instead of letting one bad line disable every check. Line
// numbers are kept so errors name the real file:line. The returned map gives
// the original path of any filtered copy.
func (c *hostKeyCheck) loadKnownHosts() (*knownhosts.HostKeyDB, map[string]string, func(), error) {
	var paths []string
	orig := map[string]string{}
	var tmpDir string
	cleanup := func() {
		if tmpDir != "" {
			os.RemoveAll(tmpDir)
		}
	}
	for _, f := range append(append([]string{}, c.files...), c.global...) {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := bytes.Split(data, []byte("\n"))
		bad := false
		for i, line := range lines {
			t := bytes.TrimSpace(line)
			if len(t) == 0 || t[0] == '#' {
				continue
			}
			if _, _, _, _, _, err := ssh.ParseKnownHosts(t); err != nil {
				c.logger.Warn("skipping unparseable known_hosts line", "file", f, "line", i+1, "err", err)
				lines[i] = []byte("#")
				bad = true
			}
		}
		if !bad {
			paths = append(paths, f)
			orig[f] = f
			continue
		}
		if tmpDir == "" {
			if tmpDir, err = os.MkdirTemp("", "mrs-kh-"); err != nil {
				cleanup()
				return nil, nil, nil, fmt.Errorf("filter known_hosts: %w", err)
			}
		}
		cp := filepath.Join(tmpDir, fmt.Sprintf("%d", len(paths)))
		if err := os.WriteFile(cp, bytes.Join(lines, []byte("\n")), 0o600); err != nil {
			cleanup()
			return nil, nil, nil, fmt.Errorf("filter known_hosts: %w", err)
		}
		paths = append(paths, cp)
		orig[cp] = f
	}
	db, err := knownhosts.NewDB(paths...)
	if err != nil {
		cleanup()
		return nil, nil, nil, Wrap(CodeInvalidArgument, err, "fix or remove the line it names", "read known_hosts")
	}
	return db, orig, cleanup, nil
}

// callback returns the HostKeyCallback and the host key algorithms to offer
// for hostport (scoped to the keys already known, so an existing entry is used).
func (c *hostKeyCheck) callback(hostport string) (ssh.HostKeyCallback, []string, func(), error) {
	db, orig, cleanup, err := c.loadKnownHosts()
	if err != nil {
		return nil, nil, nil, err
	}
	algos := db.HostKeyAlgorithms(hostport)
	inner := db.HostKeyCallback()
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		c.fp = ssh.FingerprintSHA256(key)
		err := inner(hostname, remote, key)
		if err == nil {
			return nil
		}
		c.err = c.classify(hostname, remote, key, err, orig)
		return c.err
	}
	return cb, algos, cleanup, nil
}

func (c *hostKeyCheck) classify(hostname string, remote net.Addr, key ssh.PublicKey, err error, orig map[string]string) error {
	fp := ssh.FingerprintSHA256(key)
	var revoked *xknownhosts.RevokedError
	if errors.As(err, &revoked) {
		return &Error{Code: CodeHostKeyRevoked, Err: &HostKeyError{Host: hostname, Fingerprint: fp},
			Message: fmt.Sprintf("host key %s of %s is marked @revoked in %s:%d", fp, hostname, orig[revoked.Revoked.Filename], revoked.Revoked.Line),
			Hint:    "do not connect; ask the host's administrator for its current key"}
	}
	var ke *xknownhosts.KeyError
	if !errors.As(err, &ke) {
		return Wrap(CodeHostKeyMismatch, err, "check known_hosts", "verify host key of %s", hostname)
	}
	if len(ke.Want) > 0 {
		w := ke.Want[0]
		line := fmt.Sprintf("%s:%d", orig[w.Filename], w.Line)
		return &Error{Code: CodeHostKeyMismatch, Err: &HostKeyError{Host: hostname, Fingerprint: fp, KnownHostsLine: line},
			Message: fmt.Sprintf("HOST KEY CHANGED for %s: it offered %s %s, which disagrees with %s", hostname, key.Type(), fp, line),
			Hint:    fmt.Sprintf("this may be an attack; if the key really changed, remove the old entry (ssh-keygen -R %s) and connect again", knownhosts.Normalize(hostname))}
	}
	// Unknown host.
	switch c.policy {
	case HostKeyStrict:
		return &Error{Code: CodeHostKeyUnknown, Err: &HostKeyError{Host: hostname, Fingerprint: fp},
			Message: fmt.Sprintf("host %s is not in known_hosts (it offered %s %s) and the policy is strict", hostname, key.Type(), fp),
			Hint:    "verify the fingerprint, then add it (ssh-keyscan, or connect once with --host-key-policy accept-new or ask)"}
	case HostKeyAsk:
		ans, perr := c.caller.prompt(c.ctx, Prompt{Kind: PromptHostKey, Host: hostname, Fingerprint: fp, Echo: true,
			Message: fmt.Sprintf("The authenticity of host %s can't be established.\n%s key fingerprint is %s.\nAre you sure you want to continue connecting (yes/no)?", hostname, key.Type(), fp)},
			"--host-key-policy accept-new, or add the key to known_hosts")
		if perr != nil {
			return perr
		}
		if a := strings.ToLower(strings.TrimSpace(ans)); a != "yes" && a != "y" {
			return &Error{Code: CodeHostKeyUnknown, Message: fmt.Sprintf("host key %s of %s was not approved", fp, hostname), Hint: "connect again and answer yes if the fingerprint is right"}
		}
	case HostKeyOff:
		c.logger.Warn("HOST KEY CHECKING IS OFF: accepting an unverified key", "host", hostname, "fingerprint", fp)
		return nil
	}
	if werr := appendKnownHost(c.files[0], hostname, remote, key); werr != nil {
		return Wrap(CodePermissionDenied, werr, "check that ~/.ssh is writable", "record host key of %s", hostname)
	}
	c.recorded = true
	c.logger.Info("recorded new host key", "host", hostname, "fingerprint", fp, "file", c.files[0])
	return nil
}

// appendKnownHost appends one line to path under an exclusive lock, creating
// the file 0600 (and its directory 0700). A file without a final newline gets one first.
func appendKnownHost(path, hostname string, remote net.Addr, key ssh.PublicKey) error {
	appendMu.Lock()
	defer appendMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", path, err)
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	// Someone may have recorded the same key while we waited for the lock.
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == line {
			return nil
		}
	}
	var buf bytes.Buffer
	if len(data) > 0 && data[len(data)-1] != '\n' {
		buf.WriteByte('\n')
	}
	buf.WriteString(line)
	buf.WriteByte('\n')
	if _, err := f.Write(buf.Bytes()); err != nil {
		return err
	}
	return f.Sync()
}
