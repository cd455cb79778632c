package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/pkg/sftp"
)

// DefaultReadLimit is the window ReadFile reads when limit is not positive.
const DefaultReadLimit = 64 << 10

// sniffLen is how much of a window decides whether it is text.
const sniffLen = 8 << 10

// readChunk bounds one ReadAt of ReadFile, so that cancellation is checked
// between chunks of a large window.
const readChunk = 1 << 20

// ReadResult is a window of a remote file.
type ReadResult struct {
	// Content holds the bytes read; nil when Binary.
	Content []byte
	// Size is the file's size (at least Offset+BytesRead, for files such as
	// those of /proc that report size 0).
	Size int64
	// Offset is where the window starts.
	Offset int64
	// BytesRead is len(Content): 0 when Binary. A window that would end in
	// the middle of a UTF-8 character ends before it, so that the next
	// window, at Offset+BytesRead, starts on a character.
	BytesRead int
	// Truncated reports that more of the file remains after
	// Offset+BytesRead.
	Truncated bool
	// Binary reports content that is not text: a NUL byte or mostly
	// non-text bytes in the first 8 KiB of the window.
	Binary bool
	// TypeGuess names the content: "empty", "ASCII text", "UTF-8 text",
	// "text (not UTF-8)", or for binary content e.g. "ELF executable",
	// "gzip", "PNG image" or "binary data".
	TypeGuess string
}

// ReadFile reads at most limit bytes (DefaultReadLimit when limit <= 0) of
// the remote file path from offset. Binary content is reported (Binary,
// TypeGuess) instead of returned. An offset at or past the end gives an empty
// window. A directory is an error matching ErrIsDir.
func ReadFile(ctx context.Context, c *sftp.Client, path string, offset, limit int64) (ReadResult, error) {
	fail := func(err error) error { return fmt.Errorf("read %q: %w", path, err) }
	if offset < 0 {
		return ReadResult{}, fail(pathErrorf("read", SideRemote, path, ErrInvalid, "negative offset %d", offset))
	}
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	p, err := ResolveRemote(c, path)
	if err != nil {
		return ReadResult{}, fail(err)
	}
	if err := ctx.Err(); err != nil {
		return ReadResult{}, fail(err)
	}
	fi, err := c.Stat(p)
	if err != nil {
		return ReadResult{}, fail(newPathError("stat", SideRemote, p, err))
	}
	if fi.IsDir() {
		return ReadResult{}, fail(pathErrorf("read", SideRemote, p, ErrIsDir, "is a directory (list it instead)"))
	}
	f, err := c.Open(p)
	if err != nil {
		return ReadResult{}, fail(newPathError("open", SideRemote, p, err))
	}
	defer f.Close()

	size := fi.Size()
	// Read one byte more than asked, to learn whether more remains even
	// when the size is unknown (reported as 0).
	want := limit + 1
	if size > 0 && fi.Mode().IsRegular() {
		want = min(want, max(size-offset, 0)+1)
	}
	buf := make([]byte, want)
	var n int
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return ReadResult{}, fail(err)
		}
		end := min(len(buf), n+readChunk)
		m, err := f.ReadAt(buf[n:end], offset+int64(n))
		n += m
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ReadResult{}, fail(newPathError("read", SideRemote, p, err))
		}
	}
	content := buf[:n]
	more := int64(n) > limit
	if more {
		content = content[:limit]
	}
	res := ReadResult{Offset: offset, Size: size}
	if n > 0 {
		res.Size = max(size, offset+int64(n))
	}
	head := content[:min(len(content), sniffLen)]
	if isBinary(head) {
		res.Binary = true
		res.TypeGuess = guessType(head)
		res.Truncated = res.Size > offset || more
		return res, nil
	}
	if more {
		content = trimPartialRune(content)
	}
	res.Content = content
	res.BytesRead = len(content)
	res.Truncated = more || offset+int64(len(content)) < size
	res.TypeGuess = textType(content)
	return res, nil
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) && i > 0 {
				return b[:i]
			}
			return b
		}
	}
	return b
}

// isBinary tells text from binary: any NUL byte, or more than 30% of bytes
// that are neither printable, common whitespace/control characters nor part
// of valid UTF-8 (an incomplete character at the very end is allowed).
func isBinary(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	odd := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\b' && c != 0x1b || c == 0x7f {
				odd++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(b[i:]) && len(b)-i < utf8.UTFMax {
				break // cut by the window
			}
			odd++
			size = 1
		}
		i += size
	}
	return odd*10 > len(b)*3
}

// textType names text content.
func textType(b []byte) string {
	switch {
	case len(b) == 0:
		return "empty"
	case isASCII(b):
		return "ASCII text"
	case utf8.Valid(b):
		return "UTF-8 text"
	}
	return "text (not UTF-8)"
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// guessType names binary content from its first bytes.
func guessType(b []byte) string {
	magic := []struct {
		off    int
		prefix string
		name   string
	}{
		{0, "\x7fELF", "ELF executable"},
		{0, "\x1f\x8b", "gzip"},
		{0, "\x89PNG\r\n\x1a\n", "PNG image"},
		{0, "\xff\xd8\xff", "JPEG image"},
		{0, "GIF87a", "GIF image"},
		{0, "GIF89a", "GIF image"},
		{0, "%PDF-", "PDF document"},
		{0, "PK\x03\x04", "zip archive"},
		{0, "BZh", "bzip2"},
		{0, "\xfd7zXZ\x00", "xz"},
		{0, "\x28\xb5\x2f\xfd", "zstd"},
		{0, "7z\xbc\xaf\x27\x1c", "7-zip archive"},
		{0, "SQLite format 3\x00", "SQLite database"},
		{0, "\x00asm", "WebAssembly"},
		{0, "\xca\xfe\xba\xbe", "Java class or Mach-O universal binary"},
		{0, "\xcf\xfa\xed\xfe", "Mach-O executable"},
		{0, "MZ", "Windows executable"},
		{0, "RIFF", "RIFF media (WAV/AVI/WebP)"},
		{0, "OggS", "Ogg media"},
		{0, "ID3", "MP3 audio"},
		{0, "\x1a\x45\xdf\xa3", "Matroska/WebM video"},
		{4, "ftyp", "MP4/QuickTime media"},
		{257, "ustar", "tar archive"},
	}
	for _, m := range magic {
		if len(b) >= m.off+len(m.prefix) && string(b[m.off:m.off+len(m.prefix)]) == m.prefix {
			return m.name
		}
	}
	return "binary data"
}
