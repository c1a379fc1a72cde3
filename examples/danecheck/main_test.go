package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/internal/testdns"
)

// --- certificates ---------------------------------------------------------

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial int64

func newCert(t *testing.T, cn string, dnsNames []string, isCA bool, parent *keyPair) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              dnsNames,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{cert, key}
}

// tlsCert is a server certificate presenting leaf and then chain.
func tlsCert(leaf keyPair, chain ...keyPair) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key, Leaf: leaf.cert}
	for _, k := range chain {
		c.Certificate = append(c.Certificate, k.cert.Raw)
	}
	return c
}

func tlsa(t *testing.T, host string, port int, c *x509.Certificate, usage, selector, mtype uint8) string {
	t.Helper()
	r, err := dane.RecordFor(c, usage, selector, mtype)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("_%d._tcp.%s. 300 IN TLSA %s", port, host, r)
}

// --- a small SMTP server with STARTTLS -------------------------------------

type smtpServer struct {
	t    *testing.T
	ip   string
	port int
	cert *tls.Certificate // nil: no STARTTLS

	mu    sync.Mutex
	conns int
	cmds  []string
	snis  []string
}

// startSMTP listens on ip:port (port 0 picks one) until the test ends.
func startSMTP(t *testing.T, ip string, port int, cert *tls.Certificate) *smtpServer {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ip: ip, port: l.Addr().(*net.TCPAddr).Port, cert: cert}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	var conn net.Conn = c
	r := bufio.NewReader(conn)
	fmt.Fprintf(conn, "220 %s ESMTP test\r\n", s.ip)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		s.mu.Lock()
		s.cmds = append(s.cmds, line)
		s.mu.Unlock()
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		switch verb {
		case "EHLO":
			fmt.Fprintf(conn, "250-%s\r\n", s.ip)
			if s.cert != nil {
				if _, ok := conn.(*tls.Conn); !ok {
					fmt.Fprintf(conn, "250-STARTTLS\r\n")
				}
			}
			fmt.Fprintf(conn, "250 8BITMIME\r\n")
		case "STARTTLS":
			if s.cert == nil {
				fmt.Fprintf(conn, "502 5.5.1 not implemented\r\n")
				continue
			}
			fmt.Fprintf(conn, "220 2.0.0 ready\r\n")
			tc := tls.Server(c, &tls.Config{
				Certificates: []tls.Certificate{*s.cert},
				GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					s.mu.Lock()
					s.snis = append(s.snis, h.ServerName)
					s.mu.Unlock()
					return nil, nil
				},
			})
			if err := tc.Handshake(); err != nil {
				return
			}
			conn = tc
			r = bufio.NewReader(conn)
		case "QUIT":
			fmt.Fprintf(conn, "221 2.0.0 bye\r\n")
			return
		default:
			fmt.Fprintf(conn, "502 5.5.2 not in this test\r\n")
		}
	}
}

func (s *smtpServer) seen() (conns int, cmds, snis []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, append([]string(nil), s.cmds...), append([]string(nil), s.snis...)
}

// --- the tests --------------------------------------------------------------

// check runs danecheck in-process and returns its output lines and code.
func check(t *testing.T, dnsAddr string, port int, extra ...string) ([]string, int) {
	t.Helper()
	var out bytes.Buffer
	args := append([]string{"-resolver", dnsAddr, "-port", strconv.Itoa(port), "-timeout", "10s"}, extra...)
	args = append(args, "example.com")
	code := run(context.Background(), args, &out)
	t.Logf("danecheck %s:\n%s", strings.Join(args, " "), out.String())
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"), code
}

func last(lines []string) string { return lines[len(lines)-1] }

func expect(t *testing.T, lines []string, code int, wantLast string, wantCode int, hostLines ...string) {
	t.Helper()
	if got := last(lines); got != wantLast || code != wantCode {
		t.Errorf("last line %q, exit %d; want %q, exit %d", got, code, wantLast, wantCode)
	}
	if len(lines)-1 != len(hostLines) {
		t.Fatalf("%d host lines, want %d: %q", len(lines)-1, len(hostLines), lines)
	}
	for i, want := range hostLines {
		if lines[i] != want {
			t.Errorf("host line %d:\n got %s\nwant %s", i, lines[i], want)
		}
	}
}

