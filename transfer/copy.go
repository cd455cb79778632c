package transfer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"syscall"

	"github.com/pkg/sftp"
)

// Options tune Upload and Download.
type Options struct {
	// Recursive allows a directory source; its tree is copied.
	Recursive bool
	// Preserve keeps the source's permission bits and access and
	// modification times, like scp -p. Without it an overwritten file keeps
	// the replaced file's mode and a new file gets the source's permission
	// bits minus the umask (see the package documentation).
	Preserve bool
	// Overwrite allows replacing existing destination files. When false, an
	// existing destination file is an error matching os.ErrExist.
	Overwrite bool
	// FollowSymlinks makes recursive transfers copy what symbolic links in
	// the tree point to instead of recreating the links.
	FollowSymlinks bool
	// Progress, if not nil, is called with the bytes moved so far and the
	// total expected: at the start, at least every second while bytes move,
	// and at the end. Calls are serialized.
	Progress func(done, total int64)
}

// Stats describe a finished (or partly finished) transfer.
type Stats struct {
	// Files counts the files (and, in recursive transfers, symbolic links)
	// completed.
	Files int
	// Bytes counts the bytes of the completed files.
	Bytes int64
	// Done lists the destination paths completed, sorted.
	Done []string
	// Skipped lists source paths a recursive transfer left out: special
	// files, dangling symbolic links and symbolic-link loops.
	Skipped []string
	// Leftovers lists temporary files on the destination side that a failed
	// transfer could not remove (the link died); remove them once connected.
	Leftovers []string
}

// Upload copies the local file or directory localPath to remotePath on the
// server behind c. remotePath is resolved with ResolveRemote. See the package
// documentation for the destination rules, atomicity and errors.
func Upload(ctx context.Context, c *sftp.Client, localPath, remotePath string, o Options) (Stats, error) {
	fail := func(err error) error { return fmt.Errorf("upload %q to %q: %w", localPath, remotePath, err) }
	if err := checkPath(SideLocal, localPath); err != nil {
		return Stats{}, fail(err)
	}
	rp, err := ResolveRemote(c, remotePath)
	if err != nil {
		return Stats{}, fail(err)
	}
	j := newJob(newLocalFS(), newRemoteFS(c), o)
	st, err := j.run(ctx, filepath.Clean(localPath), rp, endsWithSlash(remotePath))
	st = j.finish(st)
	if err != nil {
		return st, fail(err)
	}
	return st, nil
}

// Download copies the remote file or directory remotePath from the server
// behind c to localPath. remotePath is resolved with ResolveRemote. A remote
// symbolic link named as the source is followed. See the package
// documentation for the destination rules, atomicity and errors.
func Download(ctx context.Context, c *sftp.Client, remotePath, localPath string, o Options) (Stats, error) {
	fail := func(err error) error { return fmt.Errorf("download %q to %q: %w", remotePath, localPath, err) }
	if err := checkPath(SideLocal, localPath); err != nil {
		return Stats{}, fail(err)
	}
	rp, err := ResolveRemote(c, remotePath)
	if err != nil {
		return Stats{}, fail(err)
	}
	j := newJob(newRemoteFS(c), newLocalFS(), o)
	st, err := j.run(ctx, rp, filepath.Clean(localPath), endsWithSlash(localPath))
	st = j.finish(st)
	if err != nil {
		return st, fail(err)
	}
	return st, nil
}

// parallelFiles is how many files of a recursive transfer are in flight at
// once, to hide round trips on small files.
const parallelFiles = 8

// job is one Upload or Download.
type job struct {
	src, dst fsys
	o        Options
	meter    *meter

	mu        sync.Mutex
	leftovers []string // temporary files that could not be removed
}

func (j *job) leftover(p string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.leftovers = append(j.leftovers, p)
}

func (j *job) finish(st Stats) Stats {
	j.mu.Lock()
	defer j.mu.Unlock()
	st.Leftovers = append(st.Leftovers, j.leftovers...)
	return st
}

func newJob(src, dst fsys, o Options) *job {
	return &job{src: src, dst: dst, o: o, meter: newMeter(o.Progress)}
}

