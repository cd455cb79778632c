package cmd

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update", false, "regenerate docs/cli (go test ./cmd -run TestDocsUpToDate -update)")

// docs/cli is the generated CLI reference the README points to. A command or
// flag change that did not regenerate it fails here; to fix:
//
//	go test ./cmd -run TestDocsUpToDate -update
func TestDocsUpToDate(t *testing.T) {
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "MCP_REMOTE_SSH_") {
			t.Setenv(name, "") // restored after the test; DocsRoot unsets it
		}
	}
	want := filepath.Join("..", "docs", "cli")
	f := &Factory{Build: BuildInfo{Version: "dev"}, IO: &IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	if *updateDocs {
		if err := GenDocs(f, &GenDocsOptions{MarkdownDir: want}); err != nil {
			t.Fatal(err)
		}
		t.Logf("regenerated %s", want)
		return
	}
	got := t.TempDir()
	if err := GenDocs(f, &GenDocsOptions{MarkdownDir: got}); err != nil {
		t.Fatal(err)
	}
	gotFiles, wantFiles := docsMDFiles(t, got), docsMDFiles(t, want)
	const fix = "docs/cli is stale: run  go test ./cmd -run TestDocsUpToDate -update  and commit docs/cli"
	for name := range gotFiles {
		if _, ok := wantFiles[name]; !ok {
			t.Errorf("%s: docs/cli/%s is missing", fix, name)
		}
	}
	for name := range wantFiles {
		if _, ok := gotFiles[name]; !ok {
			t.Errorf("%s: docs/cli/%s documents no command", fix, name)
		}
	}
	var names []string
	for name := range gotFiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if w, ok := wantFiles[name]; ok && w != gotFiles[name] {
			t.Errorf("%s: docs/cli/%s differs from the generated page:\n%s", fix, name, docsFirstDiff(w, gotFiles[name]))
		}
	}
}

func docsMDFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(p)] = string(b)
	}
	return m
}

// docsFirstDiff shows the first line that differs.
func docsFirstDiff(committed, generated string) string {
	a, b := strings.Split(committed, "\n"), strings.Split(generated, "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("  line %d\n  committed: %s\n  generated: %s", i+1, x, y)
		}
	}
	return "  (no line differs)"
}
