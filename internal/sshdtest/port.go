package sshdtest

import (
	"net"
	"time"
)

// PortRefuses reports whether nothing accepts TCP connections on addr. A dial
// to a free loopback port in the ephemeral range can connect to itself (TCP
// simultaneous open, when the kernel picks that very port as the source
// port); such self-connections are retried rather than counted as a listener.
func PortRefuses(addr string) bool {
	for i := 0; i < 5; i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return true
		}
		self := c.LocalAddr().String() == c.RemoteAddr().String()
		c.Close()
		if !self {
			return false
		}
	}
	return true
}