func TestVerifiedDANEEE(t *testing.T) {
	leaf := newCert(t, "ignored.invalid", nil, false, nil) // DANE-EE: no name check
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(leaf))
	rec := tlsa(t, "mx.example.com", srv.port, leaf.cert, 3, 1, 1)
	dns := testdns.Start(t, testdns.Zone{
		Records: []string{
			"example.com. 300 IN MX 10 mx.example.com.",
			"mx.example.com. 300 IN A 127.0.0.2",
			rec,
		},
		Secure: []string{"example.com"},
	})
	lines, code := check(t, dns.Addr, srv.port)
	r, _ := dane.RecordFor(leaf.cert, 3, 1, 1)
	s := short(r)
	expect(t, lines, code, "dane: verified", 0,
		`mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+s+`" result=127.0.0.2: verified (DANE-EE `+s+`)`)
	if !strings.HasPrefix(s, "3 1 1 ") || !strings.HasSuffix(s, "...") || len(s) != len("3 1 1 ")+16+3 {
		t.Errorf("short record %q", s)
	}
	conns, cmds, snis := srv.seen()
	if conns != 1 || strings.Join(cmds, "|") != "EHLO localhost|STARTTLS|QUIT" || strings.Join(snis, "|") != "mx.example.com" {
		t.Errorf("server saw %d connections, commands %q, SNI %q", conns, cmds, snis)
	}
}

func TestDANETA(t *testing.T) {
	ca := newCert(t, "Private CA", nil, true, nil)
	good := newCert(t, "mx.example.com", []string{"mx.example.com"}, false, &ca)
	wrong := newCert(t, "other.example.net", []string{"other.example.net"}, false, &ca)
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(good, ca))
	bad := startSMTP(t, "127.0.0.3", srv.port, tlsCert(wrong, ca))
	for _, tc := range []struct {
		host     string
		srv      *smtpServer
		wantLast string
		wantCode int
		result   string
	}{
		{"mx.example.com", srv, "dane: verified", 0, "verified (DANE-TA %s)"},
		{"mx.example.com", bad, "dane: failed (mx.example.com[127.0.0.3]: certificate-host-mismatch: server certificate matches none of mx.example.com, example.com)", 1,
			"failed: certificate-host-mismatch: server certificate matches none of mx.example.com, example.com"},
	} {
		rec := tlsa(t, tc.host, srv.port, ca.cert, 2, 0, 1)
		dns := testdns.Start(t, testdns.Zone{
			Records: []string{
				"example.com. 300 IN MX 10 mx.example.com.",
				"mx.example.com. 300 IN A " + tc.srv.ip,
				rec,
			},
			Secure: []string{"example.com"},
		})
		lines, code := check(t, dns.Addr, srv.port)
		r, _ := dane.RecordFor(ca.cert, 2, 0, 1)
		result := tc.result
		if strings.Contains(result, "%s") {
			result = fmt.Sprintf(result, short(r))
		}
		expect(t, lines, code, tc.wantLast, tc.wantCode,
			`mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=`+tc.srv.ip+": "+result)
	}
}

