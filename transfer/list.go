package transfer

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pkg/sftp"
)

// Entry types, as in Entry.Type.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	TypeOther   = "other"
)

// Entry is one item of a remote directory listing.
type Entry struct {
	// Name is the base name.
	Name string
	// Type is TypeFile, TypeDir, TypeSymlink or TypeOther.
	Type string
	// Size is the size in bytes (of the link itself for a symbolic link).
	Size int64
	// Mode holds the type and permission bits; Mode.Perm() gives 0644-style
	// permissions.
	Mode os.FileMode
	// ModTime is the modification time (whole seconds over SFTP).
	ModTime time.Time
	// LinkTarget is where a symbolic link points, as stored in the link.
	LinkTarget string
}

// ListDir lists the remote directory path, sorted by name, without names
// starting with "." unless all is set. A path that names something other
// than a directory (a file, a dangling link) lists just that entry. A
// symbolic link to a directory lists the directory. It returns the resolved
// path.
func ListDir(ctx context.Context, c *sftp.Client, path string, all bool) (string, []Entry, error) {
	fail := func(err error) error { return fmt.Errorf("list %q: %w", path, err) }
	p, err := ResolveRemote(c, path)
	if err != nil {
		return "", nil, fail(err)
	}
	if err := ctx.Err(); err != nil {
		return p, nil, fail(err)
	}
	fi, err := c.Stat(p)
	if err != nil || !fi.IsDir() {
		lfi, lerr := c.Lstat(p)
		if lerr != nil {
			if err == nil {
				err = lerr
			}
			return p, nil, fail(newPathError("stat", SideRemote, p, err))
		}
		e := entryOf(c, p, lfi)
		e.Name = pathBase(p)
		return p, []Entry{e}, nil
	}
	infos, err := c.ReadDirContext(ctx, p)
	if err != nil {
		if ce := ctx.Err(); ce != nil {
			err = ce
		}
		return p, nil, fail(newPathError("read directory", SideRemote, p, err))
	}
	entries := make([]Entry, 0, len(infos))
	for _, fi := range infos {
		if !all && strings.HasPrefix(fi.Name(), ".") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return p, nil, fail(err)
		}
		entries = append(entries, entryOf(c, joinPath(p, fi.Name()), fi))
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return p, entries, nil
}

// entryOf describes fi, reading the target of a symbolic link at p. A link
// whose target cannot be read keeps an empty LinkTarget.
func entryOf(c *sftp.Client, p string, fi os.FileInfo) Entry {
	e := Entry{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode(), ModTime: fi.ModTime(), Type: TypeOther}
	switch m := fi.Mode(); {
	case m.IsRegular():
		e.Type = TypeFile
	case m.IsDir():
		e.Type = TypeDir
	case m&os.ModeSymlink != 0:
		e.Type = TypeSymlink
		if t, err := c.ReadLink(p); err == nil {
			e.LinkTarget = t
		}
	}
	return e
}

func joinPath(dir, name string) string { return path.Join(dir, name) }
func pathBase(p string) string         { return path.Base(p) }
