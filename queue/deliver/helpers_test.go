package deliver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/internal/testcert"
	"github.com/mxkit/mxkit/queue"
)

var quiet = slog.New(slog.DiscardHandler)

// msg builds a delivery of body from sender to rcpts over route.
func msg(route queue.Route, sender, body string, rcpts ...string) *queue.Delivery {
	m := &queue.Message{ID: "test1", Sender: sender, Size: int64(len(body))}
	d := &queue.Delivery{Message: m, Route: route}
	for i, r := range rcpts {
		m.Recipients = append(m.Recipients, queue.Recipient{Addr: r})
		d.Rcpts = append(d.Rcpts, i)
	}
	d.Open = func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(body)), nil
	}
	return d
}

// mailRec is one transaction a fake server received.
type mailRec struct {
	From  string
	MOpts smtp.MailOptions
	Rcpts []string
	ROpts []smtp.RcptOptions
	Data  string
	TLS   bool
	Helo  string
}

// fakeBackend is a go-smtp backend whose replies the test scripts.
type fakeBackend struct {
	MailErr    error
	RcptErr    map[string]error // by recipient
	DataErr    error
	LMTPStatus map[string]error // by recipient, LMTP only

	mu    sync.Mutex
	mails []mailRec
	rsets int
}

func (b *fakeBackend) Mails() []mailRec {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]mailRec(nil), b.mails...)
}

func (b *fakeBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &fakeSession{b: b, tls: isTLS, helo: c.Hostname()}, nil
}

type fakeSession struct {
	b    *fakeBackend
	tls  bool
	helo string
	cur  mailRec
}

func (s *fakeSession) Reset() {
	s.cur = mailRec{}
	s.b.mu.Lock()
	s.b.rsets++
	s.b.mu.Unlock()
}
func (s *fakeSession) Logout() error { return nil }
func (s *fakeSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.b.MailErr != nil {
		return s.b.MailErr
	}
	s.cur = mailRec{From: from, TLS: s.tls, Helo: s.helo}
	if opts != nil {
		s.cur.MOpts = *opts
	}
	return nil
}
func (s *fakeSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if err := s.b.RcptErr[to]; err != nil {
		return err
	}
	s.cur.Rcpts = append(s.cur.Rcpts, to)
	var o smtp.RcptOptions
	if opts != nil {
		o = *opts
	}
	s.cur.ROpts = append(s.cur.ROpts, o)
	return nil
}
func (s *fakeSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(b)
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, s.cur)
	s.b.mu.Unlock()
	return s.b.DataErr
}
func (s *fakeSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	if err := s.Data(r); err != nil {
		return err
	}
	for _, rc := range s.cur.Rcpts {
		status.SetStatus(rc, s.b.LMTPStatus[rc])
	}
	return nil
}

// countingListener counts and keeps accepted connections.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *countingListener) Accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// closeAll closes the server side of every accepted connection.
func (l *countingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// fakeServer runs a go-smtp server for be on loopback (or a UNIX socket
// when sock is set) and returns its listener.
func fakeServer(t *testing.T, be *fakeBackend, setup func(*smtp.Server)) *countingListener {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "fake.test"
	srv.EnableDSN = true
	srv.ErrorLog = discardLogger{}
	if setup != nil {
		setup(srv)
	}
	network, addr := "tcp", "127.0.0.1:0"
	if srv.Network == "unix" {
		network, addr = "unix", srv.Addr
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	go func() { _ = srv.Serve(cl) }()
	t.Cleanup(func() { _ = srv.Close() })
	return cl
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

// route returns the smtp route to l.
func route(l net.Listener) queue.Route {
	return queue.Route{Transport: "smtp", Nexthop: "[127.0.0.1]:" + port(l)}
}

func port(l net.Listener) string {
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// serverTLS returns a server TLS configuration with a fresh self-signed
// certificate for mx.example.test.
func serverTLS(t testing.TB) *tls.Config {
	t.Helper()
	c, err := testcert.Issue("mx.example.test", []string{"mx.example.test"}, nil, false,
		time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}}}
}

// rawServer serves each connection with fn(i, conn) on loopback; i counts
// connections from 0.
func rawServer(t *testing.T, fn func(i int, c *textproto.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				fn(i, textproto.NewConn(c))
			})
		}
	})
	return ln
}

// expect reads a command and answers it; the command must start with cmd.
func expect(c *textproto.Conn, cmd string, reply ...string) error {
	line, err := c.ReadLine()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(strings.ToUpper(line), cmd) {
		return errors.New("unexpected command " + line)
	}
	for _, r := range reply {
		if err := c.PrintfLine("%s", r); err != nil {
			return err
		}
	}
	return nil
}

// readData reads a DATA body up to the final dot.
func readData(c *textproto.Conn) (string, error) {
	b, err := io.ReadAll(c.DotReader())
	return string(b), err
}
