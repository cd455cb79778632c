// Package transfer moves files over SFTP: uploads and downloads of single
// files and directory trees, bounded reads of remote files, atomic remote
// writes and directory listings. It works on a *sftp.Client and knows nothing
// about sessions; the session holder owns the client and the SSH connection.
//
// # Atomicity
//
// Every file that Upload, Download and WriteFile (without append) produce is
// written to a temporary name in the destination directory
// (".NAME.mrs-tmp-RANDOM"), closed with its Close error checked (late write
// errors such as a full disk or a quota surface there), given its final mode
// (and times, with Options.Preserve), and only then renamed over the target.
// Local files are fsync'ed before the rename; remote files are fsync'ed
// (fsync@openssh.com) when they replace an existing file, so that a server
// crash cannot lose both versions. A failed or cancelled transfer
// leaves the old destination untouched and removes its temporary file. The
// removal is best-effort: when the link to the server is gone, a remote
// temporary file cannot be removed and stays behind under its dot name.
//
// Remote renames use posix-rename@openssh.com when the server advertises it.
// Without it, an existing target is first renamed aside, the temporary file is
// renamed in, and the old file is removed; if the second rename fails, the old
// file is renamed back. In that fallback the target is briefly absent.
//
// A recursive transfer is atomic per file, not as a whole: when it fails, the
// error is a *PartialError that lists the destination files already done.
//
// # Destinations
//
// The rules are those of cp and scp: if the destination is an existing
// directory, or ends with a slash, the source goes inside it under its base
// name. A missing parent directory of a single file's destination is an error
// that names it: transfer never creates it. A recursive transfer creates its
// tree below an existing parent. A destination that is a symbolic link to a
// file is written through: the file it points to is replaced and the link
// stays (as cp and scp do); a dangling link is replaced by the new file.
//
// Remote paths "~", "~/x" and relative paths resolve against the remote home,
// which is the SFTP server's working directory (see ResolveRemote). Local
// paths are used as given. No path is ever interpreted by a shell: spaces,
// quotes, "$(id)", ";", newlines, a leading "-" and bytes that are not UTF-8
// are taken literally. A path containing a NUL byte is refused.
//
// # Modes and times
//
// With Options.Preserve, a file keeps its source permission bits, access and
// modification times (like scp -p; SFTP carries times in whole seconds).
// Without it, an overwritten file keeps the mode of the file it replaces, and a
// new file gets the source's permission bits minus the umask: the process
// umask for local files, 022 for remote ones (the remote umask cannot be
// asked). Ownership of a replaced file is not kept: the new file belongs to the
// user who wrote it, as with any rename-based save.
//
// # Recursive transfers and symbolic links
//
// Without Options.FollowSymlinks, symbolic links inside a tree are recreated
// as symbolic links with the same target text (a link that points out of the
// tree still points there; nothing outside the tree is read). With it, links
// are followed: a link to a directory is copied as a directory (loops are
// detected and skipped) and a link to a file as a file. Dangling links, FIFOs,
// sockets and devices are skipped and listed in Stats.Skipped. The named
// source itself is always followed. Directories that already exist at the
// destination are merged into. The first error stops the transfer.
//
// # Errors
//
// Errors name the action, the side ("local" or "remote") and the path, e.g.
// `upload "a.txt" to "/srv/x": create remote "/srv/x": permission denied`.
// They can be classified with errors.Is against os.ErrNotExist,
// os.ErrPermission, os.ErrExist, ErrNoSpace, ErrIsDir, ErrNotDir and
// ErrConnectionLost, and with errors.As against *PathError and *PartialError.
// OpenSSH reports a full disk as a generic failure; transfer then asks the
// server for the file system's free space (statvfs@openssh.com) and reports
// ErrNoSpace when it is exhausted.
//
// # Cancellation
//
// Cancelling the context stops a transfer at the next chunk; the temporary
// file is removed and the old destination is left as it was. SFTP requests
// already sent are waited for. A link that stalls without closing is ended by
// the session's keepalive, which closes the connection: every blocked call
// then returns ErrConnectionLost.
package transfer
