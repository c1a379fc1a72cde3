package gosmtp

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/smtppolicy"
)

// startFront runs go-smtp on 127.0.0.1:0 behind a Listener that cfg may
// adjust before the server starts.
func startFront(t *testing.T, p *smtppolicy.Policy, cfg func(*Listener)) (string, *app) {
	t.Helper()
	a := &app{}
	s := smtp.NewServer(&Backend{Policy: p, Next: a})
	s.Domain = "mx.example"
	s.ErrorLog = nopLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := NewListener(ln, p)
	fl.Logger = slog.New(slog.DiscardHandler)
	if cfg != nil {
		cfg(fl)
	}
	go s.Serve(fl)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String(), a
}

// pki is a throw-away CA with a server certificate for "mx.example".
type pki struct {
	roots  *x509.CertPool
	server tls.Certificate
}

// newCert makes an ECDSA P-256 certificate, self-signed when parent is nil.
func newCert(t *testing.T, cn string, ca bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (tls.Certificate, *x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	} else {
		tmpl.DNSNames = []string{cn}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, cert, key
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	_, ca, caKey := newCert(t, "Test CA", true, nil, nil)
	server, _, _ := newCert(t, "mx.example", false, ca, caKey)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &pki{roots: roots, server: server}
}

func (k *pki) serverConfig(auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{k.server}, ClientAuth: auth}
}

func (k *pki) clientConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: k.roots, ServerName: "mx.example", Certificates: certs}
}

// startTLS sends STARTTLS, expects the 220, and makes the handshake.
func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	if got := c.talk("STARTTLS")[0]; got != "220 2.0.0 Ready to start TLS" {
		c.t.Fatalf("STARTTLS: %q", got)
	}
	c.handshake(cfg)
}

func (c *client) handshake(cfg *tls.Config) {
	c.t.Helper()
	if n := c.br.Buffered(); n != 0 {
		c.t.Fatalf("%d plaintext bytes after the 220 reply", n)
	}
	tc := tls.Client(c.c, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake: %v", err)
	}
	c.c, c.br = tc, bufio.NewReader(tc)
}

// closed asserts that the server closed the connection: nothing more
// comes but EOF.
func (c *client) closed() {
	c.t.Helper()
	if got := c.reply(); got != "ERR EOF" {
		c.t.Errorf("after the last reply: %q, want EOF", got)
	}
}

const ehloPlain = "250-mx.example|250-PIPELINING|250-SIZE|250-VRFY|250-ENHANCEDSTATUSCODES|250-8BITMIME|250 CHUNKING"

func TestFrontStartTLS(t *testing.T) {
	k := newPKI(t)
	p := policy()
	p.Recipient = smtppolicy.Chain{smtppolicy.RejectPlaintextSession}
	addr, a := startFront(t, p, func(l *Listener) { l.TLSConfig = k.serverConfig(tls.NoClientCert) })
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("EHLO c", "MAIL FROM:<a@c.example>", "RCPT TO:<u@example.org>", "STARTTLS x"),
		"250-mx.example|250-PIPELINING|250-SIZE|250-VRFY|250-STARTTLS|250-ENHANCEDSTATUSCODES|250-8BITMIME|250 CHUNKING",
		"250 2.1.0 Ok",
		"450 4.7.1 Session encryption is required",
		"501 5.5.4 Syntax: STARTTLS")
	c.startTLS(k.clientConfig())
	// The transaction opened before TLS is gone, STARTTLS is no longer
	// offered, and the policy sees the TLS session.
	eq(t, c.talk("EHLO c", "MAIL FROM:<a@c.example>", "RCPT TO:<u@example.org>", "DATA"),
		ehloPlain, "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: tls\r\n\r\nhi\r\n.\r\n")
	eq(t, append([]string{c.reply()}, c.talk("STARTTLS", "QUIT")...),
		"250 2.0.0 Ok: queued", "554 5.5.1 Error: TLS already active", "221 2.0.0 Bye")
	a.mu.Lock()
	defer a.mu.Unlock()
	eq(t, a.msgs, "Subject: tls\r\n\r\nhi\r\n")
}

