package smtppolicy

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
)

// testZone is the DNS data of the DNS check tests.
var testZone = testdns.Zone{
	Records: []string{
		"example.org. 300 IN MX 10 mx.example.org.",
		"example.org. 300 IN NS ns1.example.org.",
		"mx.example.org. 300 IN A 192.0.2.10",
		"ns1.example.org. 300 IN A 192.0.2.53",
		"a-only.example.org. 300 IN A 192.0.2.11",
		"v6-only.example.org. 300 IN AAAA 2001:db8::11",
		"nullonly.example.org. 300 IN MX 0 .",
		"badmx.example.org. 300 IN MX 10 -bad-.example.",
		"txtonly.example.org. 300 IN TXT \"no address\"",
		"forged.example.org. 300 IN A 192.0.2.99",
		"mxfail.example.org. 300 IN MX 10 servfail.example.org.",
		// Client addresses.
		"10.2.0.192.in-addr.arpa. 300 IN PTR mx.example.org.",
		"20.2.0.192.in-addr.arpa. 300 IN PTR forged.example.org.",
		"50.2.0.192.in-addr.arpa. 300 IN PTR timeout.example.org.",
		"60.2.0.192.in-addr.arpa. 300 IN PTR 192.0.2.60.",
		// bl.test: an RFC 5782 IP list.
		"2.0.0.127.bl.test. 300 IN A 127.0.0.2",
		"2.0.0.127.bl.test. 300 IN TXT \"test entry\"",
		"66.2.0.192.bl.test. 300 IN A 127.0.0.4",
		"66.2.0.192.bl.test. 300 IN TXT \"Listed, see https://bl.test/q?192.0.2.66\"",
		"69.2.0.192.bl.test. 300 IN A 127.255.255.254",
		"b.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test. 300 IN A 127.0.0.2",
		// bl2.test lists 192.0.2.66 without TXT.
		"66.2.0.192.bl2.test. 300 IN A 127.0.0.2",
		// broken.test lists everything, 127.0.0.1 included.
		"1.0.0.127.broken.test. 300 IN A 127.0.0.2",
		"66.2.0.192.broken.test. 300 IN A 127.0.0.2",
		"70.2.0.192.broken.test. 300 IN A 127.0.0.2",
		// wl.test: an allowlist.
		"66.2.0.192.wl.test. 300 IN A 127.0.10.1",
		// dbl.test: a domain list.
		"spam.example.com.dbl.test. 300 IN A 127.0.1.2",
		"spam.example.com.dbl.test. 300 IN TXT \"spam domain\"",
		"mx.example.org.dbl.test. 300 IN A 127.0.1.2",
	},
	NXDomain: []string{},
	ServFail: []string{"servfail.example.org", "40.2.0.192.in-addr.arpa", "67.2.0.192.bl.test",
		"servfail.example.com.dbl.test", "66.2.0.192.wlfail.test", "1.0.0.127.bl.test"},
	Drop:        []string{"timeout.example.org", "68.2.0.192.bl.test", "timeout.example.com.dbl.test"},
	NegativeTTL: 60,
}

type dnsEnv struct {
	srv *testdns.Server
	r   *dnsres.Resolver
	log *logBuffer
}

func newDNSEnv(t testing.TB) *dnsEnv {
	t.Helper()
	srv := testdns.Start(t, testZone)
	lb := &logBuffer{}
	r, err := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}, Timeout: 150 * time.Millisecond, Logger: lb.logger()})
	if err != nil {
		t.Fatal(err)
	}
	return &dnsEnv{srv: srv, r: r, log: lb}
}

// policy returns a policy whose relay list only refuses unauthorized
// destinations: example.org and its subdomains are relay domains,
// virt.test a virtual mailbox domain.
func (e *dnsEnv) policy(client, helo, sender, rcpt Chain) *Policy {
	return &Policy{
		Client: client, Helo: helo, Sender: sender,
		Relay:     Chain{RejectUnauthDestination},
		Recipient: rcpt,
		Site: &Site{
			MyHostname:            "mx.example.net",
			RelayDomains:          domains{"example.org"},
			VirtualMailboxDomains: domains{"virt.test"},
		},
		Resolver: e.r,
		Logger:   e.log.logger(),
	}
}

// rcpt runs a session up to one RCPT and returns the reply ("" for accepted).
func dnsRcpt(t testing.TB, p *Policy, client State, helo, from, to string) string {
	t.Helper()
	ctx := context.Background()
	s := p.NewSession(&client)
	if r := s.Helo(ctx, helo, true); r != nil {
		return r.String()
	}
	if r := s.Mail(ctx, from, 0); r != nil {
		return r.String()
	}
	if r := s.Rcpt(ctx, to); r != nil {
		return r.String()
	}
	return ""
}

func dnsClient(addr, name, reverse string) State {
	return State{ClientAddr: netip.MustParseAddr(addr), ClientName: name, ReverseName: reverse}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
