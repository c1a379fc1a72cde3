package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mxkit/mxkit/internal/smtpdialog"
	"github.com/mxkit/mxkit/internal/testproc"
)

// pflogConfig is the built-in configuration with next hops for the test:
// far.test to an SMTP sink, slow.test to a port where nothing listens.
const pflogConfig = `
compatibility_level = 3.6
myhostname = mx.example.test
mydomain = example.test
mydestination =
mynetworks = 127.0.0.1/32
inet_interfaces = 127.0.0.1
relay_domains = example.test
relay_recipient_maps = inline:{ alice@example.test=OK, bob@example.test=OK, postmaster@example.test=OK }
virtual_alias_maps = inline:{ info@example.test=alice@example.test }
local_recipient_maps =
smtpd_helo_required = yes
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_helo_restrictions = permit_mynetworks, reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname
smtp_connect_timeout = 5s
transport_maps = inline:{ example.test=maildir:mailboxes, far.test=smtp:[127.0.0.1]:%s, slow.test=smtp:[127.0.0.1]:%s }
`

// pflogMail runs the example with -log-format postfix and sends it
// mail: three messages accepted from 127.0.0.1 (for a local Maildir, for
// far.test's sink and for slow.test, which is deferred), one from
// 127.0.0.2 for a local alias of alice, and three rejections of 127.0.0.2 (relay
// access denied, unknown user, non-FQDN HELO), 127.0.0.4 tries AUTH,
// which is not offered, and 127.0.0.5 hangs up after EHLO. It returns the log file
// once the deliveries and the deferral are logged.
func pflogMail(t *testing.T, extra ...string) string {
	t.Helper()
	sink := startSink(t)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := port(dead.Addr().String())
	dead.Close() // a port where nothing listens: connection refused
	var log lockedBuffer
	args := append([]string{"-spool", t.TempDir(), "-log-format", "postfix",
		"-config", writeConfig(t, fmt.Sprintf(pflogConfig, port(sink), deadPort))}, extra...)
	addr, stop := runMXOutput(t, &log, args...)

	send := func(local, helo, from string, rcpts []string, data bool, want ...string) {
		t.Helper()
		script := []string{"EHLO " + helo, "MAIL FROM:<" + from + ">"}
		for _, r := range rcpts {
			script = append(script, "RCPT TO:<"+r+">")
		}
		if data {
			script = append(script, "DATA", fmt.Sprintf("DATA-BODY:Message-ID: <%d.%s@client.example.org>\r\nSubject: pflog\r\n\r\nHello.\r\n", time.Now().UnixNano(), local))
		}
		script = append(script, "QUIT")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		replies, err := smtpdialog.Run(ctx, addr, local, script)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if got := replies[i+3].String(); !strings.HasPrefix(got, w) {
				t.Errorf("%s from %s: reply %d is %q, want %q", script[i+2], local, i, got, w)
			}
		}
	}
	send("127.0.0.1", "client.example.org", "you@example.org", []string{"alice@example.test"}, true, "250 ", "354 ", "250 2.0.0 Ok: queued as ")
	send("127.0.0.1", "client.example.org", "you@example.org", []string{"dave@far.test"}, true, "250 ", "354 ", "250 2.0.0 Ok: queued as ")
	send("127.0.0.1", "client.example.org", "other@example.org", []string{"eve@slow.test"}, true, "250 ", "354 ", "250 2.0.0 Ok: queued as ")
	send("127.0.0.2", "client.example.org", "stranger@example.net", []string{"info@example.test"}, true, "250 ", "354 ", "250 2.0.0 Ok: queued as ")
	send("127.0.0.2", "client.example.org", "stranger@example.net", []string{"u@elsewhere.example"}, false, "554 5.7.1 <u@elsewhere.example>: Relay access denied")
	send("127.0.0.2", "client.example.org", "stranger@example.net", []string{"nobody@example.test"}, false, "550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown")
	send("127.0.0.2", "client", "stranger@example.net", []string{"bob@example.test"}, false, "504 5.5.2 <client>: Helo command rejected: need fully-qualified hostname")
	// A password guesser, where AUTH is not offered: "auth=0/1".
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	replies, err := smtpdialog.Run(ctx, addr, "127.0.0.4", []string{"EHLO guesser.example.net", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "QUIT"})
	if err != nil || replies[2].Code != 503 {
		t.Fatalf("AUTH: %v %v", replies, err)
	}
	// A client that hangs up after EHLO.
	if _, err := smtpdialog.Run(ctx, addr, "127.0.0.5", []string{"EHLO hangup.example.net"}); err != nil {
		t.Fatal(err)
	}

	waitUntil(t, "the deliveries and the deferral", func() bool {
		l := log.String()
		return strings.Count(l, "status=sent") == 3 && strings.Contains(l, "to=<eve@slow.test>") && strings.Count(l, ": removed") == 3 &&
			strings.Count(l, "disconnect from") == 9
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "maillog")
	if err := os.WriteFile(path, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPostfixLogFormat checks the lines themselves.
func TestPostfixLogFormat(t *testing.T) {
	b, err := os.ReadFile(pflogMail(t))
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if os.Getenv("PFLOG_KEEP") != "" {
		_ = os.WriteFile(os.Getenv("PFLOG_KEEP"), b, 0o644)
	}
	stamp := `[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ postfix/`
	id := `[0-9a-f]+`
	for _, re := range []string{
		stamp + `smtpd\[\d+\]: connect from unknown\[127\.0\.0\.1\]$`,
		stamp + `smtpd\[\d+\]: ` + id + `: client=unknown\[127\.0\.0\.1\]$`,
		stamp + `cleanup\[\d+\]: ` + id + `: message-id=<\d+\.127\.0\.0\.1@client\.example\.org>$`,
		stamp + `qmgr\[\d+\]: ` + id + `: from=<you@example\.org>, size=\d+, nrcpt=1 \(queue active\)$`,
		stamp + `virtual\[\d+\]: ` + id + `: to=<alice@example\.test>, relay=virtual, delay=[\d.]+, delays=[\d.]+/0/0/[\d.]+, dsn=2\.0\.0, status=sent \(.+\)$`,
		stamp + `smtp\[\d+\]: ` + id + `: to=<dave@far\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, delay=[\d.]+, delays=[\d./]+, dsn=2\.0\.0, status=sent \(250 .+\)$`,
		stamp + `smtp\[\d+\]: ` + id + `: to=<eve@slow\.test>, relay=none, delay=[\d.]+, delays=[\d./]+, dsn=4\.\d\.\d, status=deferred \(.*127\.0\.0\.1.*\)$`,
		stamp + `qmgr\[\d+\]: ` + id + `: removed$`,
		stamp + `virtual\[\d+\]: ` + id + `: to=<alice@example\.test>, orig_to=<info@example\.test>, relay=virtual, delay=[\d.]+, delays=[\d./]+, dsn=2\.0\.0, status=sent \(delivered to maildir .+\)$`,
		stamp + `smtpd\[\d+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 <u@elsewhere\.example>: Relay access denied; from=<stranger@example\.net> to=<u@elsewhere\.example> proto=ESMTP helo=<client\.example\.org>$`,
		stamp + `smtpd\[\d+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 550 5\.1\.1 <nobody@example\.test>: Recipient address rejected: User unknown in relay recipient table; from=<stranger@example\.net> to=<nobody@example\.test> proto=ESMTP helo=<client\.example\.org>$`,
		stamp + `smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.2\] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4$`,
		stamp + `smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5$`,
		stamp + `smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.4\] ehlo=1 auth=0/1 quit=1 commands=2/3$`,
		stamp + `smtpd\[\d+\]: lost connection after EHLO from unknown\[127\.0\.0\.5\]$`,
		stamp + `smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.5\] ehlo=1 commands=1$`,
	} {
		if !regexp.MustCompile(`(?m)` + re).MatchString(log) {
			t.Errorf("no line matches %s", re)
		}
	}
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if !regexp.MustCompile(`^`+stamp).MatchString(l) && !strings.HasPrefix(l, "mxkit MX ") {
			t.Errorf("not a Postfix syslog line: %q", l)
		}
	}
}

// startSink starts an SMTP server on loopback that accepts all mail.
func startSink(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(sinkBackend{})
	s.Domain = "sink.far.test"
	s.AllowInsecureAuth = true
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

type sinkBackend struct{}

func (sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{}, nil }

type sinkSession struct{}

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}
func (sinkSession) Reset()        {}
func (sinkSession) Logout() error { return nil }

// TestPflogsumm runs Debian's pflogsumm on the log and checks its counts
// and its sections of senders, recipients, deferrals and rejections.
func TestPflogsumm(t *testing.T) {
	bin, err := exec.LookPath("pflogsumm")
	testproc.Require(t, "pflogsumm (Debian's pflogsumm package)", err)
	log := pflogMail(t)
	out, err := exec.Command(bin, "--problems-first", log).CombinedOutput()
	if err != nil {
		t.Fatalf("pflogsumm: %v\n%s", err, out)
	}
	sum := string(out)
	for _, re := range []string{
		`(?m)^ +4 +received$`,
		`(?m)^ +3 +delivered$`,
		`(?m)^ +1 +deferred +\(1 +deferrals\)$`,
		`(?m)^ +0 +bounced$`,
		`(?m)^ +3 +rejected \(50%\)$`,
		`(?m)^ +3 +senders$`,
		`(?m)^ +2 +recipients$`,
		// Host/Domain Summary: Message Delivery
		`(?m)^ +2 +\d+ +0 .* example\.test$`,
		`(?m)^ +1 +\d+ +0 .* far\.test$`,
		`(?m)^ +0 +0 +1 .* slow\.test$`,
		// Host/Domain Summary: Messages Received
		`(?m)^ +3 +\d+ +example\.org$`,
		`(?m)^ +1 +\d+ +example\.net$`,
		`Senders by message count\n-+\n +2 +you@example\.org\n +1 +(stranger@example\.net|other@example\.org)\n`,
		`Recipients by message count\n-+\n +2 +alice@example\.test\n +1 +dave@far\.test\n\n`,
		`message deferral detail\n-+\n +smtp \(total: 1\)\n +1 +.*Connection refused\n`,
		`message reject detail\n-+\n +RCPT\n`,
		`(?m)^ +Helo command rejected: need fully-qualified hostname \(total: 1\)\n +1 +127\.0\.0\.2$`,
		`(?m)^ +Recipient address rejected: User unknown in relay recipient table \(total: 1\)\n +1 +nobody@example\.test$`,
		`(?m)^ +Relay access denied \(total: 1\)\n +1 +127\.0\.0\.2$`,
		`(?m)^Warnings: none$`,
	} {
		if !regexp.MustCompile(re).MatchString(sum) {
			t.Errorf("pflogsumm's summary does not match %s", re)
		}
	}
	if t.Failed() {
		t.Logf("pflogsumm:\n%s", sum)
	}
}

// TestFail2banPostfixFilter runs fail2ban-regex with fail2ban's postfix
// filter on the log: in its default mode ("more") the three rejections of
// 127.0.0.2 match, and nothing else; mode=aggressive also matches the
// disconnect line of 127.0.0.4, whose AUTH failed ("auth=0/1"), and the
// "lost connection after EHLO" of 127.0.0.5.
func TestFail2banPostfixFilter(t *testing.T) {
	bin, err := exec.LookPath("fail2ban-regex")
	testproc.Require(t, "fail2ban-regex (Debian's fail2ban package)", err)
	const filter = "/etc/fail2ban/filter.d/postfix.conf"
	_, err = os.Stat(filter)
	testproc.Require(t, "fail2ban's postfix filter", err)
	log := pflogMail(t)
	for _, c := range []struct {
		filter string
		ips    []string
	}{
		{filter, []string{"127.0.0.2", "127.0.0.2", "127.0.0.2"}},
		{filter + "[mode=aggressive]", []string{"127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.4", "127.0.0.5"}},
	} {
		out, err := exec.Command(bin, "-o", "ip", log, c.filter).CombinedOutput()
		if err != nil {
			t.Fatalf("fail2ban-regex -o ip %s: %v\n%s", c.filter, err, out)
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, c.ips) {
			t.Errorf("fail2ban-regex %s: matched %q, want %q", c.filter, got, c.ips)
		}
		out, err = exec.Command(bin, log, c.filter).CombinedOutput()
		if err != nil {
			t.Fatalf("fail2ban-regex %s: %v\n%s", c.filter, err, out)
		}
		want := fmt.Sprintf(`(?m)^Lines: \d+ lines, 0 ignored, %d matched, \d+ missed`, len(c.ips))
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("fail2ban-regex %s: want %d matched lines:\n%s", c.filter, len(c.ips), out)
		}
	}
}
