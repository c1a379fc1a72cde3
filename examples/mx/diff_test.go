package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testcert"
	"github.com/mxkit/mxkit/internal/testpostfix"
)

// diffPolicy is the main.cf both servers get. $config_directory is the
// folder of each server's own main.cf.
const diffPolicy = `
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.1/32
relay_domains = example.test
relay_recipient_maps = texthash:$config_directory/relay_recipients
virtual_alias_maps = texthash:$config_directory/virtual
local_recipient_maps =
local_transport = error:local mail delivery is disabled
recipient_delimiter = +-
strict_rfc821_envelopes = yes
smtpd_helo_required = yes
message_size_limit = 1000000
smtpd_client_restrictions = check_client_access cidr:$config_directory/clients.cidr
smtpd_helo_restrictions = permit_mynetworks, reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
smtpd_sender_restrictions = permit_mynetworks, reject_non_fqdn_sender,
    check_sender_access texthash:$config_directory/sender_access, reject_unlisted_sender
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_non_fqdn_recipient,
    check_recipient_access texthash:$config_directory/recipient_access
smtpd_data_restrictions = reject_multi_recipient_bounce
`

var diffFiles = map[string]string{
	"relay_recipients": "alice@example.test OK\nbob@example.test OK\nblocked@example.test OK\ndeferred@example.test OK\n",
	"virtual":          "info@example.test alice@example.test\n",
	"clients.cidr":     "127.0.0.66/32 REJECT no mail from this host\n127.0.0.67/32 450 4.7.1 come back later\n",
	"sender_access":    "spammer@example.org REJECT go away\nbad.example 550 5.1.1 no thanks\nwarned@example.org WARN noted\n",
	"recipient_access": "blocked@example.test 554 5.7.1 blocked here\ndeferred@example.test DEFER try later\nbob@example.test DEFER_IF_PERMIT 4.1.1 maybe later\n",
}

type dialogue struct {
	name   string
	client string // source address, 127.0.0.x
	script []string
}

func helo(lines ...string) []string {
	return append([]string{"EHLO client.example.org", "MAIL FROM:<sender@example.org>"}, lines...)
}

