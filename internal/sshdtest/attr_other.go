//go:build !linux

package sshdtest

import "syscall"

// childAttr puts a helper process in its own process group (no parent-death
// signal outside Linux).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
