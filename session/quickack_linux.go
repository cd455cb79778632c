package session

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAck asks the kernel to acknowledge received data at once
// (TCP_QUICKACK is not sticky: it is set again after each small read). It
// does nothing for a connection that is not a socket (a ProxyJump channel).
func quickAck(c net.Conn) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
