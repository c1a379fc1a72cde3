//go:build unix

package gosmtp

import (
	"net"
	"syscall"
)

// peekPending reports whether the kernel holds unread input for c,
// without reading it or blocking (recv with MSG_PEEK|MSG_DONTWAIT).
func peekPending(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	pending := false
	var buf [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		pending = err == nil && n > 0
		return true // never wait for readiness
	})
	return pending
}
