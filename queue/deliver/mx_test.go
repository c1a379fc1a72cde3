package deliver

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
	"github.com/mxkit/mxkit/queue"
)

var mxZone = testdns.Zone{
	Records: []string{
		"example.com. 300 IN MX 10 mx1.example.com.",
		"example.com. 300 IN MX 20 mx2.example.com.",
		"mx1.example.com. 300 IN A 192.0.2.1",
		"mx1.example.com. 300 IN AAAA 2001:db8::1",
		"mx2.example.com. 300 IN A 192.0.2.2",
		"implicit.example. 300 IN A 192.0.2.9",
		"null.example. 300 IN MX 0 .",
		"nullmix.example. 300 IN MX 0 .",
		"nullmix.example. 300 IN MX 10 mx1.example.com.",
		"noaddr.example. 300 IN MX 10 nowhere.example.",
		"softaddr.example. 300 IN MX 10 slow.example.",
		"softaddr.example. 300 IN MX 20 nowhere.example.",
		// We are 192.0.2.20.
		"backup.example. 300 IN MX 10 primary.example.",
		"backup.example. 300 IN MX 20 self.example.",
		"backup.example. 300 IN MX 30 third.example.",
		"primary.example. 300 IN A 192.0.2.10",
		"self.example. 300 IN A 192.0.2.20",
		"third.example. 300 IN A 192.0.2.30",
		"selfbest.example. 300 IN MX 10 self.example.",
		"selfbest.example. 300 IN MX 20 third.example.",
		"noprimary.example. 300 IN MX 10 nowhere.example.",
		"noprimary.example. 300 IN MX 20 self.example.",
		"selfimplicit.example. 300 IN A 192.0.2.20",
		"ties.example. 300 IN MX 10 a.ties.example.",
		"ties.example. 300 IN MX 10 b.ties.example.",
		"ties.example. 300 IN MX 20 c.ties.example.",
		"a.ties.example. 300 IN A 192.0.2.41",
		"a.ties.example. 300 IN A 192.0.2.42",
		"a.ties.example. 300 IN A 192.0.2.43",
		"b.ties.example. 300 IN A 192.0.2.51",
		"b.ties.example. 300 IN A 192.0.2.52",
		"c.ties.example. 300 IN A 192.0.2.61",
		"c.ties.example. 300 IN A 192.0.2.62",
		"relay.example. 300 IN A 192.0.2.99",
	},
	ServFail: []string{"servfail.example", "slow.example"},
	NXDomain: []string{"nowhere.example"},
	Secure:   []string{"example.com"},
}

func newMXResolver(t *testing.T) *MXResolver {
	t.Helper()
	srv := testdns.Start(t, mxZone)
	r, err := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	self := netip.MustParseAddr("192.0.2.20")
	return &MXResolver{DNS: r, Self: func(a netip.Addr) bool { return a == self }, NoRandomize: true}
}

func addrsOf(hosts []Host) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.String())
	}
	return out
}

func TestMXResolve(t *testing.T) {
	m := newMXResolver(t)
	ctx := context.Background()
	for _, tc := range []struct {
		nexthop string
		want    []string
		status  queue.Status
		dsn     string
		text    string
	}{
		{nexthop: "example.com", want: []string{"mx1.example.com[192.0.2.1]:25", "mx1.example.com[2001:db8::1]:25", "mx2.example.com[192.0.2.2]:25"}},
		{nexthop: "Example.COM.:2525", want: []string{"mx1.example.com[192.0.2.1]:2525", "mx1.example.com[2001:db8::1]:2525", "mx2.example.com[192.0.2.2]:2525"}},
		{nexthop: "implicit.example", want: []string{"implicit.example[192.0.2.9]:25"}},
		{nexthop: "[mx2.example.com]", want: []string{"mx2.example.com[192.0.2.2]:25"}},
		{nexthop: "[192.0.2.7]:587", want: []string{"[192.0.2.7]:587"}},
		{nexthop: "servfail.example", status: queue.Deferred, dsn: "4.4.3",
			text: "Host or domain name not found. Name service error for name=servfail.example type=MX: Host not found, try again"},
		{nexthop: "nowhere.example", status: queue.Bounced, dsn: "5.4.4",
			text: "Host or domain name not found. Name service error for name=nowhere.example type=AAAA: Host not found"},
		{nexthop: "null.example", status: queue.Bounced, dsn: "5.1.0", text: "Domain null.example does not accept mail (nullMX)"},
		{nexthop: "nullmix.example", status: queue.Bounced, dsn: "5.1.0", text: "Domain nullmix.example does not accept mail (nullMX)"},
		{nexthop: "noaddr.example", status: queue.Bounced, dsn: "5.4.4",
			text: "Host or domain name not found. Name service error for name=nowhere.example type=AAAA: Host not found"},
		// A soft error dominates a hard one.
		{nexthop: "softaddr.example", status: queue.Deferred, dsn: "4.4.3"},
		// Self-truncation: we are the second MX; only the first is left.
		{nexthop: "backup.example", want: []string{"primary.example[192.0.2.10]:25"}},
		{nexthop: "backup.example:2525", want: []string{"primary.example[192.0.2.10]:2525", "self.example[192.0.2.20]:2525", "third.example[192.0.2.30]:2525"}},
		{nexthop: "selfbest.example", status: queue.Bounced, dsn: "5.4.6", text: "mail for selfbest.example loops back to myself"},
		{nexthop: "noprimary.example", status: queue.Deferred, dsn: "4.4.4", text: "unable to find primary relay for noprimary.example"},
		{nexthop: "selfimplicit.example", status: queue.Bounced, dsn: "5.4.6", text: "mail for selfimplicit.example loops back to myself"},
		{nexthop: "[self.example]", status: queue.Bounced, dsn: "5.4.6"},
		// A list: the first destination fails, the second gives hosts.
		{nexthop: "nowhere.example, implicit.example", want: []string{"implicit.example[192.0.2.9]:25"}},
	} {
		t.Run(tc.nexthop, func(t *testing.T) {
			hosts, err := m.Resolve(ctx, queue.Route{Transport: "smtp", Nexthop: tc.nexthop})
			if tc.want != nil {
				if err != nil || !slices.Equal(addrsOf(hosts), tc.want) {
					t.Fatalf("hosts %q, %v; want %q", addrsOf(hosts), err, tc.want)
				}
				return
			}
			var f *Failure
			if !errors.As(err, &f) || f.Result.Status != tc.status || f.Result.DSN != tc.dsn || (tc.text != "" && f.Result.Text != tc.text) {
				t.Fatalf("hosts %q, err %v (%+v); want %v %s %q", addrsOf(hosts), err, f, tc.status, tc.dsn, tc.text)
			}
		})
	}
}

