package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testpostfix"
)

// TestRelayToRealPostfix runs examples/mx in front of real Postfix
// programs: a Postfix smtpd as the SMTP next hop for example.test (it
// rejects nobody@example.test with 550), smtp-sink speaking LMTP for
// lmtp.test, and a dead LMTP port for dead.test. The sender's domain
// home.test is delivered into a Maildir, where the notifications land:
// a failure DSN for Postfix's 550 and, with delay_warning_time set, a
// delay warning for the dead destination.
func TestRelayToRealPostfix(t *testing.T) {
	pf := testpostfix.Start(t, testpostfix.Options{MainCF: `
relay_domains = example.test
smtpd_recipient_restrictions = check_recipient_access inline:{ {nobody@example.test = 550 5.1.1 User unknown} }, permit_mynetworks, reject_unauth_destination
`})
	sink := testpostfix.StartSink(t, testpostfix.SinkOptions{LMTP: true, Dump: true})
	config := fmt.Sprintf(`
compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
relay_domains = example.test, lmtp.test, dead.test, home.test
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = inline:{ example.test=smtp:[127.0.0.1]:%s, lmtp.test=lmtp:inet:127.0.0.1:%s, dead.test=lmtp:inet:127.0.0.1:1, home.test=maildir:mailboxes }
delay_warning_time = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 1s
`, port(pf.Addr), port(sink.Addr))
	addr, spool := startMX(t, "-config", writeConfig(t, config))

	send := func(id string, rcpts ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmds := []string{"EHLO client.example.org", "MAIL FROM:<sender@home.test>"}
		for _, r := range rcpts {
			cmds = append(cmds, "RCPT TO:<"+r+">")
		}
		cmds = append(cmds, "DATA", "DATA-BODY:Message-ID: <"+id+"@client.example.org>\r\nSubject: "+id+"\r\n\r\nHello.\r\n", "QUIT")
		replies, err := smtpdialog.Run(ctx, addr, "127.0.0.1", cmds)
		if err != nil {
			t.Fatal(err)
		}
		if got := replies[len(replies)-2].String(); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") {
			t.Fatalf("%s: end of DATA: %q", id, got)
		}
	}
	send("smtp-1", "alice@example.test", "nobody@example.test")
	send("lmtp-1", "bob@lmtp.test")
	send("late-1", "carol@dead.test")

	// SMTP: Postfix accepted alice (its log has our Message-ID and the
	// recipient) and refused nobody.
	waitUntil(t, "Postfix to receive smtp-1", func() bool {
		log := pf.Log()
		return strings.Contains(log, "message-id=<smtp-1@client.example.org>") && strings.Contains(log, "to=<alice@example.test>")
	})
	if log := pf.Log(); !strings.Contains(log, "reject: RCPT from unknown[127.0.0.1]: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown") {
		t.Errorf("Postfix log lacks the rejection of nobody@example.test:\n%s", log)
	}
	// LMTP: smtp-sink got the message with its envelope.
	waitUntil(t, "smtp-sink to receive lmtp-1", func() bool {
		for _, m := range sink.Messages(t) {
			if strings.Contains(m, "Message-ID: <lmtp-1@client.example.org>") && strings.Contains(m, "bob@lmtp.test") {
				return true
			}
		}
		return false
	})
	// Notifications to sender@home.test.
	box := filepath.Join(spool, "mailboxes", "home.test", "sender", "new")
	failure := unfold(waitForMail(t, box, "a failure notification", "Action: failed"))
	delay := unfold(waitForMail(t, box, "a delay notification", "Action: delayed"))
	for _, want := range []string{
		"Subject: Undelivered Mail Returned to Sender",
		"Final-Recipient: rfc822; nobody@example.test",
		"Status: 5.1.1",
		"Remote-MTA: dns; [127.0.0.1]",
		"Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown",
		"Message-ID: <smtp-1@client.example.org>",
	} {
		if !strings.Contains(failure, want) {
			t.Errorf("failure notification lacks %q:\n%s", want, failure)
		}
	}
	if strings.Contains(failure, "Final-Recipient: rfc822; alice@example.test") {
		t.Errorf("failure notification lists the delivered recipient:\n%s", failure)
	}
	for _, want := range []string{
		"Final-Recipient: rfc822; carol@dead.test",
		"Status: 4.4.1",
		"Will-Retry-Until: ",
		"connect to [127.0.0.1]:1: Connection refused",
	} {
		if !strings.Contains(delay, want) {
			t.Errorf("delay notification lacks %q:\n%s", want, delay)
		}
	}
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// unfold joins folded header and report lines.
func unfold(s string) string {
	return strings.NewReplacer("\n\t", " ", "\n    ", " ", "\n ", " ").Replace(strings.ReplaceAll(s, "\r\n", "\n"))
}
