package cmd

import (
	"os"
	"path/filepath"
	"strings"
)

// absPath makes a local path absolute (expanding a leading ~): the holder's
// working directory is not the caller's.
func absPath(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return filepath.Abs(p)
}
