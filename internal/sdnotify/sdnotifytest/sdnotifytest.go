// Package sdnotifytest plays systemd's side of sd_notify for tests: a
// unixgram socket named by $NOTIFY_SOCKET that a test reads the
// service's notifications from.
package sdnotifytest

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Socket is systemd's notification socket.
type Socket struct {
	t testing.TB
	c *net.UnixConn
}

// Listen creates the socket, points NOTIFY_SOCKET at it for the test
// (t.Setenv), and closes it when the test ends.
func Listen(t testing.TB) *Socket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &Socket{t: t, c: c}
}

// Next returns the next notification, failing the test after 10 s.
func (s *Socket) Next() string {
	s.t.Helper()
	buf := make([]byte, 4096)
	_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := s.c.Read(buf)
	if err != nil {
		s.t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}
