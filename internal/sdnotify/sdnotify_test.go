package sdnotify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Listen makes a unixgram socket for a test, points NOTIFY_SOCKET at it
// and returns it; tests read the states from it.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", name)
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	for _, name := range []string{
		filepath.Join(t.TempDir(), "notify"),
		"@mxkit-sdnotify-test-" + strconv.Itoa(os.Getpid()),
	} {
		c := listen(t, name)
		for _, state := range []string{Ready, "STATUS=listening\n" + Stopping} {
			if ok, err := Notify(state); !ok || err != nil {
				t.Fatalf("%s: Notify(%q) = %v, %v", name, state, ok, err)
			}
			if got := read(t, c); got != state {
				t.Errorf("%s: got %q, want %q", name, got, state)
			}
		}
	}
}

func TestNotifyUnset(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if ok, err := Notify(Ready); ok || err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET = %v, %v; want false, nil", ok, err)
	}
}

func TestNotifyNoListener(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody"))
	if ok, err := Notify(Ready); ok || err == nil {
		t.Errorf("Notify to a missing socket = %v, %v; want an error", ok, err)
	}
}
