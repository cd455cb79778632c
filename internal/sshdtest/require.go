package sshdtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// SSHDPath is the OpenSSH server binary the helpers start.
const SSHDPath = "/usr/sbin/sshd"

// Require skips the test when the test bed cannot run a real sshd: when
// /usr/sbin/sshd or ssh-keygen is missing, or when the test does not run as
// root. It calls tb.Fatal instead of tb.Skip when the environment variable CI
// is "true", so a broken CI image never passes silently.
func Require(tb testing.TB) {
	tb.Helper()
	missing := missingRequirements()
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("sshdtest: cannot run a real sshd: %s", strings.Join(missing, "; "))
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: the CI image must provide them)")
	}
	tb.Skip(msg)
}

// missingRequirements lists what the test bed lacks, in words.
func missingRequirements() []string {
	var missing []string
	if fi, err := os.Stat(SSHDPath); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		missing = append(missing, SSHDPath+" is missing (install openssh-server)")
	}
	for _, tool := range []string{"ssh-keygen", "ssh-agent", "ssh-add"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" is missing (install openssh-client)")
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "tests must run as root (useradd, sshd privilege separation)")
	}
	return missing
}
