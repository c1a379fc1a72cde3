package smtppolicy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/smtppolicy"
)

// A DNS list and an unknown sender domain, answered by a test DNS server.
func ExampleNewDNSListCheck() {
	srv, _ := testdns.New(testdns.Zone{Records: []string{
		"66.2.0.192.zen.example. 300 IN A 127.0.0.4",
		"66.2.0.192.zen.example. 300 IN TXT \"see https://zen.example/192.0.2.66\"",
		"example.com. 300 IN MX 10 mx.example.com.",
	}})
	defer srv.Close()
	r, _ := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}, Timeout: time.Second})

	var reg smtppolicy.Registry
	client, _ := reg.ParseList("reject_rbl_client zen.example=127.0.0.[2..11]", "check_client_access")
	sender, _ := reg.ParseList("reject_unknown_sender_domain", "check_sender_access")
	p := &smtppolicy.Policy{Client: client, Sender: sender, Relay: smtppolicy.Chain{smtppolicy.Permit, smtppolicy.RejectUnauthDestination},
		Resolver: r, Logger: slog.New(slog.DiscardHandler)}

	ctx := context.Background()
	for _, c := range []struct{ ip, from string }{{"192.0.2.66", "a@example.com"}, {"192.0.2.1", "a@nx.example.com"}, {"192.0.2.1", "a@example.com"}} {
		s := p.NewSession(&smtppolicy.State{ClientAddr: netip.MustParseAddr(c.ip)})
		s.Helo(ctx, "client.example", true)
		s.Mail(ctx, c.from, 0)
		fmt.Println(s.Rcpt(ctx, "someone@example.net"))
	}
	// Output:
	// 554 5.7.1 Service unavailable; Client host [192.0.2.66] blocked using zen.example; see https://zen.example/192.0.2.66
	// 450 4.1.8 <a@nx.example.com>: Sender address rejected: Domain not found
	// <nil>
}
