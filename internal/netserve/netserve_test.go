package netserve

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"testing"
)

// scripted is a listener whose Accept returns errs in turn, then a
// connection.
type scripted struct {
	net.Listener
	errs []error
	conn net.Conn
}

func (s *scripted) Accept() (net.Conn, error) {
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return nil, err
	}
	return s.conn, nil
}

func (s *scripted) Addr() net.Addr { return &net.TCPAddr{} }

func TestAccept(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	never := func() bool { return false }

	l := &scripted{errs: []error{syscall.EMFILE, syscall.ECONNABORTED}, conn: c1}
	if nc, err := Accept(l, never, quiet); err != nil || nc != c1 {
		t.Errorf("after temporary errors: %v, %v; want the connection", nc, err)
	}
	perm := errors.New("use of closed network connection")
	l = &scripted{errs: []error{perm}, conn: c1}
	if _, err := Accept(l, never, quiet); err != perm {
		t.Errorf("permanent error: got %v", err)
	}
	l = &scripted{errs: []error{syscall.EMFILE}, conn: c1}
	if _, err := Accept(l, func() bool { return true }, quiet); !errors.Is(err, ErrClosed) {
		t.Errorf("while closing: got %v, want ErrClosed", err)
	}
}