func TestFailed(t *testing.T) {
	leaf := newCert(t, "mx.example.com", nil, false, nil)
	other := newCert(t, "mx.example.com", nil, false, nil)
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(leaf))
	plain := startSMTP(t, "127.0.0.3", srv.port, nil)
	r, _ := dane.RecordFor(other.cert, 3, 1, 1)
	t.Run("key mismatch", func(t *testing.T) {
		dns := testdns.Start(t, testdns.Zone{
			Records: []string{
				"example.com. 300 IN MX 10 mx.example.com.",
				"mx.example.com. 300 IN A 127.0.0.2",
				tlsa(t, "mx.example.com", srv.port, other.cert, 3, 1, 1),
			},
			Secure: []string{"example.com"},
		})
		lines, code := check(t, dns.Addr, srv.port)
		expect(t, lines, code, "dane: failed (mx.example.com[127.0.0.2]: certificate-not-trusted: no TLSA record matches the server certificate chain)", 1,
			`mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=127.0.0.2: failed: certificate-not-trusted: no TLSA record matches the server certificate chain`)
	})
	t.Run("no STARTTLS", func(t *testing.T) {
		dns := testdns.Start(t, testdns.Zone{
			Records: []string{
				"example.com. 300 IN MX 10 mx.example.com.",
				"mx.example.com. 300 IN A 127.0.0.3",
				tlsa(t, "mx.example.com", srv.port, other.cert, 3, 1, 1),
			},
			Secure: []string{"example.com"},
		})
		lines, code := check(t, dns.Addr, srv.port)
		expect(t, lines, code, "dane: failed (mx.example.com[127.0.0.3]: starttls-not-supported: STARTTLS not offered)", 1,
			`mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=127.0.0.3: no STARTTLS (STARTTLS not offered)`)
		_, cmds, _ := plain.seen()
		if strings.Join(cmds, "|") != "EHLO localhost|QUIT" {
			t.Errorf("commands %q", cmds)
		}
	})
	t.Run("one of two addresses", func(t *testing.T) {
		// Every address is checked, in order; the host is as bad as its worst.
		dns := testdns.Start(t, testdns.Zone{
			Records: []string{
				"example.com. 300 IN MX 10 mx.example.com.",
				"mx.example.com. 300 IN A 127.0.0.2",
				"mx.example.com. 300 IN A 127.0.0.3",
				tlsa(t, "mx.example.com", srv.port, leaf.cert, 3, 1, 1),
			},
			Secure: []string{"example.com"},
		})
		lines, code := check(t, dns.Addr, srv.port)
		r, _ := dane.RecordFor(leaf.cert, 3, 1, 1)
		expect(t, lines, code, "dane: failed (mx.example.com[127.0.0.3]: starttls-not-supported: STARTTLS not offered)", 1,
			`mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=127.0.0.2: verified (DANE-EE `+short(r)+`); 127.0.0.3: no STARTTLS (STARTTLS not offered)`)
	})
	t.Run("unusable TLSA", func(t *testing.T) {
		// Secure TLSA records, none usable for SMTP: TLS without
		// authentication, and a tlsa-invalid verdict.
		dns := testdns.Start(t, testdns.Zone{
			Records: []string{
				"example.com. 300 IN MX 10 mx.example.com.",
				"mx.example.com. 300 IN A 127.0.0.2",
				tlsa(t, "mx.example.com", srv.port, leaf.cert, 1, 1, 1),
			},
			Secure: []string{"example.com"},
		})
		lines, code := check(t, dns.Addr, srv.port)
		r, _ := dane.RecordFor(leaf.cert, 1, 1, 1)
		expect(t, lines, code, "dane: failed (mx.example.com: tlsa-invalid: TLSA records unusable)", 1,
			`mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=127.0.0.2: tls (unauthenticated)`)
	})
}

func TestSeveralMX(t *testing.T) {
	leaf := newCert(t, "mx.example.com", nil, false, nil)
	other := newCert(t, "mx.example.com", nil, false, nil)
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(leaf))
	r, _ := dane.RecordFor(leaf.cert, 3, 1, 1)
	ro, _ := dane.RecordFor(other.cert, 3, 1, 1)
	base := []string{
		"example.com. 300 IN MX 20 mx2.example.com.",
		"example.com. 300 IN MX 10 mx1.example.com.",
		"mx1.example.com. 300 IN A 127.0.0.2",
		"mx2.example.com. 300 IN A 127.0.0.2",
		tlsa(t, "mx1.example.com", srv.port, leaf.cert, 3, 1, 1),
	}
	t.Run("one host without TLSA", func(t *testing.T) {
		dns := testdns.Start(t, testdns.Zone{Records: base, Secure: []string{"example.com"}})
		lines, code := check(t, dns.Addr, srv.port)
		expect(t, lines, code, "dane: verified", 0,
			`mx1.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=127.0.0.2: verified (DANE-EE `+short(r)+`)`,
			`mx2.example.com pref=20 dnssec=mx:secure,addr:secure tlsa=none result=not applicable (no TLSA records)`)
	})
	t.Run("one host fails", func(t *testing.T) {
		recs := append(append([]string(nil), base...), tlsa(t, "mx2.example.com", srv.port, other.cert, 3, 1, 1))
		dns := testdns.Start(t, testdns.Zone{Records: recs, Secure: []string{"example.com"}})
		lines, code := check(t, dns.Addr, srv.port)
		expect(t, lines, code, "dane: failed (mx2.example.com[127.0.0.2]: certificate-not-trusted: no TLSA record matches the server certificate chain)", 1,
			`mx1.example.com pref=10 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=127.0.0.2: verified (DANE-EE `+short(r)+`)`,
			`mx2.example.com pref=20 dnssec=mx:secure,addr:secure tlsa="`+short(ro)+`" result=127.0.0.2: failed: certificate-not-trusted: no TLSA record matches the server certificate chain`)
	})
	t.Run("failure beats temporary failure", func(t *testing.T) {
		recs := append(append([]string(nil), base...), tlsa(t, "mx2.example.com", srv.port, other.cert, 3, 1, 1))
		dns := testdns.Start(t, testdns.Zone{Records: recs, Secure: []string{"example.com"},
			ServFail: []string{fmt.Sprintf("_%d._tcp.mx1.example.com/TLSA", srv.port)}})
		lines, code := check(t, dns.Addr, srv.port)
		if got := last(lines); code != 1 || got != "dane: failed (mx2.example.com[127.0.0.2]: certificate-not-trusted: no TLSA record matches the server certificate chain)" {
			t.Errorf("got %q exit %d", got, code)
		}
	})
}

