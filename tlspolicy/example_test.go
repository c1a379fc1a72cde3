package tlspolicy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/tlspolicy"
)

// stsPolicies is an STSSource from a map (an *mtasts.Client in a server).
type stsPolicies map[string]*mtasts.Policy

func (s stsPolicies) Lookup(_ context.Context, domain string) (*mtasts.Policy, error) {
	return s[domain], nil
}

// Resolve the policy per (next hop, MX host): a table entry wins, then
// DANE (not configured here), then MTA-STS, then the default level.
func ExampleResolver_Resolve() {
	table, err := relaymaps.ParseInline("{ .bank.example=secure, { [relay.example]:587 = encrypt protocols=>=TLSv1.2 }, { broken.example = dane match=x } }")
	if err != nil {
		panic(err)
	}
	r := &tlspolicy.Resolver{
		Level: tlspolicy.May,
		Maps:  []relaymaps.Map{table},
		STS: stsPolicies{"example.org": {Mode: mtasts.ModeEnforce, MaxAge: 24 * time.Hour,
			MX: []string{"*.example.org"}}},
	}
	ctx := context.Background()
	for _, d := range []tlspolicy.Destination{
		{Nexthop: "mail.bank.example", Host: "mx.bank.example"},
		{Nexthop: "bank.example", Host: "mx.bank.example"},
		{Nexthop: "[relay.example]:587", Host: "relay.example", Port: 587},
		{Nexthop: "example.org", Host: "mx1.example.org"},
		{Nexthop: "example.org", Host: "mx.elsewhere.example"},
		{Nexthop: "broken.example", Host: "mx.broken.example"},
	} {
		p, err := r.Resolve(ctx, d)
		if err != nil {
			fmt.Printf("%s/%s: %s\n", d.Nexthop, d.Host, err.(*tlspolicy.Error).Text)
			continue
		}
		fmt.Printf("%s/%s: %s (%s)\n", d.Nexthop, d.Host, p, p.Source)
	}
	// Output:
	// mail.bank.example/mx.bank.example: secure (table)
	// bank.example/mx.bank.example: may (default)
	// [relay.example]:587/relay.example: encrypt (table)
	// example.org/mx1.example.org: secure match=hostname servername=hostname (sts)
	// example.org/mx.elsewhere.example: MX name 'mx.elsewhere.example' does not match STS MX pattern for 'example.org'
	// broken.example/mx.broken.example: client TLS configuration problem
}