// run copies srcPath to dstPath; dstSlash says the destination was written
// with a trailing slash.
func (j *job) run(ctx context.Context, srcPath, dstPath string, dstSlash bool) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	srcInfo, err := j.src.stat(srcPath)
	if err != nil {
		return Stats{}, newPathError("open", j.src.side(), srcPath, err)
	}
	dstInfo, err := j.dst.stat(dstPath)
	dstExists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Stats{}, j.parentError("stat", dstPath, newPathError("stat", j.dst.side(), dstPath, err))
	}
	dstIsDir := dstExists && dstInfo.IsDir()

	if srcInfo.IsDir() {
		if !j.o.Recursive {
			return Stats{}, pathErrorf("read", j.src.side(), srcPath, ErrIsDir, "is a directory (ask for a recursive transfer)")
		}
		root := dstPath
		switch {
		case dstIsDir:
			if b := path.Base(absolute(j.src, srcPath)); b != "/" && b != "." {
				root = path.Join(dstPath, b)
			}
		case dstExists:
			return Stats{}, pathErrorf("mkdir", j.dst.side(), dstPath, ErrNotDir, "exists and is not a directory: cannot copy a directory onto it")
		}
		return j.tree(ctx, srcPath, srcInfo, root)
	}

	if !srcInfo.Mode().IsRegular() {
		return Stats{}, pathErrorf("open", j.src.side(), srcPath, nil, "not a regular file (%s)", typeName(srcInfo.Mode()))
	}
	target := dstPath
	if dstIsDir || dstSlash {
		if !dstExists {
			return Stats{}, pathErrorf("open", j.dst.side(), dstPath, os.ErrNotExist, "no such directory")
		}
		if !dstIsDir {
			return Stats{}, pathErrorf("open", j.dst.side(), dstPath, ErrNotDir, "not a directory")
		}
		target = path.Join(dstPath, path.Base(srcPath))
	}
	j.meter.total = srcInfo.Size()
	j.meter.report()
	n, final, err := j.copyFile(ctx, item{src: srcPath, dst: target, info: srcInfo})
	j.meter.report()
	if err != nil {
		return Stats{}, err
	}
	return Stats{Files: 1, Bytes: n, Done: []string{final}}, nil
}

// absolute makes a local path absolute so that its base name is meaningful
// ("." becomes the directory's name).
func absolute(f fsys, p string) string {
	if f.side() == SideLocal {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
	}
	return p
}

// kind of a planned tree entry.
type kind int

const (
	kindFile kind = iota
	kindDir
	kindLink
)

// item is one entry of a transfer: a source, its destination and what to do.
type item struct {
	kind       kind
	src, dst   string
	info       os.FileInfo // of the source (followed when following links)
	linkTarget string      // for kindLink
	fresh      bool        // the destination's directory was created by us
	created    bool        // for kindDir: created by us, with mode
	mode       os.FileMode // for kindDir: the mode it was created with
	root       bool        // for kindDir: the top of the tree
}