var dialogues = []dialogue{
	{"relay denied", "127.0.0.2", helo("RCPT TO:<u@elsewhere.example>")},
	{"valid recipient", "127.0.0.2", helo("RCPT TO:<alice@example.test>")},
	{"unknown recipient", "127.0.0.2", helo("RCPT TO:<mallory@example.test>")},
	{"virtual alias", "127.0.0.2", helo("RCPT TO:<info@example.test>")},
	{"plus extension", "127.0.0.3", helo("RCPT TO:<alice+news@example.test>")},
	{"minus extension", "127.0.0.3", helo("RCPT TO:<alice-news@example.test>")},
	{"upper case", "127.0.0.3", helo("RCPT TO:<ALICE@EXAMPLE.TEST>")},
	{"trailing dot", "127.0.0.3", helo("RCPT TO:<alice@example.test.>")},
	{"percent hack", "127.0.0.4", helo("RCPT TO:<u%elsewhere.example@example.test>")},
	{"bang path", "127.0.0.4", helo("RCPT TO:<elsewhere.example!u@example.test>")},
	{"quoted at", "127.0.0.4", helo(`RCPT TO:<"u@elsewhere.example"@example.test>`)},
	{"source route", "127.0.0.4", helo("RCPT TO:<@example.test:u@elsewhere.example>")},
	{"own address literal", "127.0.0.5", helo("RCPT TO:<u@[127.0.0.1]>")},
	{"foreign address literal", "127.0.0.5", helo("RCPT TO:<u@[192.0.2.1]>")},
	{"bare postmaster", "127.0.0.5", helo("RCPT TO:<postmaster>")},
	{"subdomain of relay domain", "127.0.0.5", helo("RCPT TO:<alice@sub.example.test>")},
	{"non-fqdn recipient", "127.0.0.6", helo("RCPT TO:<alice@example>")},
	{"non-fqdn helo", "127.0.0.6", []string{"EHLO client", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}},
	{"invalid helo", "127.0.0.6", []string{"EHLO a..b", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}},
	{"invalid helo literal", "127.0.0.6", []string{"EHLO [1.2.3]", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>"}},
	{"HELO session", "127.0.0.7", []string{"HELO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "RSET", "NOOP"}},
	{"MAIL before HELO", "127.0.0.7", []string{"MAIL FROM:<sender@example.org>"}},
	{"RCPT before MAIL", "127.0.0.7", []string{"EHLO client.example.org", "RCPT TO:<alice@example.test>"}},
	{"DATA before RCPT", "127.0.0.7", helo("DATA")},
	{"nested MAIL", "127.0.0.8", helo("MAIL FROM:<other@example.org>")},
	{"unknown command", "127.0.0.8", []string{"EHLO client.example.org", "FROB"}},
	{"sender without brackets", "127.0.0.8", []string{"EHLO client.example.org", "MAIL FROM:sender@example.org"}},
	{"recipient without brackets", "127.0.0.8", helo("RCPT TO:alice@example.test")},
	{"size too big", "127.0.0.9", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org> SIZE=2000000"}},
	{"non-fqdn sender", "127.0.0.9", []string{"EHLO client.example.org", "MAIL FROM:<sender@example>", "RCPT TO:<alice@example.test>"}},
	{"unlisted sender", "127.0.0.9", []string{"EHLO client.example.org", "MAIL FROM:<nobody@example.test>", "RCPT TO:<alice@example.test>"}},
	{"sender access reject", "127.0.0.10", []string{"EHLO client.example.org", "MAIL FROM:<spammer@example.org>", "RCPT TO:<alice@example.test>"}},
	{"sender access code with DSN fix", "127.0.0.10", []string{"EHLO client.example.org", "MAIL FROM:<x@sub.bad.example>", "RCPT TO:<alice@example.test>"}},
	{"sender access warn", "127.0.0.10", []string{"EHLO client.example.org", "MAIL FROM:<warned@example.org>", "RCPT TO:<alice@example.test>"}},
	{"recipient access reject", "127.0.0.11", helo("RCPT TO:<blocked@example.test>")},
	{"recipient access defer", "127.0.0.11", helo("RCPT TO:<deferred@example.test>")},
	{"recipient defer_if_permit", "127.0.0.11", helo("RCPT TO:<bob@example.test>")},
	{"client access reject", "127.0.0.66", helo("RCPT TO:<alice@example.test>")},
	{"client access 450", "127.0.0.67", helo("RCPT TO:<alice@example.test>")},
	{"multi-recipient bounce", "127.0.0.12", []string{"EHLO client.example.org", "MAIL FROM:<>", "RCPT TO:<alice@example.test>", "RCPT TO:<info@example.test>", "DATA"}},
	{"no valid recipients", "127.0.0.12", helo("RCPT TO:<mallory@example.test>", "DATA")},
	{"message accepted", "127.0.0.12", helo("RCPT TO:<alice@example.test>", "DATA", "DATA-BODY:Subject: test\r\n\r\nHello.\r\n", "QUIT")},
	{"mynetworks relays", "127.0.0.1", helo("RCPT TO:<u@elsewhere.example>")},
	{"mynetworks skips helo checks", "127.0.0.1", []string{"EHLO client", "MAIL FROM:<nobody@example.test>", "RCPT TO:<u@elsewhere.example>"}},
	{"mynetworks non-fqdn recipient", "127.0.0.1", helo("RCPT TO:<u@elsewhere>")},
	{"VRFY valid", "127.0.0.14", []string{"EHLO client.example.org", "VRFY alice@example.test", "VRFY <bob@example.test>"}},
	{"VRFY unknown", "127.0.0.14", []string{"EHLO client.example.org", "VRFY mallory@example.test"}},
	{"VRFY relay denied", "127.0.0.14", []string{"EHLO client.example.org", "VRFY u@elsewhere.example"}},
	{"VRFY recipient access", "127.0.0.14", []string{"EHLO client.example.org", "VRFY blocked@example.test", "VRFY deferred@example.test"}},
	{"VRFY postmaster and alias", "127.0.0.14", []string{"EHLO client.example.org", "VRFY postmaster", "VRFY info@example.test"}},
	{"VRFY before HELO", "127.0.0.14", []string{"VRFY alice@example.test"}},
	{"VRFY bad syntax", "127.0.0.14", []string{"EHLO client.example.org", "VRFY <>", "VRFY"}},
	{"VRFY rejected client", "127.0.0.66", []string{"EHLO client.example.org", "VRFY alice@example.test"}},
	{"VRFY inside a transaction", "127.0.0.14", helo("VRFY mallory@example.test", "RCPT TO:<alice@example.test>", "DATA")},
	{"VRFY from mynetworks", "127.0.0.1", []string{"EHLO client.example.org", "VRFY u@elsewhere.example"}},
	{"ETRN before HELO", "127.0.0.15", []string{"ETRN example.test"}},
	{"ETRN", "127.0.0.15", []string{"EHLO client.example.org", "ETRN", "ETRN example.test", "ETRN elsewhere.example", "ETRN @example.test", "ETRN #example.test", "ETRN sub.example.test"}},
	{"ETRN in a transaction", "127.0.0.15", helo("ETRN example.test")},
	{"RSET and again", "127.0.0.13", helo("RCPT TO:<alice@example.test>", "RSET", "MAIL FROM:<sender@example.org>", "RCPT TO:<u@elsewhere.example>")},
}

// TestDifferentialPostfix gives one main.cf to a real Postfix and to this
// MX and plays the same dialogues against both: every reply must have the
// same code and enhanced status code.
func TestDifferentialPostfix(t *testing.T) {
	testpostfix.Require(t)
	pf := testpostfix.Start(t, testpostfix.Options{MainCF: diffPolicy, Files: diffFiles})

	dir := t.TempDir()
	cf := "compatibility_level = 3.6\ninet_interfaces = 127.0.0.1\nsmtpd_banner = $myhostname ESMTP\nsmtpd_peername_lookup = no\n" + diffPolicy
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(cf), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range diffFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ours, _ := startMX(t, "-config", filepath.Join(dir, "main.cf"))

	mismatches := 0
	for _, d := range dialogues {
		want := play(t, pf.Addr, d)
		got := play(t, ours, d)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			mismatches++
			t.Errorf("%s (from %s):\n postfix %q\n mxkit   %q", d.name, d.client, want, got)
		}
	}
	t.Logf("%d dialogues, Postfix %s, %d mismatches", len(dialogues), pf.Version, mismatches)
	if mismatches > 0 {
		t.Log(pf.Log())
	}
}

// play runs a dialogue and returns "code enhanced" for each reply after
// the greeting. The greeting is left out: its text is smtpd_banner, and
// mxkit's default mail_name is "mxkit" where Postfix's is "Postfix".
func play(t *testing.T, addr string, d dialogue) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, addr, d.client, d.script)
	if err != nil {
		t.Fatalf("%s against %s: %v (replies so far %v)", d.name, addr, err, replies)
	}
	var out []string
	for i, r := range replies {
		if i == 0 {
			continue
		}
		out = append(out, fmt.Sprintf("%s→%d %s", d.script[i-1], r.Code, r.Enhanced))
	}
	return out
}

// TestDifferentialPostfixEncrypt: with smtpd_tls_security_level =
// encrypt, Postfix and this MX answer the same to a client that does not
// use STARTTLS.
func TestDifferentialPostfixEncrypt(t *testing.T) {
	testpostfix.Require(t)
	cert, err := testcert.Issue("mx.example.test", []string{"mx.example.test"}, nil, false, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, err := cert.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"cert.pem": string(cert.PEM()), "key.pem": string(key)}
	for k, v := range diffFiles {
		files[k] = v
	}
	tlsCF := "smtpd_tls_security_level = encrypt\nsmtpd_tls_cert_file = $config_directory/cert.pem\nsmtpd_tls_key_file = $config_directory/key.pem\n"
	pf := testpostfix.Start(t, testpostfix.Options{MainCF: diffPolicy + tlsCF, Files: files})
	dir := t.TempDir()
	cf := "compatibility_level = 3.6\ninet_interfaces = 127.0.0.1\nsmtpd_banner = $myhostname ESMTP\nsmtpd_peername_lookup = no\n" + diffPolicy + tlsCF
	files["main.cf"] = cf
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ours, _ := startMX(t, "-config", filepath.Join(dir, "main.cf"))
	for _, d := range []dialogue{
		{"transaction without STARTTLS", "127.0.0.2", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org>", "RCPT TO:<alice@example.test>", "DATA", "VRFY alice@example.test", "NOOP", "RSET", "AUTH PLAIN AGFiAGM=", "BDAT 5 LAST", "QUIT"}},
		{"HELO then MAIL", "127.0.0.1", []string{"HELO client.example.org", "MAIL FROM:<sender@example.org>"}},
		{"MAIL before HELO", "127.0.0.3", []string{"MAIL FROM:<sender@example.org>"}},
		{"rejected client", "127.0.0.66", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org>"}},
	} {
		want := play(t, pf.Addr, d)
		got := play(t, ours, d)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s (from %s):\n postfix %q\n mxkit   %q", d.name, d.client, want, got)
		}
	}
}
