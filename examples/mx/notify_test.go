package main

import (
	"strings"
	"testing"

	"github.com/mxkit/mxkit/internal/sdnotify/sdnotifytest"
)

// TestSystemdNotify: under systemd (Type=notify, NOTIFY_SOCKET set) the
// MX says READY=1 once it listens and STOPPING=1 when it shuts down.
func TestSystemdNotify(t *testing.T) {
	sd := sdnotifytest.Listen(t)
	addr, stop := runMX(t, "-spool", t.TempDir())
	ready := sd.Next()
	if !strings.HasPrefix(ready, "READY=1\n") || !strings.Contains(ready, "STATUS=listening on "+addr) {
		t.Errorf("first notification %q, want READY=1 and STATUS=listening on %s", ready, addr)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := sd.Next(); got != "STOPPING=1" {
		t.Errorf("notification at shutdown %q, want STOPPING=1", got)
	}
}
