package transfer

import (
	"os"
	"syscall"
	"time"
)

// statAtime returns a file's access time from its stat data.
func statAtime(fi os.FileInfo) (time.Time, bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Atim.Sec, st.Atim.Nsec), true
	}
	return time.Time{}, false
}
