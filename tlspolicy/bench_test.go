package tlspolicy

import (
	"context"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
)

type stsMap map[string]*mtasts.Policy

func (m stsMap) Lookup(_ context.Context, domain string) (*mtasts.Policy, error) {
	if p := m[domain]; p != nil {
		return p, nil
	}
	return nil, ErrNoSTSPolicy
}

// BenchmarkResolveWarm is one policy decision with every cache warm: the
// policy table (an inline map) misses, DANE finds usable TLSA records
// through the DNS layer's cache (dnsres on a loopback server), so the
// MTA-STS source is not asked. The DANE case is the most work; a domain
// with no TLSA (MTA-STS enforce) is the second sub-benchmark.
func BenchmarkResolveWarm(b *testing.B) {
	srv := testdns.Start(b, testdns.Zone{Records: []string{
		"mx.dane.test. 300 IN A 192.0.2.1",
		"_25._tcp.mx.dane.test. 300 IN TLSA 3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643",
		"mx.sts.test. 300 IN A 192.0.2.2",
	}, Secure: []string{"dane.test", "sts.test"}})
	dns, err := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	table, err := relaymaps.ParseInline("{ other.test=secure }")
	if err != nil {
		b.Fatal(err)
	}
	enforce := &mtasts.Policy{Mode: mtasts.ModeEnforce, MaxAge: time.Hour, MX: []string{"*.sts.test"}}
	r := &Resolver{Level: Dane, Maps: []relaymaps.Map{table}, DNS: dns, STS: stsMap{"sts.test": enforce}, Logger: quiet}
	ctx := context.Background()
	for _, c := range []struct{ name, domain, host, want string }{
		{"dane", "dane.test", "mx.dane.test", "dane"},
		{"sts", "sts.test", "mx.sts.test", "secure"},
	} {
		d := Destination{Nexthop: c.domain, MX: dane.MXResult{Domain: c.domain, Security: dane.Secure}, Host: c.host}
		p, err := r.Resolve(ctx, d)
		if err != nil || p.Level.String() != c.want {
			b.Fatalf("%s: %v, %v", c.name, p, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Resolve(ctx, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
