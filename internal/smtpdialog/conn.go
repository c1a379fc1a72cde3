package smtpdialog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// DefaultTimeout bounds each read or write on a Conn unless SetTimeout
// says otherwise.
const DefaultTimeout = 30 * time.Second

// Conn is the client side of one SMTP connection, driven line by line.
// It does no SMTP state keeping of its own: the test decides what to send
// and when, so it can send what a well-behaved client never would. A Conn
// is not safe for concurrent use.
type Conn struct {
	nc      net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

// Dial connects to addr ("host:port") over network ("tcp", "tcp4" or
// "tcp6"). When local is not "", it is the IP address the connection
// comes from, e.g. "127.0.0.2": on Linux the whole of 127.0.0.0/8 is on
// the loopback interface, so a test can pose as several clients. ctx
// bounds the dialling only.
func Dial(ctx context.Context, network, addr, local string) (*Conn, error) {
	var d net.Dialer
	if local != "" {
		ip := net.ParseIP(local)
		if ip == nil {
			return nil, fmt.Errorf("smtpdialog: local address %q is not an IP address", local)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("smtpdialog: %w", err)
	}
	return NewConn(nc), nil
}

// NewConn wraps an established connection.
func NewConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, br: bufio.NewReaderSize(nc, 4096), timeout: DefaultTimeout}
}

// SetTimeout sets the limit for each later read or write; 0 means none.
func (c *Conn) SetTimeout(d time.Duration) { c.timeout = d }

// LocalAddr returns the client's end of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the server's end of the connection.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Greeting reads the server's greeting (normally 220). Call it once,
// first.
func (c *Conn) Greeting() (Reply, error) { return c.ReadReply() }

// Cmd sends line followed by CRLF and reads the reply. line must not
// contain CR or LF: use SendRaw to send those.
func (c *Conn) Cmd(line string) (Reply, error) {
	if strings.ContainsAny(line, "\r\n") {
		return Reply{}, fmt.Errorf("smtpdialog: command %q contains CR or LF; use SendRaw", clip(line))
	}
	if err := c.SendRaw([]byte(line + "\r\n")); err != nil {
		return Reply{}, err
	}
	return c.ReadReply()
}

// Data sends a message body after the server's 354 reply to DATA: each
// "\n"-separated line of body (a "\r" before the "\n" is dropped, and a
// final "\n" ends the last line rather than starting an empty one) is
// sent with CRLF and dot-stuffed (RFC 5321 §4.5.2), then "." ends the
// body, and the reply is read.
func (c *Conn) Data(body string) (Reply, error) {
	if err := c.SendRaw(EncodeBody(body)); err != nil {
		return Reply{}, err
	}
	return c.ReadReply()
}

// EncodeBody returns body as sent by Data: CRLF line ends, dot-stuffed,
// with the terminating ".\r\n".
func EncodeBody(body string) []byte {
	var b strings.Builder
	if body != "" {
		body = strings.TrimSuffix(body, "\n")
		for line := range strings.SplitSeq(body, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if strings.HasPrefix(line, ".") {
				b.WriteByte('.')
			}
			b.WriteString(line)
			b.WriteString("\r\n")
		}
	}
	b.WriteString(".\r\n")
	return []byte(b.String())
}

// SendRaw writes b as is.
func (c *Conn) SendRaw(b []byte) error {
	if c.timeout > 0 {
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
			return fmt.Errorf("smtpdialog: %w", err)
		}
	}
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("smtpdialog: write: %w", err)
	}
	return nil
}

// ReadReply reads one reply. It returns an error wrapping io.EOF when the
// server closed the connection before sending anything more.
func (c *Conn) ReadReply() (Reply, error) {
	if c.timeout > 0 {
		if err := c.nc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return Reply{}, fmt.Errorf("smtpdialog: %w", err)
		}
	}
	r, err := readReply(c.br)
	if err != nil {
		return Reply{}, fmt.Errorf("smtpdialog: read reply: %w", err)
	}
	return r, nil
}

// Close closes the connection without sending QUIT.
func (c *Conn) Close() error {
	if err := c.nc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("smtpdialog: %w", err)
	}
	return nil
}
