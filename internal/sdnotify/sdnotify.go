// Package sdnotify tells systemd about a service's state, as
// sd_notify(3) does: a datagram to the unix socket named by
// $NOTIFY_SOCKET ("READY=1" once the service listens, "STOPPING=1" when
// it shuts down). It is what a Type=notify unit needs, in a few lines
// and without a dependency.
package sdnotify

import (
	"net"
	"os"
)

// Ready is the state a service sends once it serves.
const Ready = "READY=1"

// Stopping is the state a service sends when it begins to shut down.
const Stopping = "STOPPING=1"

// Notify sends state (newline-separated VAR=value assignments, such as
// Ready or "STATUS=...") to $NOTIFY_SOCKET. Without NOTIFY_SOCKET (not
// run by systemd, or not Type=notify) it does nothing and returns false,
// nil. A name starting with "@" is an abstract socket, as in systemd.
func Notify(state string) (bool, error) {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return false, nil
	}
	// Go maps a leading "@" to the abstract namespace itself.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, err
	}
	return true, nil
}
