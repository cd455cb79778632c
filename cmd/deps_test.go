package cmd

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The faces stay thin: cmd/ and mcpserve/ reach SSH and SFTP only through the
// operations interface, never x/crypto/ssh or pkg/sftp directly.
func TestFacesDoNotImportSSH(t *testing.T) {
	forbidden := []string{"golang.org/x/crypto/ssh", "github.com/pkg/sftp"}
	for _, dir := range []string{".", "../mcpserve"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				for _, bad := range forbidden {
					if p == bad || strings.HasPrefix(p, bad+"/") {
						t.Errorf("%s imports %s: go through session.Operations instead", f, p)
					}
				}
			}
		}
	}
}
