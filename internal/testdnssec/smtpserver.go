package testdnssec

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPServer is a minimal STARTTLS SMTP server on 127.0.0.1: it greets
// with 220, offers STARTTLS in its EHLO reply, does the TLS handshake
// with its certificate on STARTTLS, answers 250 to every other command
// and 221 to QUIT. It delivers nothing.
type SMTPServer struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Hostname is the name in the greeting and EHLO reply.
	Hostname string

	ln     net.Listener
	config *tls.Config
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	sni    []string
	closed bool
}

// StartSMTP starts an SMTPServer presenting cert (see TLSCertificate)
// and registers Close with t.Cleanup.
func StartSMTP(t testing.TB, hostname string, cert tls.Certificate) *SMTPServer {
	t.Helper()
	s, err := NewSMTPServer(hostname, cert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// NewSMTPServer starts an SMTPServer presenting cert; Close stops it.
func NewSMTPServer(hostname string, cert tls.Certificate) (*SMTPServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testdnssec: %w", err)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), Hostname: hostname, ln: ln, conns: map[net.Conn]bool{}}
	s.config = &tls.Config{
		Certificates: []tls.Certificate{cert},
		GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.sni = append(s.sni, hi.ServerName)
			s.mu.Unlock()
			return nil, nil
		},
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// SNI returns the server names clients sent in their TLS handshakes so
// far ("" for none), in order.
func (s *SMTPServer) SNI() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sni...)
}

// Close stops listening, closes open connections and waits for their
// goroutines. Safe to call more than once.
func (s *SMTPServer) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *SMTPServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// handle runs one SMTP session; the whole session must end within a
// minute.
func (s *SMTPServer) handle(c net.Conn) {
	conn := c
	defer func() { conn.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	reply := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		return w.Flush() == nil
	}
	if !reply("220 " + s.Hostname + " ESMTP testdnssec") {
		return
	}
	inTLS := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			lines := []string{"250-" + s.Hostname, "250-PIPELINING"}
			if !inTLS {
				lines = append(lines, "250-STARTTLS")
			}
			if !reply(append(lines, "250 8BITMIME")...) {
				return
			}
		case "HELO":
			if !reply("250 " + s.Hostname) {
				return
			}
		case "STARTTLS":
			if inTLS {
				if !reply("503 5.5.1 TLS already active") {
					return
				}
				continue
			}
			if r.Buffered() > 0 {
				reply("501 5.5.4 pipelined data after STARTTLS")
				return
			}
			if !reply("220 2.0.0 Ready to start TLS") {
				return
			}
			tc := tls.Server(c, s.config)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, inTLS = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case "QUIT":
			reply("221 2.0.0 Bye")
			return
		default:
			if !reply("250 2.0.0 OK") {
				return
			}
		}
	}
}

var errNoSTARTTLS = errors.New("testdnssec: no STARTTLS")

// DialSTARTTLS connects to an SMTP server at addr, sends EHLO and
// STARTTLS, and returns the TLS connection after the handshake with
// config (for a client-side DANE check via config.VerifyConnection).
// The caller sends QUIT and closes it.
func DialSTARTTLS(addr string, config *tls.Config) (*tls.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("testdnssec: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	readReply := func() (string, error) {
		var all string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return all, err
			}
			all += l
			if len(l) < 4 || l[3] != '-' {
				return all, nil
			}
		}
	}
	fail := func(err error) (*tls.Conn, error) {
		c.Close()
		return nil, fmt.Errorf("testdnssec: SMTP with %s: %w", addr, err)
	}
	if _, err := readReply(); err != nil {
		return fail(err)
	}
	if _, err := fmt.Fprintf(c, "EHLO client.test\r\n"); err != nil {
		return fail(err)
	}
	ehlo, err := readReply()
	if err != nil {
		return fail(err)
	}
	if !strings.Contains(strings.ToUpper(ehlo), "STARTTLS") {
		return fail(errNoSTARTTLS)
	}
	if _, err := fmt.Fprintf(c, "STARTTLS\r\n"); err != nil {
		return fail(err)
	}
	if rep, err := readReply(); err != nil || !strings.HasPrefix(rep, "220") {
		return fail(fmt.Errorf("STARTTLS answered %q: %v", rep, err))
	}
	tc := tls.Client(c, config)
	if err := tc.Handshake(); err != nil {
		return fail(err)
	}
	_ = c.SetDeadline(time.Time{})
	return tc, nil
}
