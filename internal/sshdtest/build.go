package sshdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// BinaryName is the file name of the binary BuildBinary builds.
const BinaryName = "mcp-remote-ssh"

// startEnv and startDir are the environment and working directory of the
// test process before any test ran (and could change HOME or the directory),
// so the go command finds its real build and module caches.
var (
	startEnv    = os.Environ()
	startDir, _ = os.Getwd()
)

// build is the one build of the test process.
var build = sync.OnceValues(buildBinary)

// BuildBinary builds the repository's main package (`go build -o
// DIR/mcp-remote-ssh .` at the module root, found by walking up from the
// working directory to go.mod) once per test process, and returns the
// binary's path. Its directory outlives the test; a later test process
// removes it once this one is gone.
func BuildBinary(tb testing.TB) string {
	tb.Helper()
	path, err := build()
	if err != nil {
		tb.Fatalf("sshdtest: %v", err)
	}
	return path
}

// buildBinary does the work of BuildBinary.
func buildBinary() (string, error) {
	root, err := moduleRoot(startDir)
	if err != nil {
		return "", err
	}
	return buildIn(root)
}

// buildIn builds the main package at root into a fresh build directory.
func buildIn(root string) (string, error) {
	dir, err := tempDir("", "bin")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", BinaryName, err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		if goroot := os.Getenv("GOROOT"); goroot != "" {
			gobin = filepath.Join(goroot, "bin", "go")
		} else {
			return "", fmt.Errorf("build %s: find the go command: %w", BinaryName, err)
		}
	}
	out := filepath.Join(dir, BinaryName)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, ".")
	cmd.Dir = root
	cmd.Env = startEnv
	cmd.WaitDelay = 10 * time.Second
	if msg, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("build %s in %s: %w\n%s", BinaryName, root, err, msg)
	}
	return out, nil
}

// moduleRoot walks up from dir to the directory holding go.mod.
func moduleRoot(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("find module root: unknown working directory")
	}
	for d := dir; ; {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && fi.Mode().IsRegular() {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("find module root: no go.mod in %s or above", dir)
		}
		d = parent
	}
}