func TestNotApplicable(t *testing.T) {
	leaf := newCert(t, "mx.example.com", nil, false, nil)
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(leaf))
	rec := tlsa(t, "mx.example.com", srv.port, leaf.cert, 3, 1, 1)
	r, _ := dane.RecordFor(leaf.cert, 3, 1, 1)
	for _, tc := range []struct {
		name     string
		zone     testdns.Zone
		args     []string
		wantLast string
		lines    []string
		conns    int
	}{
		{"insecure MX RRset", testdns.Zone{
			Records: []string{"example.com. 300 IN MX 10 mx.example.com.", "mx.example.com. 300 IN A 127.0.0.2", rec},
		}, nil, "dane: not applicable (insecure MX RRset)",
			[]string{"mx.example.com pref=10 dnssec=mx:insecure,addr:insecure tlsa=none result=not applicable (insecure A/AAAA records)"}, 0},
		{"insecure MX RRset, policy may", testdns.Zone{
			Records: []string{"example.com. 300 IN MX 10 mx.example.com.", "mx.example.com. 300 IN A 127.0.0.2", rec},
			Secure:  []string{"mx.example.com"},
		}, []string{"-insecure-mx-policy", "may"}, "dane: not applicable (insecure MX RRset)",
			[]string{"mx.example.com pref=10 dnssec=mx:insecure,addr:secure tlsa=none result=not applicable (insecure MX RRset)"}, 0},
		{"insecure MX RRset, policy encrypt", testdns.Zone{
			Records: []string{"example.com. 300 IN MX 10 mx.example.com.", "mx.example.com. 300 IN A 127.0.0.2", rec},
			Secure:  []string{"mx.example.com"},
		}, []string{"-insecure-mx-policy", "encrypt"}, "dane: not applicable (insecure MX RRset)",
			[]string{`mx.example.com pref=10 dnssec=mx:insecure,addr:secure tlsa="` + short(r) + `" result=127.0.0.2: tls (unauthenticated)`}, 1},
		{"no TLSA, secure denial", testdns.Zone{
			Records: []string{"example.com. 300 IN MX 10 mx.example.com.", "mx.example.com. 300 IN A 127.0.0.2"},
			Secure:  []string{"example.com"},
		}, nil, "dane: not applicable (no TLSA records)",
			[]string{"mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa=none result=not applicable (no TLSA records)"}, 0},
		{"null MX", testdns.Zone{
			Records: []string{"example.com. 300 IN MX 0 ."},
			Secure:  []string{"example.com"},
		}, nil, "dane: not applicable (null MX)", nil, 0},
		{"no such domain", testdns.Zone{Secure: []string{"example.com"}}, nil, "dane: not applicable (domain does not exist)", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _, _ := srv.seen()
			dns := testdns.Start(t, tc.zone)
			lines, code := check(t, dns.Addr, srv.port, tc.args...)
			expect(t, lines, code, tc.wantLast, 0, tc.lines...)
			if after, _, _ := srv.seen(); after-before != tc.conns {
				t.Errorf("%d connections, want %d", after-before, tc.conns)
			}
		})
	}
}

