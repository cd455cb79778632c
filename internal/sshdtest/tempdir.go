package sshdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// shortTempBase holds directories whose paths must stay short (unix sockets
// are limited to 108 bytes), whatever TMPDIR says.
const shortTempBase = "/tmp"

// sweptKinds are the kinds of temporary directories that sweepStaleDirs may
// remove; "home" is left to sweepStaleUsers, which must run userdel first.
var sweptKinds = []string{"sshd", "agent", "env", "bin"}

// tempDir creates a directory in base (os.TempDir() when empty) named
// mrs-KIND-PID-RANDOM, so a later test process can remove it when this
// process died before its cleanup ran. It first sweeps stale directories
// once per process.
func tempDir(base, kind string) (string, error) {
	sweepDirsOnce.Do(sweepStaleDirs)
	dir, err := os.MkdirTemp(base, "mrs-"+kind+"-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("create %s temp dir: %w", kind, err)
	}
	return dir, nil
}

// sweepDirsOnce runs sweepStaleDirs once per test process.
var sweepDirsOnce sync.Once

// sweepStaleDirs removes the temporary directories of test processes that
// no longer run. Errors are ignored: a stale directory only wastes space.
func sweepStaleDirs() {
	bases := []string{os.TempDir()}
	if shortTempBase != os.TempDir() {
		bases = append(bases, shortTempBase)
	}
	for _, base := range bases {
		entries, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() && staleDir(e.Name()) {
				_ = os.RemoveAll(filepath.Join(base, e.Name()))
			}
		}
	}
}

// staleDir reports whether name is a directory made by tempDir in a process
// that no longer runs.
func staleDir(name string) bool {
	rest, ok := strings.CutPrefix(name, "mrs-")
	if !ok {
		return false
	}
	kind, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return false
	}
	known := false
	for _, k := range sweptKinds {
		known = known || k == kind
	}
	pidText, _, ok := strings.Cut(rest, "-")
	if !known || !ok {
		return false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	_, err = os.Stat("/proc/" + pidText)
	return os.IsNotExist(err)
}
