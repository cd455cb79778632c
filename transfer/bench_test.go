package transfer

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchSizes are the file sizes of BenchmarkUpload and BenchmarkDownload.
var benchSizes = []int64{4 << 10, 1 << 20, 16 << 20, 64 << 20}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	default:
		return fmt.Sprintf("%dKiB", n>>10)
	}
}

// BenchmarkUpload uploads one file per iteration to a new remote name (an
// overwrite would add an fsync) over loopback to a real sshd.
func BenchmarkUpload(b *testing.B) {
	f := newFixture(b)
	dir := f.mkRemoteDir(b, "bench-up")
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			local := filepath.Join(b.TempDir(), "src")
			writeRandomFile(b, local, n, uint64(n))
			remote := filepath.Join(dir, sizeName(n))
			b.SetBytes(n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Upload(b.Context(), f.c, local, remote, Options{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := os.Remove(remote); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkDownload downloads one file per iteration to a new local name.
func BenchmarkDownload(b *testing.B) {
	f := newFixture(b)
	dir := f.mkRemoteDir(b, "bench-down")
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			remote := filepath.Join(dir, sizeName(n))
			writeRandomFile(b, remote, n, uint64(n))
			f.chown(b, remote)
			local := filepath.Join(b.TempDir(), "dst")
			b.SetBytes(n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Download(b.Context(), f.c, remote, local, Options{}); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := os.Remove(local); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