func TestInsecureMXPolicyDane(t *testing.T) {
	// Postfix's default: TLSA records of a secure host reached through an
	// insecure MX RRset are used anyway.
	leaf := newCert(t, "mx.example.net", nil, false, nil)
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(leaf))
	r, _ := dane.RecordFor(leaf.cert, 3, 1, 1)
	dns := testdns.Start(t, testdns.Zone{
		Records: []string{"example.com. 300 IN MX 10 mx.example.net.", "mx.example.net. 300 IN A 127.0.0.2",
			tlsa(t, "mx.example.net", srv.port, leaf.cert, 3, 1, 1)},
		Secure: []string{"example.net"},
	})
	lines, code := check(t, dns.Addr, srv.port)
	expect(t, lines, code, "dane: verified", 0,
		`mx.example.net pref=10 dnssec=mx:insecure,addr:secure tlsa="`+short(r)+`" result=127.0.0.2: verified (DANE-EE `+short(r)+`)`)
}

func TestNoMX(t *testing.T) {
	// RFC 5321 §5.1: without MX records the domain is its own host.
	leaf := newCert(t, "example.com", nil, false, nil)
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(leaf))
	r, _ := dane.RecordFor(leaf.cert, 3, 0, 2)
	dns := testdns.Start(t, testdns.Zone{
		Records: []string{"example.com. 300 IN A 127.0.0.2", tlsa(t, "example.com", srv.port, leaf.cert, 3, 0, 2)},
		Secure:  []string{"example.com"},
	})
	lines, code := check(t, dns.Addr, srv.port)
	expect(t, lines, code, "dane: verified", 0,
		`example.com pref=0 dnssec=mx:secure,addr:secure tlsa="`+short(r)+`" result=127.0.0.2: verified (DANE-EE `+short(r)+`)`)
	if _, _, snis := srv.seen(); strings.Join(snis, "|") != "example.com" {
		t.Errorf("SNI %q", snis)
	}
}

func TestTemporaryFailure(t *testing.T) {
	leaf := newCert(t, "mx.example.com", nil, false, nil)
	srv := startSMTP(t, "127.0.0.2", 0, tlsCert(leaf))
	rec := tlsa(t, "mx.example.com", srv.port, leaf.cert, 3, 1, 1)
	recs := []string{"example.com. 300 IN MX 10 mx.example.com.", "mx.example.com. 300 IN A 127.0.0.2", rec}
	tlsaName := fmt.Sprintf("_%d._tcp.mx.example.com", srv.port)
	for _, tc := range []struct {
		name     string
		zone     testdns.Zone
		wantLast string
		lines    []string
	}{
		{"SERVFAIL on TLSA", testdns.Zone{Records: recs, Secure: []string{"example.com"}, ServFail: []string{tlsaName + "/TLSA"}},
			"dane: temporary failure (mx.example.com: dnssec-invalid: TLSA lookup error)",
			[]string{"mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa=none result=temporary failure: dnssec-invalid: TLSA lookup error: lookup " + tlsaName + " TLSA: temporary failure (SERVFAIL)"}},
		{"bogus TLSA", testdns.Zone{Records: recs, Secure: []string{"example.com"}, Bogus: []string{tlsaName}},
			"dane: temporary failure (mx.example.com: dnssec-invalid: TLSA lookup error)",
			[]string{"mx.example.com pref=10 dnssec=mx:secure,addr:secure tlsa=none result=temporary failure: dnssec-invalid: TLSA lookup error: lookup " + tlsaName + " TLSA: DNSSEC validation failure (SERVFAIL), EDE 6 (DNSSEC Bogus): testdns: bogus " + tlsaName + "."}},
		{"bogus A", testdns.Zone{Records: recs, Secure: []string{"example.com"}, Bogus: []string{"mx.example.com/A"}},
			"dane: temporary failure (mx.example.com: dnssec-invalid: address lookup failed)",
			[]string{"mx.example.com pref=10 dnssec=mx:secure,addr:bogus tlsa=none result=temporary failure: dnssec-invalid: address lookup failed: lookup mx.example.com A: DNSSEC validation failure (SERVFAIL), EDE 6 (DNSSEC Bogus): testdns: bogus mx.example.com."}},
		{"bogus MX", testdns.Zone{Records: recs, Secure: []string{"example.com"}, Bogus: []string{"example.com/MX"}},
			"dane: temporary failure (example.com: dnssec-invalid: MX lookup failed: lookup example.com MX: DNSSEC validation failure (SERVFAIL), EDE 6 (DNSSEC Bogus): testdns: bogus example.com.)",
			nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dns := testdns.Start(t, tc.zone)
			lines, code := check(t, dns.Addr, srv.port)
			expect(t, lines, code, tc.wantLast, 2, tc.lines...)
		})
	}
	if n, _, _ := srv.seen(); n != 0 {
		t.Errorf("%d connections after lookup failures, want 0", n)
	}

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.4:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		dns := testdns.Start(t, testdns.Zone{
			Records: []string{"example.com. 300 IN MX 10 mx.example.com.", "mx.example.com. 300 IN A 127.0.0.4",
				tlsa(t, "mx.example.com", port, leaf.cert, 3, 1, 1)},
			Secure: []string{"example.com"},
		})
		lines, code := check(t, dns.Addr, port)
		if got := last(lines); code != 2 || got != "dane: temporary failure (mx.example.com[127.0.0.4]: connect failed)" {
			t.Errorf("got %q exit %d", got, code)
		}
		if len(lines) != 2 || !strings.Contains(lines[0], "result=127.0.0.4: temporary failure: connect failed: dial tcp 127.0.0.4:") {
			t.Errorf("host line %q", lines)
		}
	})
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"example.com"}, 64, "danecheck: -resolver is required\n"},
		{[]string{"-resolver", "127.0.0.1"}, 64, "danecheck: want exactly one DOMAIN\n"},
		{[]string{"-resolver", "127.0.0.1", "a.example", "b.example"}, 64, "danecheck: want exactly one DOMAIN\n"},
		{[]string{"-resolver", "127.0.0.1", "-port", "0", "example.com"}, 64, "danecheck: -port 0: out of range\n"},
		{[]string{"-resolver", "127.0.0.1", "-insecure-mx-policy", "none", "example.com"}, 64,
			"danecheck: dane: smtp_tls_dane_insecure_mx_policy \"none\": want dane, encrypt or may\n"},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tc.args, &out)
		if code != tc.code || out.String() != tc.out {
			t.Errorf("%q: exit %d, output %q; want %d, %q", tc.args, code, out.String(), tc.code, tc.out)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out); code != 0 || !strings.HasPrefix(out.String(), "usage: danecheck -resolver") {
		t.Errorf("-h: exit %d, output %q", code, out.String())
	}
}

