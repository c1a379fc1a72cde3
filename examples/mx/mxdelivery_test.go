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
	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/internal/testpostfix"
)

// TestDeliverByMX relays mail for outside domains from mynetworks by MX
// lookup, as the default smtp transport does. far.test's best MX refuses
// connections, so the message goes to the second, a real Postfix; a null
// MX and a domain that does not exist bounce at once with Postfix's
// texts, and the notifications land in the sender's Maildir.
func TestDeliverByMX(t *testing.T) {
	pf := testpostfix.Start(t, testpostfix.Options{MainCF: "relay_domains = far.test\n"})
	p := port(pf.Addr)
	zone := testdns.Start(t, testdns.Zone{Records: []string{
		"far.test. 300 IN MX 10 mx1.far.test.",
		"far.test. 300 IN MX 20 mx2.far.test.",
		"mx1.far.test. 300 IN A 127.0.0.3", // nothing listens there
		"mx2.far.test. 300 IN A 127.0.0.1",
		"null.test. 300 IN MX 0 .",
	}})
	config := fmt.Sprintf(`
compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
relay_domains = home.test
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_connect_timeout = 5s
transport_maps = inline:{ home.test=maildir:mailboxes, far.test=smtp:far.test:%s, null.test=smtp:null.test:%s, nowhere.test=smtp:nowhere.test:%s }
`, p, p, p)
	addr, spool := startMX(t, "-config", writeConfig(t, config), "-resolver", zone.Addr)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, addr, "127.0.0.1", []string{"EHLO client.example.org", "MAIL FROM:<sender@home.test>",
		"RCPT TO:<alice@far.test>", "RCPT TO:<bob@null.test>", "RCPT TO:<carol@nowhere.test>", "DATA",
		"DATA-BODY:Message-ID: <mx-1@client.example.org>\r\nSubject: by MX\r\n\r\nHello.\r\n", "QUIT"})
	if err != nil {
		t.Fatal(err)
	}
	if got := replies[len(replies)-2].String(); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") {
		t.Fatalf("end of DATA: %q", got)
	}
	waitUntil(t, "Postfix to receive the message", func() bool {
		log := pf.Log()
		return strings.Contains(log, "message-id=<mx-1@client.example.org>") && strings.Contains(log, "to=<alice@far.test>")
	})
	if zone.Queries("far.test", "MX") == 0 || zone.Queries("mx1.far.test", "A") == 0 {
		t.Error("no MX lookup for far.test")
	}
	box := filepath.Join(spool, "mailboxes", "home.test", "sender", "new")
	failure := unfold(waitForMail(t, box, "a failure notification", "Action: failed"))
	for _, want := range []string{
		"Final-Recipient: rfc822; bob@null.test",
		"Status: 5.1.0",
		"Domain null.test does not accept mail (nullMX)",
		"Final-Recipient: rfc822; carol@nowhere.test",
		"Status: 5.4.4",
		"Host or domain name not found. Name service error for name=nowhere.test type=AAAA: Host not found",
	} {
		if !strings.Contains(failure, want) {
			t.Errorf("failure notification lacks %q:\n%s", want, failure)
		}
	}
	if strings.Contains(failure, "alice@far.test") {
		t.Errorf("the delivered recipient is in the failure notification:\n%s", failure)
	}
}

// TestTLSRPTRecorded: with -tlsrpt, a delivery attempt that the TLS policy
// judged (here a table's "encrypt" for a next hop without STARTTLS) is
// kept for the day's report in SPOOL/tlsrpt, and survives a restart.
func TestTLSRPTRecorded(t *testing.T) {
	pf := testpostfix.Start(t, testpostfix.Options{MainCF: "relay_domains = rpt.test\n"})
	p := port(pf.Addr)
	zone := testdns.Start(t, testdns.Zone{Records: []string{
		"rpt.test. 300 IN MX 10 mx.rpt.test.",
		"mx.rpt.test. 300 IN A 127.0.0.1",
	}})
	config := fmt.Sprintf(`
compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
relay_domains = home.test
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = may
smtp_tls_policy_maps = inline:{ rpt.test:%s=encrypt }
transport_maps = inline:{ home.test=maildir:mailboxes, rpt.test=smtp:rpt.test:%s }
`, p, p)
	spool := t.TempDir()
	addr, stop := runMX(t, "-spool", spool, "-config", writeConfig(t, config), "-resolver", zone.Addr, "-tlsrpt")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := smtpdialog.Run(ctx, addr, "127.0.0.1", []string{"EHLO client.example.org", "MAIL FROM:<sender@home.test>",
		"RCPT TO:<alice@rpt.test>", "DATA", "DATA-BODY:Subject: rpt\r\n\r\nHello.\r\n", "QUIT"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the deferral", func() bool {
		return strings.Contains(queueList(t, spool), "TLS is required, but was not offered by host mx.rpt.test[127.0.0.1]")
	})
	if err := stop(); err != nil { // flushes the day's results
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(spool, "tlsrpt", "*"))
	var all string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all += string(b)
	}
	for _, want := range []string{"rpt.test", "starttls-not-supported", "mx.rpt.test", "127.0.0.1"} {
		if !strings.Contains(all, want) {
			t.Errorf("TLS-RPT store lacks %q: %v\n%s", want, files, all)
		}
	}
}
