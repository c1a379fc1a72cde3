package main

import "syscall"

const soReusePort = 0xf // SO_REUSEPORT on Linux, absent from package syscall

// reusePort sets SO_REUSEADDR and SO_REUSEPORT (reuse_port: several
// daemons share the port, for a seamless restart).
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		if serr == nil {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
