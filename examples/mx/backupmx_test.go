package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/postfixconf"
	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/internal/testpostfix"
)

// freePortOn2 returns a port free on both 127.0.0.1 and 127.0.0.2: the
// primary and the backup listen on the same port at their own addresses,
// as two MX hosts do on port 25.
func freePortOn2(t *testing.T) string {
	t.Helper()
	for range 50 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := port(l1.Addr().String())
		l2, err := net.Listen("tcp", "127.0.0.2:"+p)
		l1.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return ""
}

// TestBackupMX runs examples/mx as the backup MX of backup-mx.cf in front
// of a real Postfix primary that is down, then comes back. The backup
// takes only the primary's recipients, queues while the primary is down
// (never delivering to itself: self-truncation by its own address and
// port), delivers at the first retry after the primary is back, and at
// once when the primary sends ETRN.
func TestBackupMX(t *testing.T) {
	addr, spool, p := startBackupMX(t, "")
	testBackupMX(t, addr, spool, p)
}

// TestBackupMXRetry: with a short retry time the backup delivers at the
// first retry after the primary comes back, without ETRN.
func TestBackupMXRetry(t *testing.T) {
	addr, spool, p := startBackupMX(t, "minimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n")
	sendBackup(t, addr, "retry-1", "bob@example.test")
	waitUntil(t, "the deferral", func() bool { return strings.Contains(queueList(t, spool), "connect to mx1.example.test[127.0.0.1]:"+p) })
	primary := testpostfix.Start(t, testpostfix.Options{Listen: "127.0.0.1:" + p, MainCF: "relay_domains = example.test\n"})
	waitUntil(t, "the primary to receive the message", func() bool {
		return strings.Contains(primary.Log(), "message-id=<retry-1@client.example.org>")
	})
	waitUntil(t, "the queue to empty", func() bool { return strings.Contains(queueList(t, spool), "Mail queue is empty") })
}

// startBackupMX starts examples/mx with backup-mx.cf (plus extra lines)
// on 127.0.0.2 and returns its address, spool and the primary's port.
func startBackupMX(t *testing.T, extra string) (addr, spool, p string) {
	t.Helper()
	testpostfix.Require(t)
	p = freePortOn2(t)
	zone := testdns.Start(t, testdns.Zone{Records: []string{
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 30 mx3.example.test.",
		"mx1.example.test. 300 IN A 127.0.0.1",
		"mx2.example.test. 300 IN A 127.0.0.2",
		"mx3.example.test. 300 IN A 127.0.0.3",        // never tried: it is after us
		"example.org. 300 IN MX 10 mail.example.org.", // the sender's domain exists
		"mail.example.org. 300 IN A 127.0.0.4",
	}})
	text, err := os.ReadFile("backup-mx.cf")
	if err != nil {
		t.Fatal(err)
	}
	// The shipped file, as it is, with the test's addresses and a route
	// to the primary's test port (an MX lookup on that port: smtp(8)'s
	// "domain:port" next hop).
	cfg := string(text) + fmt.Sprintf(`
inet_interfaces = 127.0.0.2
mynetworks = 127.0.0.1/32
smtpd_peername_lookup = no
transport_maps = inline:{ example.test=relay:example.test:%s }
`, p) + extra
	if _, err := postfixconf.Parse(strings.NewReader(cfg), "backup-mx.cf"); err != nil {
		t.Fatal(err)
	}
	addr, spool = startMX(t, "-config", writeConfig(t, cfg), "-listen", "127.0.0.2:"+p, "-resolver", zone.Addr)
	return addr, spool, p
}

// sendBackup sends one message from 127.0.0.9 (outside mynetworks) and
// returns the replies.
func sendBackup(t *testing.T, addr, id, rcpt string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := smtpdialog.Run(ctx, addr, "127.0.0.9", []string{"EHLO client.example.org", "MAIL FROM:<sender@example.org>",
		"RCPT TO:<" + rcpt + ">", "DATA", "DATA-BODY:Message-ID: <" + id + "@client.example.org>\r\nSubject: " + id + "\r\n\r\nHello.\r\n", "QUIT"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range r {
		out = append(out, x.String())
	}
	return out
}

func testBackupMX(t *testing.T, addr, spool, p string) {
	send := func(id, rcpt string) []string { return sendBackup(t, addr, id, rcpt) }
	// Only the primary's recipients, and never relaying.
	if r := rcptReply(t, addr, "127.0.0.9", "<nobody@example.test>"); r != "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in relay recipient table" {
		t.Errorf("unknown recipient: %q", r)
	}
	if r := rcptReply(t, addr, "127.0.0.9", "<u@elsewhere.example>"); r != "554 5.7.1 <u@elsewhere.example>: Relay access denied" {
		t.Errorf("relay: %q", r)
	}
	if r := send("while-down", "alice@example.test"); !strings.HasPrefix(r[5], "250 2.0.0 Ok: queued as ") {
		t.Fatalf("accept while the primary is down: %q", r)
	}
	// Deferred, naming the primary only: never us, never mx3.
	var listing string
	waitUntil(t, "the deferral", func() bool {
		listing = queueList(t, spool)
		return strings.Contains(listing, "connect to mx1.example.test[127.0.0.1]:"+p)
	})
	if strings.Contains(listing, "127.0.0.2") || strings.Contains(listing, "127.0.0.3") || strings.Contains(listing, "loops back") {
		t.Errorf("the backup tried itself or an MX after it:\n%s", listing)
	}

	// The primary comes back; ETRN from it flushes the queue at once,
	// well before the 300 s retry.
	primary := testpostfix.Start(t, testpostfix.Options{Listen: "127.0.0.1:" + p, MainCF: "relay_domains = example.test\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := smtpdialog.Run(ctx, addr, "127.0.0.1", []string{"EHLO mx1.example.test", "ETRN example.test"})
	if err != nil || r[2].String() != "250 Queuing started" {
		t.Fatalf("ETRN: %v, %v", r, err)
	}
	waitUntil(t, "the primary to receive the message", func() bool {
		log := primary.Log()
		return strings.Contains(log, "message-id=<while-down@client.example.org>") && strings.Contains(log, "to=<alice@example.test>")
	})
	waitUntil(t, "the queue to empty", func() bool { return strings.Contains(queueList(t, spool), "Mail queue is empty") })
}

// waitUntil polls cond for up to 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitForMail polls the Maildir folder box for up to 30 s until a message
// containing substr lands there, and returns that message as stored.
func waitForMail(t *testing.T, box, what, substr string) string {
	t.Helper()
	var msg string
	waitUntil(t, what, func() bool {
		files, _ := os.ReadDir(box)
		for _, f := range files {
			if b, _ := os.ReadFile(filepath.Join(box, f.Name())); strings.Contains(string(b), substr) {
				msg = string(b)
				return true
			}
		}
		return false
	})
	return msg
}

// queueList is "mx queue list" for the spool.
func queueList(t *testing.T, spool string) string {
	t.Helper()
	var out bytes.Buffer
	if err := queueCommand(context.Background(), []string{"-spool", spool, "list"}, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}