// copyFile copies one regular file atomically. It returns the bytes copied
// and the destination path written (a symbolic link's target when the
// destination was a link).
func (j *job) copyFile(ctx context.Context, it item) (int64, string, error) {
	final, old := it.dst, os.FileInfo(nil)
	if !it.fresh {
		var err error
		final, old, err = j.resolveTarget(it.dst)
		if err != nil {
			return 0, it.dst, err
		}
	}
	if old != nil {
		if old.IsDir() {
			return 0, it.dst, pathErrorf("create", j.dst.side(), it.dst, ErrIsDir, "is a directory: cannot replace it with a file")
		}
		if !old.Mode().IsRegular() && old.Mode()&os.ModeSymlink == 0 {
			return 0, it.dst, pathErrorf("create", j.dst.side(), it.dst, nil, "exists and is not a regular file (%s)", typeName(old.Mode()))
		}
		if !j.o.Overwrite {
			return 0, it.dst, pathErrorf("create", j.dst.side(), it.dst, os.ErrExist, "already exists (overwrite is off)")
		}
	}
	mode := j.fileMode(it.info, old)

	src, err := j.src.openRead(it.src)
	if err != nil {
		return 0, final, newPathError("open", j.src.side(), it.src, err)
	}
	defer src.Close()

	tmp := tempName(path.Dir(final), path.Base(final), "tmp")
	w, err := j.dst.createTemp(tmp, mode)
	if err != nil {
		return 0, final, j.createError(final, err)
	}
	committed := false
	defer func() {
		if !committed {
			// Impossible on a dead link: remembered for the caller to retry.
			if err := j.dst.remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
				j.leftover(tmp)
			}
		}
	}()

	n, srcFailed, err := copyData(ctx, w, src, it.info.Size(), j.meter)
	if err == nil && n < it.info.Size() {
		srcFailed, err = true, fmt.Errorf("file shrank during the transfer: read %d of %d bytes", n, it.info.Size())
	}
	if err != nil {
		_ = w.Close()
		if srcFailed {
			return n, final, newPathError("read", j.src.side(), it.src, err)
		}
		return n, final, j.writeError("write", final, err)
	}
	if err := j.dst.flush(w, old != nil); err != nil {
		_ = w.Close()
		return n, final, j.writeError("sync", final, err)
	}
	if err := w.Close(); err != nil {
		return n, final, j.writeError("close", final, err)
	}
	if j.o.Preserve {
		if err := j.dst.chtimes(tmp, j.src.atime(it.info), it.info.ModTime()); err != nil {
			return n, final, newPathError("set times of", j.dst.side(), final, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return n, final, newPathError("rename", j.dst.side(), final, err)
	}
	if err := j.commit(tmp, final); err != nil {
		return n, final, err
	}
	committed = true
	return n, final, nil
}

// commit renames tmp to final, replacing it only if Overwrite is set.
func (j *job) commit(tmp, final string) error {
	if j.o.Overwrite {
		if err := j.dst.replace(tmp, final); err != nil {
			return j.writeError("rename", final, err)
		}
		return nil
	}
	if err := j.dst.install(tmp, final); err != nil {
		if errors.Is(err, os.ErrExist) {
			return pathErrorf("rename", j.dst.side(), final, os.ErrExist, "already exists (overwrite is off)")
		}
		return j.writeError("rename", final, err)
	}
	return nil
}

// resolveTarget finds what a destination path names: the file a symbolic
// link points to, if it exists, else the path itself. old is nil when nothing
// exists there.
func (j *job) resolveTarget(p string) (final string, old os.FileInfo, err error) {
	fi, err := j.dst.lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil, nil
	}
	if err != nil {
		return p, nil, j.parentError("stat", p, newPathError("stat", j.dst.side(), p, err))
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		return p, fi, nil
	}
	if real, rerr := j.dst.realPath(p); rerr == nil {
		if rfi, serr := j.dst.stat(real); serr == nil {
			return real, rfi, nil
		}
	}
	return p, fi, nil // a dangling link: it is replaced
}

// fileMode decides the mode of a destination file.
func (j *job) fileMode(src, old os.FileInfo) os.FileMode {
	const special = os.ModeSetuid | os.ModeSetgid | os.ModeSticky
	switch {
	case j.o.Preserve:
		return src.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid)
	case old != nil && old.Mode().IsRegular():
		return old.Mode() & (os.ModePerm | special)
	default:
		return j.dst.newMode(src.Mode().Perm())
	}
}

// createError explains a failure to create a file at final: a missing or
// non-directory parent, an unwritable directory, a full disk.
func (j *job) createError(final string, err error) error {
	side := j.dst.side()
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return j.parentError("create", final, newPathError("create", side, final, err))
	}
	if errors.Is(err, os.ErrPermission) {
		return &PathError{Op: "create", Side: side, Path: final, Kind: os.ErrPermission, Err: err,
			msg: fmt.Sprintf("permission denied (cannot create files in %q)", path.Dir(final))}
	}
	return j.writeError("create", final, err)
}

// parentError replaces a "no such file" about p with an error that names the
// missing or non-directory parent, when that is what happened.
func (j *job) parentError(op, p string, fallback error) error {
	side := j.dst.side()
	parent := path.Dir(p)
	if parent == p {
		return fallback
	}
	fi, err := j.dst.stat(parent)
	switch {
	case err == nil && !fi.IsDir():
		return &PathError{Op: op, Side: side, Path: p, Kind: ErrNotDir, Err: fallback,
			msg: fmt.Sprintf("parent %q is not a directory", parent)}
	case errors.Is(err, os.ErrNotExist):
		return &PathError{Op: op, Side: side, Path: p, Kind: os.ErrNotExist, Err: fallback,
			msg: fmt.Sprintf("parent directory %q does not exist", parent)}
	case errors.Is(err, syscall.ENOTDIR):
		return &PathError{Op: op, Side: side, Path: p, Kind: ErrNotDir, Err: fallback,
			msg: fmt.Sprintf("a component of %q is not a directory", parent)}
	}
	return fallback
}

// writeError describes a failure to write, close or rename at final. A
// generic SFTP failure is reported as ErrNoSpace when the remote file system
// turns out to be full (OpenSSH has no status code for ENOSPC).
func (j *job) writeError(op, final string, err error) error {
	pe := newPathError(op, j.dst.side(), final, err)
	if pe.Kind == nil && isFailure(err) && j.dst.spaceExhausted(path.Dir(final)) {
		pe.Kind = ErrNoSpace
		pe.msg = "no space left on device (the file system is full)"
	}
	return pe
}