func TestMXResolveSecurity(t *testing.T) {
	m := newMXResolver(t)
	hosts, err := m.Resolve(context.Background(), queue.Route{Nexthop: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if h.MXSecurity != dnsres.Secure || h.AddrSecurity != dnsres.Secure || h.Nexthop != "example.com" || h.Bracketed {
			t.Errorf("%s: %+v", h, h)
		}
	}
	hosts, _ = m.Resolve(context.Background(), queue.Route{Nexthop: "implicit.example"})
	if h := hosts[0]; h.MXSecurity != dnsres.Insecure || h.AddrSecurity != dnsres.Insecure || h.MXPref != 0 {
		t.Errorf("implicit: %+v", h)
	}
	hosts, _ = m.Resolve(context.Background(), queue.Route{Nexthop: "[implicit.example]"})
	if h := hosts[0]; h.MXSecurity != dnsres.Secure || !h.Bracketed {
		t.Errorf("bracketed next hop is a statically secure MX: %+v", h)
	}
}

// Equal preferences are shuffled across and within hosts; the limit of 5
// addresses keeps the worse preference out.
func TestMXResolveOrderAndLimit(t *testing.T) {
	m := newMXResolver(t)
	m.NoRandomize = false
	seen := map[string]bool{}
	for seed := range uint64(20) {
		m.Rand = rand.New(rand.NewPCG(seed, 1))
		hosts, err := m.Resolve(context.Background(), queue.Route{Nexthop: "ties.example"})
		if err != nil {
			t.Fatal(err)
		}
		if len(hosts) != 5 {
			t.Fatalf("%d addresses, want 5 (smtp_mx_address_limit)", len(hosts))
		}
		for _, h := range hosts {
			if h.MXPref != 10 {
				t.Fatalf("preference 20 within the limit: %q", addrsOf(hosts))
			}
		}
		seen[hosts[0].String()] = true
	}
	if len(seen) < 3 {
		t.Errorf("first address took only %d values in 20 runs: not shuffled", len(seen))
	}
	m.AddressLimit = -1
	hosts, _ := m.Resolve(context.Background(), queue.Route{Nexthop: "ties.example"})
	if len(hosts) != 7 || !strings.HasPrefix(hosts[6].Name, "c.") {
		t.Errorf("no limit: %q", addrsOf(hosts))
	}
}

func TestMXResolveFallbackAndFamilies(t *testing.T) {
	m := newMXResolver(t)
	m.FallbackRelays = []string{"[relay.example]"}
	ctx := context.Background()
	for _, tc := range []struct {
		nexthop string
		want    []string
	}{
		{"implicit.example", []string{"implicit.example[192.0.2.9]:25", "relay.example[192.0.2.99]:25"}},
		{"nowhere.example", []string{"relay.example[192.0.2.99]:25"}},
		{"servfail.example", []string{"relay.example[192.0.2.99]:25"}},
		{"backup.example", []string{"primary.example[192.0.2.10]:25"}}, // we are an MX: no fallback
	} {
		hosts, err := m.Resolve(ctx, queue.Route{Nexthop: tc.nexthop})
		if err != nil || !slices.Equal(addrsOf(hosts), tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.nexthop, addrsOf(hosts), err, tc.want)
		}
	}
	if _, err := m.Resolve(ctx, queue.Route{Nexthop: "null.example"}); err == nil {
		t.Error("null MX went to the fallback relay")
	}
	m.FallbackRelays = nil
	m.IPv4 = true
	hosts, _ := m.Resolve(ctx, queue.Route{Nexthop: "example.com"})
	if !slices.Equal(addrsOf(hosts), []string{"mx1.example.com[192.0.2.1]:25", "mx2.example.com[192.0.2.2]:25"}) {
		t.Errorf("ipv4 only: %q", addrsOf(hosts))
	}
}

func FuzzParseMXDest(f *testing.F) {
	for _, s := range []string{"example.com", "example.com:2525", "[mx.example.com]", "[192.0.2.1]:587", "[ipv6:2001:db8::1]", "a:b:c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseMXDest(s)
		if err != nil {
			return
		}
		if d.port == "" || d.host == "" && !d.bracketed {
			if d.host == "" {
				return // an empty domain fails at the lookup
			}
			t.Fatalf("%q: %+v", s, d)
		}
		if strings.ContainsAny(d.host, "[]") {
			t.Fatalf("%q: host %q keeps brackets", s, d.host)
		}
	})
}
