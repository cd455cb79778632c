package transfer

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pkg/sftp"
)

// ResolveRemote turns a remote path as a person or agent writes it into an
// absolute, lexically cleaned path: "~" is the remote home, "~/x" and relative
// paths are below it. The remote home is the SFTP server's working directory
// (c.Getwd), which OpenSSH sets to the user's home. "~user" forms are not
// expanded: "~user/x" is a relative path whose first element is "~user". An
// empty path or one containing a NUL byte is refused with ErrInvalid.
func ResolveRemote(c *sftp.Client, p string) (string, error) {
	if err := checkPath(SideRemote, p); err != nil {
		return "", err
	}
	if path.IsAbs(p) {
		return path.Clean(p), nil
	}
	home, err := c.Getwd()
	if err != nil {
		return "", fmt.Errorf("resolve remote path %q: ask the server for the home directory: %w", p, newPathError("getwd", SideRemote, "~", err))
	}
	switch {
	case p == "~":
		return path.Clean(home), nil
	case strings.HasPrefix(p, "~/"):
		return path.Join(home, p[2:]), nil
	default:
		return path.Join(home, p), nil
	}
}

// checkPath refuses paths no file system call should see.
func checkPath(side, p string) error {
	if p == "" {
		return pathErrorf("check", side, p, ErrInvalid, "empty path")
	}
	if strings.IndexByte(p, 0) >= 0 {
		return pathErrorf("check", side, p, ErrInvalid, "path contains a NUL byte")
	}
	return nil
}

// endsWithSlash reports whether p names a directory by its trailing slash.
func endsWithSlash(p string) bool {
	return len(p) > 1 && strings.HasSuffix(p, "/")
}

// maxTempBase bounds the part of a temporary name taken from the target, so
// that ".NAME.mrs-tmp-RANDOM" stays within the 255-byte name limit.
const maxTempBase = 200

// tempName returns a fresh hidden name beside target, ".NAME.mrs-<tag>-RANDOM".
// NAME is the target's base name, cut to a valid UTF-8 boundary if it is long;
// its bytes are otherwise kept as they are.
func tempName(dir, base, tag string) string {
	if len(base) > maxTempBase {
		cut := maxTempBase
		for cut > maxTempBase-utf8.UTFMax && !utf8.RuneStart(base[cut]) {
			cut--
		}
		base = base[:cut]
	}
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return path.Join(dir, "."+base+".mrs-"+tag+"-"+hex.EncodeToString(b[:]))
}

// localUmask returns the process umask from /proc/self/status (read without
// changing it, unlike syscall.Umask), or 022 when it cannot be read.
func localUmask() os.FileMode {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o022
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				break
			}
			return os.FileMode(m) & os.ModePerm
		}
	}
	return 0o022
}