// tree copies the directory srcRoot to dstRoot: it plans the whole tree
// first (for the progress total), then creates directories in order while
// parallelFiles workers copy files and links.
func (j *job) tree(ctx context.Context, srcRoot string, rootInfo os.FileInfo, dstRoot string) (Stats, error) {
	var st Stats
	items, err := j.plan(ctx, srcRoot, rootInfo, dstRoot, &st)
	if err != nil {
		var pe *PathError
		failed := srcRoot
		if errors.As(err, &pe) {
			failed = pe.Path
		}
		return st, &PartialError{Failed: failed, Err: err}
	}
	for _, it := range items {
		if it.kind == kindFile {
			j.meter.total += it.info.Size()
		}
	}
	j.meter.report()

	var (
		mu        sync.Mutex
		firstErr  error
		failed    string
		wg        sync.WaitGroup
		work      = make(chan item)
		stopCtx   context.Context
		stopWork  context.CancelFunc
		dirs      []item
		fail      func(p string, err error)
		succeeded func(p string, n int64)
	)
	stopCtx, stopWork = context.WithCancel(ctx)
	defer stopWork()
	fail = func(p string, err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr, failed = err, p
			stopWork()
		}
	}
	succeeded = func(p string, n int64) {
		mu.Lock()
		defer mu.Unlock()
		st.Done = append(st.Done, p)
		st.Files++
		st.Bytes += n
	}
	for range parallelFiles {
		wg.Go(func() {
			for it := range work {
				if ctx.Err() != nil {
					fail(it.dst, newPathError("create", j.dst.side(), it.dst, ctx.Err()))
					continue
				}
				var (
					n     int64
					final = it.dst
					err   error
				)
				if it.kind == kindLink {
					err = j.copyLink(it)
				} else {
					n, final, err = j.copyFile(ctx, it)
				}
				if err != nil {
					fail(final, err)
					continue
				}
				succeeded(final, n)
			}
		})
	}

	fresh := map[string]bool{} // destination directories created by us
dispatch:
	for _, it := range items {
		if stopCtx.Err() != nil {
			break
		}
		it.fresh = fresh[path.Dir(it.dst)]
		if it.kind == kindDir {
			created, mode, err := j.makeDir(it)
			if err != nil {
				fail(it.dst, err)
				break dispatch
			}
			it.created, it.mode = created, mode
			fresh[it.dst] = created
			dirs = append(dirs, it)
			continue
		}
		select {
		case work <- it:
		case <-stopCtx.Done():
			break dispatch
		}
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr, failed = ctx.Err(), dstRoot
	}

	// Directories get their final mode (and times) last, deepest first:
	// writing into them changes their times, and a read-only mode must not
	// stop their filling.
	for _, d := range slices.Backward(dirs) {
		if err := j.finishDir(d); err != nil && firstErr == nil {
			firstErr, failed = err, d.dst
		}
	}
	j.meter.report()
	slices.Sort(st.Done)
	if firstErr != nil {
		return st, &PartialError{Done: slices.Clone(st.Done), Failed: failed, BytesSent: j.meter.done.Load(), Err: firstErr}
	}
	return st, nil
}

