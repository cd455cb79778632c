package sshdtest

import "syscall"

// childAttr puts a helper process in its own process group and kills it when
// the test process dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
