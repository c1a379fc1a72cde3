// Package netserve holds what mxkit's small servers (the socketmap
// server, the policy server) share around net.Listener.
package netserve

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// ErrClosed is returned by Accept when the server is shutting down.
var ErrClosed = errors.New("netserve: server closed")

// Accept waits for the next connection on l. A temporary failure (a
// timeout, no file descriptors left, a connection aborted before it was
// accepted) is logged and retried after a pause that doubles from 5 ms
// up to 1 s; any other failure is returned. closing is asked after every
// failure: when it reports true, Accept returns ErrClosed.
func Accept(l net.Listener, closing func() bool, log *slog.Logger) (net.Conn, error) {
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err == nil {
			return nc, nil
		}
		if closing() {
			return nil, ErrClosed
		}
		if !Temporary(err) {
			return nil, err
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		log.Warn("accept failed, retrying", "listener", l.Addr().String(), "err", err, "delay", delay)
		time.Sleep(delay)
	}
}

// Temporary reports whether an Accept error is worth retrying.
func Temporary(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}