// plan walks the source tree, depth first in name order, and lists what to
// create at the destination. Directories come before their contents.
func (j *job) plan(ctx context.Context, srcRoot string, rootInfo os.FileInfo, dstRoot string, st *Stats) ([]item, error) {
	var items []item
	seen := map[string]bool{}
	var walk func(src string, info os.FileInfo, dst string) error
	walk = func(src string, info os.FileInfo, dst string) error {
		if j.o.FollowSymlinks {
			id := j.src.identity(src, info)
			if seen[id] {
				st.Skipped = append(st.Skipped, src)
				return nil
			}
			seen[id] = true
			defer delete(seen, id)
		}
		items = append(items, item{kind: kindDir, src: src, dst: dst, info: info, root: len(items) == 0})
		entries, err := j.src.readDir(ctx, src)
		if err != nil {
			return newPathError("read directory", j.src.side(), src, err)
		}
		slices.SortFunc(entries, func(a, b os.FileInfo) int { return compareStrings(a.Name(), b.Name()) })
		var prev string
		for _, e := range entries {
			name := e.Name()
			// A listing is data from the other side: refuse names that would
			// leave the directory, and duplicates that could turn a link
			// into a path to write through.
			if name == "" || name == "." || name == ".." || containsSlash(name) || name == prev {
				st.Skipped = append(st.Skipped, path.Join(src, name))
				continue
			}
			prev = name
			s, d := path.Join(src, name), path.Join(dst, name)
			fi := os.FileInfo(e)
			if fi.Mode()&os.ModeSymlink != 0 {
				if !j.o.FollowSymlinks {
					target, err := j.src.readLink(s)
					if err != nil {
						return newPathError("read link", j.src.side(), s, err)
					}
					items = append(items, item{kind: kindLink, src: s, dst: d, info: fi, linkTarget: target})
					continue
				}
				tfi, err := j.src.stat(s)
				if err != nil {
					st.Skipped = append(st.Skipped, s) // dangling
					continue
				}
				fi = tfi
			}
			switch {
			case fi.IsDir():
				if err := walk(s, fi, d); err != nil {
					return err
				}
			case fi.Mode().IsRegular():
				items = append(items, item{kind: kindFile, src: s, dst: d, info: fi})
			default:
				st.Skipped = append(st.Skipped, s)
			}
		}
		return ctx.Err()
	}
	return items, walk(srcRoot, rootInfo, dstRoot)
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

// makeDir creates a destination directory, or accepts an existing one. A new
// directory is created writable by us; finishDir gives it its final mode.
func (j *job) makeDir(it item) (created bool, mode os.FileMode, err error) {
	side := j.dst.side()
	// Below the root, a symbolic link where a directory should go is not
	// followed: only the root may be reached through one.
	fi, err := j.dst.lstat(it.dst)
	if err == nil && fi.Mode()&os.ModeSymlink != 0 && it.root {
		fi, err = j.dst.stat(it.dst)
	}
	switch {
	case err == nil && fi.IsDir():
		return false, fi.Mode(), nil
	case err == nil:
		return false, 0, pathErrorf("mkdir", side, it.dst, ErrNotDir, "exists and is not a directory (%s)", typeName(fi.Mode()))
	case !errors.Is(err, os.ErrNotExist):
		return false, 0, j.parentError("mkdir", it.dst, newPathError("mkdir", side, it.dst, err))
	}
	perm := j.dirMode(it.info) | 0o700
	if err := j.dst.mkdir(it.dst, perm); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, 0, j.parentError("mkdir", it.dst, newPathError("mkdir", side, it.dst, err))
		}
		if errors.Is(err, os.ErrPermission) {
			return false, 0, &PathError{Op: "mkdir", Side: side, Path: it.dst, Kind: os.ErrPermission, Err: err,
				msg: fmt.Sprintf("permission denied (cannot create directories in %q)", path.Dir(it.dst))}
		}
		return false, 0, j.writeError("mkdir", it.dst, err)
	}
	return true, perm, nil
}

func (j *job) dirMode(src os.FileInfo) os.FileMode {
	if j.o.Preserve {
		return src.Mode().Perm()
	}
	return j.dst.newMode(src.Mode().Perm())
}

// finishDir sets a directory's final mode and, with Preserve, its times.
// Existing directories keep their mode unless Preserve is set.
func (j *job) finishDir(d item) error {
	want := j.dirMode(d.info)
	if j.o.Preserve || (d.created && d.mode.Perm() != want) {
		if err := j.dst.chmod(d.dst, want); err != nil {
			return newPathError("chmod", j.dst.side(), d.dst, err)
		}
	}
	if j.o.Preserve {
		if err := j.dst.chtimes(d.dst, j.src.atime(d.info), d.info.ModTime()); err != nil {
			return newPathError("set times of", j.dst.side(), d.dst, err)
		}
	}
	return nil
}

// copyLink recreates a symbolic link atomically: a link at a temporary name
// renamed over the destination.
func (j *job) copyLink(it item) error {
	side := j.dst.side()
	if !it.fresh {
		fi, err := j.dst.lstat(it.dst)
		switch {
		case err == nil && fi.IsDir():
			return pathErrorf("symlink", side, it.dst, ErrIsDir, "is a directory: cannot replace it with a link")
		case err == nil && !j.o.Overwrite:
			return pathErrorf("symlink", side, it.dst, os.ErrExist, "already exists (overwrite is off)")
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return newPathError("symlink", side, it.dst, err)
		}
	}
	tmp := tempName(path.Dir(it.dst), path.Base(it.dst), "tmp")
	if err := j.dst.symlink(it.linkTarget, tmp); err != nil {
		return j.createError(it.dst, err)
	}
	if err := j.commit(tmp, it.dst); err != nil {
		_ = j.dst.remove(tmp)
		return err
	}
	return nil
}

// typeName names the type of a file for messages.
func typeName(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
