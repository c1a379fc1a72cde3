package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testcert"
	"github.com/mxkit/mxkit/internal/testpostfix"
	"github.com/mxkit/mxkit/internal/testproc"
)

// chainFile writes c's key and certificate into one PEM file, as
// smtpd_tls_chain_files wants them.
func chainFile(t *testing.T, dir, name string, c *testcert.Cert) string {
	t.Helper()
	key, err := c.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, append(key, c.PEM()...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServerTLSSeed runs the seed's smtpd_tls_* block (two chains, ECDSA
// and RSA; protocol floors; cipher exclusions; eecdh grade ultra; CA file;
// session cache; the Received header clause) against real clients:
// openssl s_client picks each chain by its signature algorithms and is
// refused below the protocol floor, and a real Postfix delivers to us with
// smtp_tls_security_level = encrypt; the message's Received header says
// how.
func TestServerTLSSeed(t *testing.T) {
	_, err := exec.LookPath("openssl")
	testproc.Require(t, "openssl", err)
	testpostfix.Require(t)
	dir := t.TempDir()
	now := time.Now()
	ecdsaCert, err := testcert.Issue("mx.example.test", []string{"mx.example.test"}, nil, false, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rsaCert, err := testcert.IssueRSA("mx-rsa.example.test", []string{"mx.example.test"}, nil, false, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, ecdsaCert.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`
compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = example.test
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = inline:{ example.test=maildir:mailboxes }
smtpd_tls_security_level = may
smtpd_tls_chain_files = %s, %s
smtp_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1
smtp_tls_exclude_ciphers = aNULL, eNULL, EXPORT, RC4, DES, SSLv2, MD5
smtpd_tls_protocols = $smtp_tls_protocols
smtpd_tls_ciphers = medium
smtpd_tls_exclude_ciphers = $smtp_tls_exclude_ciphers, SHA1
smtpd_tls_eecdh_grade = ultra
smtpd_tls_CAfile = %s
smtpd_tls_dh1024_param_file = /etc/ssl/dhe_groups/ffdhe4096.pem
smtpd_tls_session_cache_database = btree:${data_directory}/smtpd_scache
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
`, chainFile(t, dir, "ecdsa.pem", ecdsaCert), chainFile(t, dir, "rsa.pem", rsaCert), ca)
	addr, spool := startMX(t, "-config", writeConfig(t, config))

	sclient := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "openssl", append([]string{"s_client", "-starttls", "smtp", "-connect", addr, "-name", "client.example.org", "-brief"}, args...)...)
		cmd.Stdin = strings.NewReader("QUIT\r\n")
		out, _ := cmd.CombinedOutput()
		return string(out)
	}
	// The chain that fits the client's signature algorithms.
	if out := sclient("-tls1_2", "-sigalgs", "RSA+SHA256"); !strings.Contains(out, "mx-rsa.example.test") {
		t.Errorf("RSA-only client did not get the RSA chain:\n%s", out)
	}
	if out := sclient("-tls1_2", "-sigalgs", "ECDSA+SHA256"); !strings.Contains(out, "CN = mx.example.test") || strings.Contains(out, "mx-rsa") {
		t.Errorf("ECDSA client did not get the ECDSA chain:\n%s", out)
	}
	// The protocol floor (smtpd_tls_protocols without TLSv1, TLSv1.1).
	if out := sclient("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"); strings.Contains(out, "Protocol version: TLSv1.1") {
		t.Errorf("TLS 1.1 accepted:\n%s", out)
	}
	// SHA1 excluded: a TLS 1.2 client offering only CBC-SHA suites fails.
	if out := sclient("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"); strings.Contains(out, "Ciphersuite: ECDHE-ECDSA-AES128-SHA") {
		t.Errorf("an excluded SHA1 suite was negotiated:\n%s", out)
	}
	// eecdh grade ultra: P-384.
	if out := sclient("-tls1_3"); !strings.Contains(out, "secp384r1") && !strings.Contains(out, "P-384") {
		t.Errorf("key exchange is not P-384:\n%s", out)
	}

	// A real Postfix delivers to us with smtp_tls_security_level = encrypt.
	pf := testpostfix.Start(t, testpostfix.Options{
		MainCF: "relayhost = [" + strings.Replace(addr, ":", "]:", 1) + "\ndefault_transport = smtp\nrelay_transport = smtp\n" +
			"smtp_tls_security_level = encrypt\nsmtp_tls_loglevel = 1\n",
		// The harness has no smtp client; this one only reaches our MX
		// on loopback (relayhost).
		MasterCF: "smtp unix - - n - - smtp\ntlsmgr unix - - n 1000? 1 tlsmgr\n",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := smtpdialog.Run(ctx, pf.Addr, "127.0.0.1", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org>",
		"RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Message-ID: <tls-1@client.example.org>\r\nSubject: tls\r\n\r\nHello.\r\n", "QUIT"})
	if err != nil || !strings.HasPrefix(r[len(r)-2].String(), "250 ") {
		t.Fatalf("Postfix did not take the message: %v %v", r, err)
	}
	box := filepath.Join(spool, "mailboxes", "example.test", "alice", "new")
	msg := waitForMail(t, box, "the message from Postfix", "tls-1@client.example.org")
	log := pf.Log()
	if !strings.Contains(log, "TLS connection established to 127.0.0.1[127.0.0.1]:") || !strings.Contains(log, "status=sent") {
		t.Errorf("Postfix's log lacks the TLS session or the delivery:\n%s", log)
	}
	for _, want := range []string{"with ESMTPS id", "(using TLSv1.3 with cipher TLS_", "key-exchange", "(No client certificate requested)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}
