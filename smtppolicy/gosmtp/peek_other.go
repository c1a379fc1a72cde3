//go:build !unix

package gosmtp

import "net"

// peekPending cannot look into the kernel's buffer here: only input
// already read into the front's buffer counts.
func peekPending(net.Conn) bool { return false }
