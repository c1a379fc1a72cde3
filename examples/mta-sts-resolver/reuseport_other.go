//go:build !linux

package main

import "syscall"

// reusePort: reuse_port is only implemented on Linux.
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }
