package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testdns"
)

// runMX runs the example in-process on a free loopback port with args
// and returns its address and stop, which ends it and returns what run
// returned. stop also runs at cleanup (reporting an error there); calling
// it again returns the same result.
func runMX(t testing.TB, args ...string) (addr string, stop func() error) {
	t.Helper()
	return runMXOutput(t, io.Discard, args...)
}

// runMXOutput is runMX with the example's output (its log) going to out,
// which must be safe for concurrent use.
func runMXOutput(t testing.TB, out io.Writer, args ...string) (addr string, stop func() error) {
	t.Helper()
	if !slices.Contains(args, "-resolver") {
		// Tests never ask the machine's resolver: an empty in-process
		// zone answers NXDOMAIN to every DNS check and MX lookup.
		args = append([]string{"-resolver", testdns.Start(t, testdns.Zone{}).Addr}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), out, ready)
	}()
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("mx did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("mx did not start within 10s")
	}
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("mx: %v", err)
		}
	})
	return addr, stop
}

// startMX runs the example with a spool folder of its own.
func startMX(t testing.TB, args ...string) (addr, spool string) {
	t.Helper()
	spool = t.TempDir()
	addr, _ = runMX(t, append([]string{"-spool", spool}, args...)...)
	return addr, spool
}

// writeConfig writes text as main.cf in a new temporary folder and
// returns its path.
func writeConfig(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "main.cf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// rcptReply sends HELO, MAIL and RCPT from the local address and returns
// the RCPT reply line.
func rcptReply(t *testing.T, addr, local, to string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, addr, local, []string{
		"EHLO client.example.org",
		"MAIL FROM:<sender@example.org>",
		"RCPT TO:" + to,
		"QUIT",
	})
	if err != nil {
		t.Fatalf("dialogue from %s: %v", local, err)
	}
	// greeting, EHLO, MAIL, RCPT, QUIT
	if len(replies) < 4 {
		t.Fatalf("dialogue from %s: %d replies", local, len(replies))
	}
	return replies[3].String()
}

const endToEndConfig = `
compatibility_level = 3.6
myhostname = mx.example.test
mydestination =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
relay_domains = example.test
relay_recipient_maps = texthash:relay_recipients
local_recipient_maps =
local_transport = error:local mail delivery is disabled
recipient_delimiter = +
smtpd_helo_required = yes
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_non_fqdn_recipient
`

// TestNoAddressFormRelays talks raw SMTP to the example from several
// 127.0.0.x addresses outside mynetworks: no address form may relay, and
// valid recipients are accepted.
func TestNoAddressFormRelays(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte(endToEndConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "relay_recipients"), []byte("alice@example.test OK\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, _ := startMX(t, "-config", filepath.Join(dir, "main.cf"))

	refused := []string{
		"<u@elsewhere.example>",
		"<U@ELSEWHERE.EXAMPLE>",
		"<u@elsewhere.example.>",
		"<u%elsewhere.example@example.test>",
		"<u!elsewhere.example@example.test>",
		"<elsewhere.example!u@example.test>",
		`<"u@elsewhere.example"@example.test>`,
		`<"u%elsewhere.example"@example.test>`,
		"<@example.test:u@elsewhere.example>",
		"<@example.test,@mx.example.test:u@elsewhere.example>",
		"<u@[192.0.2.1]>",
		"<u@[IPv6:2001:db8::1]>",
		"<u%elsewhere.example@[127.0.0.1]>",
		"<elsewhere.example!u@[127.0.0.1]>",
		"<u@example.test.elsewhere.example>",
		"<u@xexample.test>",
		"<alice@example.test@elsewhere.example>",
		"u@elsewhere.example",
		"<u@elsewhere.example> NOTIFY=NEVER",
		// Forms Postfix's RFC 822 parser takes even under
		// strict_rfc821_envelopes: the relay checks must refuse them.
		"< u@elsewhere.example >",
		"<u @ elsewhere.example>",
		"<<u@elsewhere.example>>",
		"<u@elsewhere.example@example.test>",
		"<u@elsewhere.example.@example.test>",
		"< u % elsewhere.example @ example.test >",
		"<elsewhere.example!u>",
		"<u%elsewhere.example>",
		"<u@elsewhere.example@>",
		`<"u@elsewhere.example">`,
		`<"u%elsewhere.example">`,
		`<u\@elsewhere.example@example.test>`,
		"<@example.test:u%elsewhere.example@example.test>",
		"<u%elsewhere.example@example.test.>",
		"<u%elsewhere.example@EXAMPLE.TEST>",
		"<u@[127.0.0.1]@elsewhere.example>",
		"<elsewhere.example!u@[127.0.0.1]>",
	}
	for i, to := range refused {
		local := "127.0.0." + string(rune('2'+i%7))
		got := rcptReply(t, addr, local, to)
		if !strings.HasPrefix(got, "5") {
			t.Errorf("from %s RCPT TO:%s got %q, want a 5xx refusal", local, to, got)
		}
	}
	for _, tt := range []struct{ to, want string }{
		{"<alice@example.test>", "250 2.1.5 Ok"},
		{"<ALICE@Example.Test>", "250 2.1.5 Ok"},
		{"<alice+tag@example.test>", "250 2.1.5 Ok"},
		{"<alice@example.test.>", "250 2.1.5 Ok"},
		{"<postmaster>", "250 2.1.5 Ok"},
		{"<bob@example.test>", "550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown in relay recipient table"},
		{"<u@elsewhere.example>", "554 5.7.1 <u@elsewhere.example>: Relay access denied"},
		{"<u@[127.0.0.1]>", "550 5.1.1 <u@[127.0.0.1]>: Recipient address rejected: local mail delivery is disabled"},
	} {
		if got := rcptReply(t, addr, "127.0.0.9", tt.to); got != tt.want {
			t.Errorf("RCPT TO:%s got %q, want %q", tt.to, got, tt.want)
		}
	}
	// The trusted client relays.
	if got := rcptReply(t, addr, "127.0.0.1", "<u@elsewhere.example>"); got != "250 2.1.5 Ok" {
		t.Errorf("from mynetworks: %q", got)
	}
}

// TestDefaultConfigDelivers sends a message with the built-in
// configuration and finds it in the spool.
func TestDefaultConfigDelivers(t *testing.T) {
	addr, spool := startMX(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, addr, "127.0.0.5", []string{
		"EHLO client.example.org",
		"MAIL FROM:<sender@example.org>",
		"RCPT TO:<info@example.test>",
		"DATA",
		"DATA-BODY:Subject: hello\r\n\r\nHello Alice.\r\n",
		"QUIT",
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range replies {
		got = append(got, r.String())
	}
	want := []string{"220 mx.example.test ESMTP mxkit", "", "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Ok: queued as ", "221 2.0.0 Bye"}
	if len(got) != len(want) {
		t.Fatalf("replies %q", got)
	}
	for i := range want {
		if want[i] != "" && !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("reply %d: got %q, want %q", i, got[i], want[i])
		}
	}
	id := strings.TrimPrefix(got[5], "250 2.0.0 Ok: queued as ")
	// info@ is an alias of alice@; the maildir transport delivers into
	// mailboxes/example.test/alice under the spool folder.
	newDir := filepath.Join(spool, "mailboxes", "example.test", "alice", "new")
	var files []os.DirEntry
	for deadline := time.Now().Add(10 * time.Second); len(files) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("message %s not delivered to %s", id, newDir)
		}
		time.Sleep(10 * time.Millisecond)
		files, _ = os.ReadDir(newDir)
	}
	data, err := os.ReadFile(filepath.Join(newDir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Return-Path: <sender@example.org>\n",
		"Delivered-To: alice@example.test\n",
		"Received: from client.example.org (unknown [127.0.0.5])\n\tby mx.example.test (mxkit) with ESMTP id " + id + "\n\tfor <alice@example.test>; ",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("delivered message lacks %q:\n%s", want, data)
		}
	}
	// Maildir files have the local line ending (LF), as Postfix's virtual(8) writes them.
	if !strings.HasSuffix(string(data), "Subject: hello\n\nHello Alice.\n") {
		t.Errorf("delivered message:\n%s", data)
	}
}
