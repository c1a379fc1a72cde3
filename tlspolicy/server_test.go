package tlspolicy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testcert"
)

// srvConf configures a scripted SMTP server on 127.0.0.1 for dialer
// tests.
type srvConf struct {
	greeting string   // default "220 mx.example.com ESMTP"
	ehlo     []string // pre-TLS EHLO reply, default offering STARTTLS
	starttls string   // reply to STARTTLS, default "220 2.0.0 Ready to start TLS"
	cert     *tls.Certificate
	tlsCfg   func(*tls.Config)
}

type srv struct {
	srvConf
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	cmds  []string // commands received; "TLS " prefix after the handshake; "#n" marks connection n
	sni   []string
	conns int
}

func (conf srvConf) start(t *testing.T) *srv {
	t.Helper()
	s := &srv{srvConf: conf}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *srv) addr() string { return s.ln.Addr().String() }

func (s *srv) log(cmd string) {
	s.mu.Lock()
	s.cmds = append(s.cmds, cmd)
	s.mu.Unlock()
}

func (s *srv) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

func (s *srv) snis() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sni...)
}

func (s *srv) handle(c net.Conn) {
	conn := c
	defer func() { conn.Close() }()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	send := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		return w.Flush() == nil
	}
	greeting := s.greeting
	if greeting == "" {
		greeting = "220 mx.example.com ESMTP"
	}
	if !send(greeting) || !strings.HasPrefix(greeting, "220") {
		return
	}
	prefix := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.log(prefix + line)
		verb, _, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "LHLO":
			lines := s.ehlo
			if lines == nil {
				lines = []string{"250-mx.example.com", "250-PIPELINING", "250 STARTTLS"}
			}
			if prefix != "" {
				lines = []string{"250-mx.example.com", "250 8BITMIME"}
			}
			if !send(lines...) {
				return
			}
		case "STARTTLS":
			rep := s.starttls
			if rep == "" {
				rep = "220 2.0.0 Ready to start TLS"
			}
			if !send(rep) {
				return
			}
			if !strings.HasPrefix(rep, "220") {
				continue
			}
			cfg := &tls.Config{GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
				s.mu.Lock()
				s.sni = append(s.sni, hi.ServerName)
				s.mu.Unlock()
				return nil, nil
			}}
			if s.cert != nil {
				cfg.Certificates = []tls.Certificate{*s.cert}
			}
			if s.tlsCfg != nil {
				s.tlsCfg(cfg)
			}
			tc := tls.Server(c, cfg)
			if err := tc.Handshake(); err != nil {
				s.log("handshake failed")
				return
			}
			conn, prefix = tc, "TLS "
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
		case "QUIT":
			send("221 2.0.0 Bye")
			return
		default:
			if !send("250 2.0.0 OK") {
				return
			}
		}
	}
}

// pki holds the test certificates.
type pki struct {
	ca, otherCA                    *testcert.Cert
	leaf, expired, self, untrusted *testcert.Cert
	roots                          *x509.CertPool
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	now := time.Now()
	must := func(c *testcert.Cert, err error) *testcert.Cert {
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	p := &pki{}
	p.ca = must(testcert.Issue("Test CA", nil, nil, true, now.Add(-time.Hour), now.Add(24*time.Hour)))
	p.otherCA = must(testcert.Issue("Other CA", nil, nil, true, now.Add(-time.Hour), now.Add(24*time.Hour)))
	p.leaf = must(testcert.Issue("mx.example.com", []string{"mx.example.com"}, p.ca, false, now.Add(-time.Hour), now.Add(24*time.Hour)))
	p.expired = must(testcert.Issue("mx.example.com", []string{"mx.example.com"}, p.ca, false, now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	p.self = must(testcert.Issue("wrong.example", []string{"wrong.example"}, nil, false, now.Add(-48*time.Hour), now.Add(-24*time.Hour)))
	p.untrusted = must(testcert.Issue("mx.example.com", []string{"mx.example.com"}, nil, false, now.Add(-time.Hour), now.Add(24*time.Hour)))
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.ca.Cert)
	return p
}

func tlsCert(leaf *testcert.Cert, chain ...*testcert.Cert) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Cert.Raw)
	}
	return c
}
