package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/internal/postfixconf"
	"github.com/mxkit/mxkit/internal/testproc"
)

// lockedBuffer is a bytes.Buffer safe for the MX's goroutines to write
// while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// diskCert reads the certificate of the self-signed PEM file in spool,
// checking that only its owner may read the file (it holds the key).
func diskCert(t *testing.T, spool string) *x509.Certificate {
	t.Helper()
	path := filepath.Join(spool, selfSignedFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, m)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			t.Fatalf("%s holds no certificate", path)
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

// startTLS says EHLO and STARTTLS to the MX at addr, trusting only want
// and checking the name serverName, and returns the certificate the
// server showed.
func startTLS(t *testing.T, addr, serverName string, want *x509.Certificate) *x509.Certificate {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(want)
	// EHLO localhost from 127.0.0.1 (mynetworks), then STARTTLS.
	c, err := smtp.DialStartTLS(addr, &tls.Config{RootCAs: roots, ServerName: serverName})
	if err != nil {
		t.Fatalf("STARTTLS (verifying %s against the certificate on disk): %v", serverName, err)
	}
	defer c.Close()
	// The session goes on over TLS (the handshake happens at the
	// first command: EHLO again, then MAIL).
	if err := c.Mail("sender@example.org", nil); err != nil {
		t.Fatalf("MAIL after STARTTLS: %v", err)
	}
	st, ok := c.TLSConnectionState()
	if !ok || !st.HandshakeComplete || len(st.PeerCertificates) == 0 {
		t.Fatal("no TLS connection state after STARTTLS")
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	return st.PeerCertificates[0]
}

// TestBuiltInConfigSTARTTLS: with the built-in configuration the MX
// offers STARTTLS at once, with a self-signed certificate for its host
// name that it keeps in the spool folder (key mode 0600), says so in its
// log, and offers again after a restart.
func TestBuiltInConfigSTARTTLS(t *testing.T) {
	spool := t.TempDir()
	var log1 lockedBuffer
	addr, stop := runMXOutput(t, &log1, "-spool", spool)
	disk := diskCert(t, spool)
	if disk.Subject.CommonName != "mx.example.test" {
		t.Errorf("certificate for %q, want mx.example.test", disk.Subject.CommonName)
	}
	for _, name := range []string{"mx.example.test", "localhost", "127.0.0.1", "::1"} {
		if err := disk.VerifyHostname(name); err != nil {
			t.Errorf("certificate: %v", err)
		}
	}
	for _, name := range []string{"mx.example.test", "localhost", "127.0.0.1"} {
		if got := startTLS(t, addr, name, disk); !got.Equal(disk) {
			t.Errorf("STARTTLS as %s: the server showed a certificate that is not the one on disk", name)
		}
	}
	if n := strings.Count(log1.String(), "self-signed certificate"); n != 1 {
		t.Errorf("%d log lines about the self-signed certificate, want 1:\n%s", n, log1.String())
	}
	if !strings.Contains(log1.String(), "a new self-signed certificate") || !strings.Contains(log1.String(), filepath.Join(spool, selfSignedFile)) {
		t.Errorf("log does not say a certificate was made, and where:\n%s", log1.String())
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	var log2 lockedBuffer
	addr, _ = runMXOutput(t, &log2, "-spool", spool)
	if again := diskCert(t, spool); !again.Equal(disk) {
		t.Fatal("the restarted MX replaced the certificate on disk")
	}
	if got := startTLS(t, addr, "mx.example.test", disk); !got.Equal(disk) {
		t.Error("after a restart the server showed another certificate")
	}
	if !strings.Contains(log2.String(), "offers the self-signed certificate in the spool folder") {
		t.Errorf("log after restart does not say the certificate was reused:\n%s", log2.String())
	}
}

// TestUserConfigNoAutoTLS: a main.cf of the user's keeps Postfix's
// semantics: no certificate named, no STARTTLS, even at level may, and
// nothing written to the spool folder.
func TestUserConfigNoAutoTLS(t *testing.T) {
	for _, level := range []string{"", "smtpd_tls_security_level = may\n"} {
		cf := writeConfig(t, "compatibility_level = 3.6\nmyhostname = mx.example.test\nmydestination =\n"+
			"relay_domains = example.test\nsmtpd_peername_lookup = no\n"+level)
		addr, spool := startMX(t, "-config", cf)
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.example.org"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("STARTTLS"); ok {
			t.Errorf("%q: EHLO offers STARTTLS without a certificate in main.cf", level)
		}
		c.Close()
		if _, err := os.Stat(filepath.Join(spool, selfSignedFile)); err == nil {
			t.Errorf("%q: the MX made a certificate for a user's main.cf", level)
		}
	}
}

// TestAutoTLSLeavesConfiguredCertificates: autoTLS makes nothing when
// STARTTLS is off or the configuration names a certificate.
func TestAutoTLSLeavesConfiguredCertificates(t *testing.T) {
	for _, cf := range []string{
		"smtpd_tls_security_level = none\n",
		"smtpd_tls_security_level = may\nsmtpd_tls_chain_files = /etc/mx/smtpd.pem\n",
		"smtpd_tls_security_level = may\nsmtpd_tls_cert_file = /etc/mx/cert.pem\n",
		"smtpd_tls_security_level = encrypt\nsmtpd_tls_eccert_file = /etc/mx/cert.pem\n",
	} {
		cfg, err := postfixconf.Parse(strings.NewReader("myhostname = mx.example.test\n"+cf), "main.cf")
		if err != nil {
			t.Fatal(err)
		}
		spool := t.TempDir()
		over, err := autoTLS(cfg, spool, time.Now(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(spool, selfSignedFile)); err == nil {
			t.Errorf("%q: a self-signed certificate was made", cf)
		}
		if p, _ := cfg.Param("smtpd_tls_chain_files"); p.File == "" && p.Raw != "" {
			t.Errorf("%q: smtpd_tls_chain_files set to %q", cf, p.Raw)
		}
		if over != nil {
			t.Errorf("%q: overrides %q", cf, over)
		}
	}
}

// TestSelfSignedReplaced: a certificate file that does not fit (another
// host name, expiring, not a certificate) is replaced; one that fits is
// kept.
func TestSelfSignedReplaced(t *testing.T) {
	now := time.Now()
	path := filepath.Join(t.TempDir(), "sub", selfSignedFile)
	first, made, _, err := loadOrMakeCert(path, "mx.example.test", now)
	if err != nil || !made {
		t.Fatalf("first start: made %v, %v", made, err)
	}
	if c, made, _, err := loadOrMakeCert(path, "mx.example.test", now.Add(300*24*time.Hour)); err != nil || made || !c.Equal(first) {
		t.Fatalf("300 days later: made %v, %v, same %v", made, err, c.Equal(first))
	}
	for _, tt := range []struct {
		name string
		host string
		at   time.Time
		file []byte
		why  string
	}{
		{"expiring", "mx.example.test", now.Add(340 * 24 * time.Hour), nil, "valid "},
		{"other host", "mx2.example.test", now, nil, "not for mx2.example.test"},
		{"garbage", "mx.example.test", now, []byte("not a PEM file\n"), "unreadable"},
	} {
		if tt.file != nil {
			if err := os.WriteFile(path, tt.file, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c, made, why, err := loadOrMakeCert(path, tt.host, tt.at)
		if err != nil || !made || !strings.HasPrefix(why, tt.why) {
			t.Errorf("%s: made %v, why %q, %v; want a new certificate because %q", tt.name, made, why, err, tt.why)
			continue
		}
		if err := c.VerifyHostname(tt.host); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

// swaksTLS returns the path of a swaks that can do STARTTLS.
func swaksTLS() (string, error) {
	path, err := exec.LookPath("swaks")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, "--support").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("swaks --support: %w: %s", err, out)
	}
	if !strings.Contains(string(out), "TLS supported") {
		return "", errors.New("swaks cannot do TLS (Debian: apt-get install libnet-ssleay-perl)")
	}
	return path, nil
}

// TestSwaksSTARTTLS runs "swaks -tls" against the MX with the built-in
// configuration: STARTTLS, verified against the certificate on disk,
// then a message accepted.
func TestSwaksSTARTTLS(t *testing.T) {
	swaks, err := swaksTLS()
	testproc.Require(t, "swaks with TLS", err)
	addr, spool := startMX(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, swaks, "--server", host, "--port", port, "--helo", "client.example.org",
		"--from", "you@example.org", "--to", "alice@example.test", "-tls",
		"--tls-verify", "--tls-ca-path", filepath.Join(spool, selfSignedFile))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	for _, want := range []string{
		"<-  220 mx.example.test ESMTP mxkit\n",
		"<-  250-STARTTLS\n",
		"<-  220 2.0.0 Ready to start TLS\n",
		"=== TLS started with cipher TLSv1.3",
		"CN=mx.example.test",
		"<~  250 2.0.0 Ok: queued as ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("swaks output lacks %q:\n%s", want, out)
		}
	}
}