// TestFrontStartTLSForgetsHelo: after the handshake the client must say
// EHLO again (RFC 3207 §4.2), and plaintext pipelined after STARTTLS is
// discarded, not executed inside TLS (CVE-2011-0411).
func TestFrontStartTLSForgetsHelo(t *testing.T) {
	k := newPKI(t)
	p := policy()
	p.HeloRequired = true
	addr, _ := startFront(t, p, func(l *Listener) { l.TLSConfig = k.serverConfig(tls.NoClientCert) })
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	c.talk("EHLO c")
	c.send("STARTTLS\r\nRSET\r\n")
	eq(t, []string{c.reply()}, "220 2.0.0 Ready to start TLS")
	c.handshake(k.clientConfig())
	// The first reply inside TLS answers NOOP, not the injected RSET.
	eq(t, c.talk("NOOP", "MAIL FROM:<a@c.example>", "EHLO c", "MAIL FROM:<a@c.example>"),
		"250 2.0.0 Ok",
		"503 5.5.1 Error: send HELO/EHLO first",
		ehloPlain,
		"250 2.1.0 Ok")
}

// TestFrontRequireTLS is smtpd_tls_security_level = encrypt: no
// transaction before STARTTLS (Postfix's 530), mail as usual after it.
func TestFrontRequireTLS(t *testing.T) {
	k := newPKI(t)
	addr, a := startFront(t, policy(), func(l *Listener) {
		l.TLSConfig = k.serverConfig(tls.NoClientCert)
		l.RequireTLS = true
	})
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("EHLO c", "MAIL FROM:<a@c.example>", "RCPT TO:<u@example.org>", "VRFY u@example.org", "RSET", "NOOP"),
		"250-mx.example|250-PIPELINING|250-SIZE|250-VRFY|250-STARTTLS|250-ENHANCEDSTATUSCODES|250-8BITMIME|250 CHUNKING",
		"530 5.7.0 Must issue a STARTTLS command first",
		"530 5.7.0 Must issue a STARTTLS command first",
		"530 5.7.0 Must issue a STARTTLS command first",
		"530 5.7.0 Must issue a STARTTLS command first",
		"250 2.0.0 Ok")
	c.startTLS(k.clientConfig())
	eq(t, c.talk("EHLO c", "MAIL FROM:<a@c.example>", "RCPT TO:<u@example.org>", "DATA"),
		ehloPlain, "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: tls\r\n\r\nhi\r\n.\r\n")
	eq(t, []string{c.reply()}, "250 2.0.0 Ok: queued")
	a.mu.Lock()
	defer a.mu.Unlock()
	eq(t, a.msgs, "Subject: tls\r\n\r\nhi\r\n")
}

func TestFrontStartTLSNotConfigured(t *testing.T) {
	addr, _ := startFront(t, policy(), nil)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("EHLO c", "STARTTLS", "NOOP"),
		ehloPlain, "502 5.5.1 Error: command not implemented", "250 2.0.0 Ok")
}

// TestFrontTLSClientCerts is permit_tls_clientcerts end to end: the
// public-key fingerprint of the client certificate is looked up in
// relay_clientcerts.
func TestFrontTLSClientCerts(t *testing.T) {
	k := newPKI(t)
	trusted, trustedCert, _ := newCert(t, "trusted.example", false, nil, nil)
	other, _, _ := newCert(t, "other.example", false, nil, nil)
	fp := smtppolicy.Fingerprint(trustedCert.RawSubjectPublicKeyInfo, "sha256")
	p := policy()
	p.Relay = smtppolicy.Chain{
		smtppolicy.PermitMyNetworks,
		smtppolicy.PermitTLSClientCerts(relaymaps.Dict{strings.ToLower(fp): "ok"}),
		smtppolicy.RejectUnauthDestination,
	}
	addr, _ := startFront(t, p, func(l *Listener) { l.TLSConfig = k.serverConfig(tls.RequestClientCert) })
	const denied = "554 5.7.1 <u@elsewhere.example>: Relay access denied"
	for _, tc := range []struct {
		name  string
		tls   bool
		certs []tls.Certificate
		want  string
	}{
		{"trusted", true, []tls.Certificate{trusted}, "250 2.1.5 Ok"},
		{"other", true, []tls.Certificate{other}, denied},
		{"none", true, nil, denied},
		{"plaintext", false, nil, denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr, "127.0.0.1")
			c.reply()
			c.talk("EHLO c")
			if tc.tls {
				c.startTLS(k.clientConfig(tc.certs...))
				c.talk("EHLO c")
			}
			eq(t, c.talk("MAIL FROM:<a@c.example>", "RCPT TO:<u@elsewhere.example>", "RCPT TO:<u@example.org>"),
				"250 2.1.0 Ok", tc.want, "250 2.1.5 Ok")
		})
	}
}

