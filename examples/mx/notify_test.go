package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSystemdNotify: under systemd (Type=notify, NOTIFY_SOCKET set) the
// MX says READY=1 once it listens and STOPPING=1 when it shuts down.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	addr, stop := runMX(t, "-spool", t.TempDir())
	ready := readNotify(t, c)
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=listening on "+addr) {
		t.Errorf("first notification %q, want READY=1 and STATUS=listening on %s", ready, addr)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := readNotify(t, c); got != "STOPPING=1" {
		t.Errorf("notification at shutdown %q, want STOPPING=1", got)
	}
}

func readNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}