func TestTimeout(t *testing.T) {
	// A server that accepts and never greets: the -timeout ends the
	// connection and the verdict is a temporary failure.
	l, err := net.Listen("tcp", "127.0.0.5:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	leaf := newCert(t, "mx.example.com", nil, false, nil)
	dns := testdns.Start(t, testdns.Zone{
		Records: []string{"example.com. 300 IN MX 10 mx.example.com.", "mx.example.com. 300 IN A 127.0.0.5",
			tlsa(t, "mx.example.com", port, leaf.cert, 3, 1, 1)},
		Secure: []string{"example.com"},
	})
	var out bytes.Buffer
	code := run(context.Background(), []string{"-resolver", dns.Addr, "-port", strconv.Itoa(port), "-timeout", "300ms", "example.com"}, &out)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if got := last(lines); code != 2 || got != "dane: temporary failure (mx.example.com[127.0.0.5]: greeting)" {
		t.Errorf("got %q exit %d", got, code)
	}
	if !strings.Contains(lines[0], "result=127.0.0.5: temporary failure: greeting: ") || !strings.Contains(lines[0], "i/o timeout") {
		t.Errorf("host line %q", lines[0])
	}
}

func FuzzOffersSTARTTLS(f *testing.F) {
	for _, s := range []string{
		"mx.example.com\nPIPELINING\nSTARTTLS",
		"mx.example.com\nstarttls",
		"STARTTLS",
		"mx.example.com\n8BITMIME\nSIZE 1000",
		"mx.example.com\n STARTTLS extra",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		got := offersSTARTTLS(msg)
		if got && !strings.Contains(strings.ToUpper(msg), "STARTTLS") {
			t.Fatalf("%q: STARTTLS found where there is none", msg)
		}
		if got && !strings.Contains(msg, "\n") {
			t.Fatalf("%q: the greeting line is not an extension", msg)
		}
		if !offersSTARTTLS(msg + "\nSTARTTLS") {
			t.Fatalf("%q + STARTTLS line: not found", msg)
		}
	})
}