func TestFrontTimeout(t *testing.T) {
	const timedOut = "421 4.4.2 mx.example Error: timeout exceeded"
	addr, a := startFront(t, policy(), func(l *Listener) { l.Timeout = 300 * time.Millisecond })
	t.Run("idle", func(t *testing.T) {
		c := dial(t, addr, "127.0.0.1")
		eq(t, []string{c.reply(), c.reply()}, "220 mx.example ESMTP", timedOut)
		c.closed()
	})
	t.Run("data", func(t *testing.T) {
		c := dial(t, addr, "127.0.0.1")
		c.reply()
		eq(t, c.talk("EHLO c", "MAIL FROM:<>", "RCPT TO:<u@example.org>", "DATA")[1:],
			"250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
		c.send("Subject: stalled\r\n\r\npart")
		eq(t, []string{c.reply()}, timedOut)
		c.closed()
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.msgs) != 0 {
		t.Errorf("app got %q", a.msgs)
	}
}

func TestFrontBDAT(t *testing.T) {
	addr, a := startFront(t, policy(), nil)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("EHLO c", "MAIL FROM:<>", "RCPT TO:<u@example.org>")[1:], "250 2.1.0 Ok", "250 2.1.5 Ok")
	c.send("BDAT 5 LAST\r\nhello")
	eq(t, []string{c.reply()}, "250 2.0.0 Ok: queued")

	// Two chunks.
	eq(t, c.talk("MAIL FROM:<>", "RCPT TO:<u@example.org>"), "250 2.1.0 Ok", "250 2.1.5 Ok")
	c.send("BDAT 3\r\nabcBDAT 0 LAST\r\n")
	// Postfix 3.7 answers an intermediate chunk "250 2.0.0 Ok: N bytes".
	eq(t, []string{c.reply(), c.reply()}, "250 2.0.0 Ok: 3 bytes", "250 2.0.0 Ok: queued")

	// Refused chunks are skipped, whatever they contain: the commands in
	// them are never run.
	c.send("BDAT 6 LAST\r\nQUIT\r\n")
	eq(t, []string{c.reply()}, "503 5.5.1 Error: need RCPT command")
	eq(t, c.talk("MAIL FROM:<>", "RCPT TO:<u@elsewhere.example>"),
		"250 2.1.0 Ok", "554 5.7.1 <u@elsewhere.example>: Relay access denied")
	c.send("BDAT 12 LAST\r\nRSET\r\nQUIT\r\nNOOP\r\n")
	eq(t, []string{c.reply(), c.reply()}, "554 5.5.1 Error: no valid recipients", "250 2.0.0 Ok")
	// The transaction is still open and still has no recipient.
	eq(t, c.talk("RCPT TO:<u@example.org>"), "250 2.1.5 Ok")
	c.send("BDAT 4 LAST\r\nbye.")
	eq(t, []string{c.reply()}, "250 2.0.0 Ok: queued")
	// Bad BDAT syntax: the chunk cannot be found, and Postfix hangs up.
	c.send("BDAT 6 FOO\r\nQUIT\r\nNOOP\r\n")
	eq(t, []string{c.reply()}, "521 5.5.4 Syntax: BDAT count [LAST]")
	c.closed()
	a.mu.Lock()
	defer a.mu.Unlock()
	eq(t, a.msgs, "hello", "abc", "bye.")
}

// TestFrontIllegalPipelining: reject_unauth_pipelining in the DATA
// restrictions refuses a DATA command sent together with its body. The
// body bytes already sent are then read as commands, as Postfix does: a
// header line as a command makes Postfix (and us) hang up, and nothing
// reaches the application. The flag stays set for the rest of the
// session (Postfix's SMTPD_FLAG_ILL_PIPELINING is never cleared).
func TestFrontIllegalPipelining(t *testing.T) {
	const improper = "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining"
	p := policy()
	p.Data = smtppolicy.Chain{smtppolicy.RejectUnauthPipelining}
	addr, a := startFront(t, p, nil)

	t.Run("body with DATA", func(t *testing.T) {
		c := dial(t, addr, "127.0.0.1")
		c.reply()
		eq(t, c.talk("EHLO c", "MAIL FROM:<>", "RCPT TO:<u@example.org>")[1:], "250 2.1.0 Ok", "250 2.1.5 Ok")
		c.send("DATA\r\nhi\r\n.\r\n")
		eq(t, []string{c.reply(), c.reply(), c.reply()},
			improper,
			"500 5.5.2 Error: command not recognized",
			"500 5.5.2 Error: command not recognized")
		eq(t, c.talk("DATA", "RSET", "MAIL FROM:<>", "RCPT TO:<u@example.org>"), improper, "250 2.0.0 Ok", "250 2.1.0 Ok", "250 2.1.5 Ok")
		c.send("DATA\r\nSubject: x\r\n\r\n.\r\n")
		eq(t, []string{c.reply(), c.reply()}, improper, "221 2.7.0 Error: I can break rules, too. Goodbye.")
		c.closed()
	})
	t.Run("DATA alone", func(t *testing.T) {
		c := dial(t, addr, "127.0.0.1")
		c.reply()
		eq(t, c.talk("EHLO c", "MAIL FROM:<>", "RCPT TO:<u@example.org>", "DATA")[1:],
			"250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
		c.send("Subject: y\r\n\r\nok\r\n.\r\n")
		eq(t, []string{c.reply()}, "250 2.0.0 Ok: queued")
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	eq(t, a.msgs, "Subject: y\r\n\r\nok\r\n")
}

// TestFrontMessageSize: message_size_limit is enforced by the policy with
// go-smtp's MaxMessageBytes unset, and advertised in the EHLO reply.
func TestFrontMessageSize(t *testing.T) {
	p := policy()
	p.MessageSizeLimit = 100
	addr, a := startFront(t, p, nil)
	c := dial(t, addr, "127.0.0.1")
	c.reply()
	eq(t, c.talk("EHLO c", "MAIL FROM:<a@b.example> SIZE=1000", "MAIL FROM:<a@b.example> SIZE=100",
		"RCPT TO:<u@example.org>", "DATA"),
		"250-mx.example|250-PIPELINING|250-SIZE 100|250-VRFY|250-ENHANCEDSTATUSCODES|250-8BITMIME|250 CHUNKING",
		"552 5.3.4 Message size exceeds fixed limit",
		"250 2.1.0 Ok",
		"250 2.1.5 Ok",
		"354 End data with <CR><LF>.<CR><LF>")
	body := "Subject: big\r\n\r\n" + strings.Repeat("x", 200-len("Subject: big\r\n\r\n")-2) + "\r\n"
	c.send(body + ".\r\n")
	eq(t, []string{c.reply()}, "552 5.3.4 Error: message file too big")
	// The transaction is over; a message within the limit goes through.
	eq(t, c.talk("MAIL FROM:<a@b.example>", "RCPT TO:<u@example.org>", "DATA"),
		"250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: small\r\n\r\n.\r\n")
	eq(t, []string{c.reply()}, "250 2.0.0 Ok: queued")
	c.send("MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.org>\r\nBDAT 101 LAST\r\n" + strings.Repeat("y", 101))
	eq(t, []string{c.reply(), c.reply(), c.reply()}, "250 2.1.0 Ok", "250 2.1.5 Ok", "552 5.3.4 Chunk exceeds message size limit")
	a.mu.Lock()
	defer a.mu.Unlock()
	eq(t, a.msgs, "Subject: small\r\n\r\n")
}
