package smtppolicy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/smtppolicy"
)

// A relay-only MX for example.org: trusted networks may relay, everybody
// else only to the recipients of example.org that the table lists.
func Example() {
	mynetworks, _ := relaymaps.ParseHostList("127.0.0.0/8", nil)
	relayDomains, _ := relaymaps.ParseDomainList("example.org", nil)
	p := &smtppolicy.Policy{
		Site: &smtppolicy.Site{
			MyNetworks:         mynetworks,
			RelayDomains:       relayDomains,
			RelayRecipientMaps: []relaymaps.Map{relaymaps.Dict{"alice@example.org": "OK"}},
			RecipientDelimiter: "+",
		},
		Relay:  smtppolicy.Chain{smtppolicy.PermitMyNetworks, smtppolicy.RejectUnauthDestination},
		Logger: slog.New(slog.DiscardHandler),
	}
	ctx := context.Background()
	s := p.NewSession(&smtppolicy.State{ClientAddr: netip.MustParseAddr("192.0.2.1")})
	s.Helo(ctx, "mail.example.net", true)
	s.Mail(ctx, "bob@example.net", 0)
	for _, rcpt := range []string{"alice+news@example.org", "mallory@example.org", "someone@elsewhere.example"} {
		if r := s.Rcpt(ctx, rcpt); r != nil {
			fmt.Println(r)
		} else {
			fmt.Println("250 2.1.5 Ok")
		}
	}
	// Output:
	// 250 2.1.5 Ok
	// 550 5.1.1 <mallory@example.org>: Recipient address rejected: User unknown in relay recipient table
	// 554 5.7.1 <someone@elsewhere.example>: Relay access denied
}

// Restriction lists in Postfix syntax, and the explain trace.
func ExampleRegistry_ParseList() {
	reg := &smtppolicy.Registry{}
	helo, err := reg.ParseList("reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname", "check_helo_access")
	if err != nil {
		panic(err)
	}
	p := &smtppolicy.Policy{Helo: helo, Logger: slog.New(slog.DiscardHandler)}
	st := &smtppolicy.State{ClientAddr: netip.MustParseAddr("192.0.2.1"), Trace: &smtppolicy.Trace{}}
	s := p.NewSession(st)
	ctx := context.Background()
	s.Helo(ctx, "localhost", true)
	s.Mail(ctx, "a@example.net", 0)
	fmt.Println(s.Rcpt(ctx, "b@example.org"))
	fmt.Print(s.State().Trace)
	// Output:
	// 504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname
	// RCPT smtpd_helo_restrictions reject_non_fqdn_helo_hostname REJECT reply="504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname"
}

// warn_if_reject and a dry run log what would be refused and accept.
func ExamplePolicy_dryRun() {
	p := &smtppolicy.Policy{
		Relay:  smtppolicy.Chain{smtppolicy.RejectUnauthDestination},
		DryRun: true,
		Logger: slog.New(slog.DiscardHandler),
	}
	ctx := context.Background()
	s := p.NewSession(&smtppolicy.State{ClientAddr: netip.MustParseAddr("192.0.2.1")})
	s.Helo(ctx, "mail.example.net", true)
	s.Mail(ctx, "a@example.net", 0)
	fmt.Println(s.Rcpt(ctx, "u@elsewhere.example") == nil)
	// Output:
	// true
}
