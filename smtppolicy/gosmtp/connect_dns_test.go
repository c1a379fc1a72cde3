package gosmtp

import (
	"log/slog"
	"testing"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/smtppolicy"
)

// TestFrontConnectTimeDNS: with smtpd_delay_reject = no the client list
// runs before the greeting, after the front has looked the client's name
// up: a DNS list hit or an unverifiable name replaces the 220, and every
// command but QUIT then gets 503.
func TestFrontConnectTimeDNS(t *testing.T) {
	dns := testdns.Start(t, testdns.Zone{Records: []string{
		// 127.0.0.2 is listed; 127.0.0.3 has a PTR whose forward lookup
		// matches; 127.0.0.4 has a PTR that does not confirm.
		"2.0.0.127.zen.example. 300 IN A 127.0.0.2",
		"2.0.0.127.zen.example. 300 IN TXT \"listed for testing\"",
		"3.0.0.127.in-addr.arpa. 300 IN PTR good.example.",
		"good.example. 300 IN A 127.0.0.3",
		"4.0.0.127.in-addr.arpa. 300 IN PTR liar.example.",
		"liar.example. 300 IN A 192.0.2.99",
	}})
	r, err := dnsres.New(dnsres.Options{Servers: []string{dns.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	reg := &smtppolicy.Registry{}
	client, err := reg.ParseList("reject_rbl_client zen.example, reject_unknown_client_hostname", "check_client_access")
	if err != nil {
		t.Fatal(err)
	}
	p := &smtppolicy.Policy{
		Site:        &smtppolicy.Site{MyHostname: "mx.example"},
		Client:      client,
		Relay:       smtppolicy.Chain{smtppolicy.RejectUnauthDestination},
		EarlyReject: true,
		Resolver:    r,
		Logger:      slog.New(slog.DiscardHandler),
	}
	addr, _ := startFront(t, p, nil)

	c := dial(t, addr, "127.0.0.2")
	eq(t, []string{c.reply()}, "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using zen.example; listed for testing")
	eq(t, c.talk("EHLO x.example", "MAIL FROM:<a@b.example>", "QUIT"),
		"503 5.7.0 Error: access denied for unknown[127.0.0.2]",
		"503 5.7.0 Error: access denied for unknown[127.0.0.2]",
		"221 2.0.0 Bye")

	c = dial(t, addr, "127.0.0.4")
	eq(t, []string{c.reply()}, "450 4.7.25 Client host rejected: cannot find your hostname, [127.0.0.4]")

	c = dial(t, addr, "127.0.0.3")
	eq(t, []string{c.reply()}, "220 mx.example ESMTP")
	eq(t, c.talk("HELO x.example", "MAIL FROM:<a@b.example>", "RCPT TO:<u@elsewhere.example>"),
		"250 mx.example", "250 2.1.0 Ok", "554 5.7.1 <u@elsewhere.example>: Relay access denied")
}
