package tlspolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dane"
	"github.com/mxkit/mxkit/mtasts"
	"github.com/mxkit/mxkit/relaymaps"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeDNS is a dane.Resolver from tables, counting queries. It is the one
// place that builds the DNS layer's result types (kept small on purpose:
// that layer is being replaced).
type fakeDNS struct {
	mu      *sync.Mutex
	addrSec map[string]dane.Security // host → A/AAAA security; missing: Secure
	addrErr map[string]bool
	tlsa    map[string][]dane.TLSA // host → records (secure)
	tlsaErr map[string]bool        // host → SERVFAIL
	queries []string
}

func (f *fakeDNS) LookupMX(context.Context, string) (dane.MXResult, error) {
	return dane.MXResult{}, errors.New("fakeDNS: no MX lookups")
}

func (f *fakeDNS) lock() {
	if f.mu == nil {
		f.mu = new(sync.Mutex)
	}
	f.mu.Lock()
}

func (f *fakeDNS) LookupAddrs(_ context.Context, host string) (dane.AddrResult, error) {
	f.lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, "A "+host)
	if f.addrErr[host] {
		return dane.AddrResult{}, &dane.Error{Result: dane.ResultDNSSECInvalid, Host: host, Reason: "SERVFAIL"}
	}
	sec, ok := f.addrSec[host]
	if !ok {
		sec = dane.Secure
	}
	var r dane.AddrResult
	r.Host, r.Security = host, sec
	return r, nil
}

func (f *fakeDNS) LookupTLSA(_ context.Context, port int, proto, host string) (dane.TLSAResult, error) {
	f.lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, fmt.Sprintf("TLSA _%d._%s.%s", port, proto, host))
	if f.tlsaErr[host] {
		return dane.TLSAResult{}, &dane.Error{Result: dane.ResultDNSSECInvalid, Host: host, Reason: "SERVFAIL"}
	}
	var r dane.TLSAResult
	r.Security = dane.Secure
	for _, t := range f.tlsa[host] {
		// The element type is the DNS layer's own TLSA struct, which has
		// dane.TLSA's fields.
		r.Records = append(r.Records, struct {
			Usage, Selector, MatchingType uint8
			Data                          []byte
		}(t))
	}
	return r, nil
}

func (f *fakeDNS) Queries() []string {
	f.lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries)
}

// recMap is a relaymaps.Map that records the keys it is asked.
type recMap struct {
	mu   sync.Mutex
	m    map[string]string
	err  map[string]error
	keys []string
}

func (r *recMap) Lookup(_ context.Context, key string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	if err := r.err[key]; err != nil {
		return "", false, err
	}
	v, ok := r.m[key]
	return v, ok, nil
}

type fakeSTS struct {
	p   map[string]*mtasts.Policy
	err error
	n   int
}

func (f *fakeSTS) Lookup(_ context.Context, domain string) (*mtasts.Policy, error) {
	f.n++
	if f.err != nil {
		return nil, f.err
	}
	return f.p[domain], nil
}

func TestResolveTableKeys(t *testing.T) {
	m := &recMap{m: map[string]string{}}
	r := &Resolver{Maps: []relaymaps.Map{m}, Logger: quiet}
	ctx := context.Background()
	if p, err := r.Resolve(ctx, Destination{Nexthop: "Sub.Example.com", Host: "mx.example.com"}); err != nil || p.Level != May || p.Source != "default" {
		t.Fatalf("Resolve = %v, %v", p, err)
	}
	if want := []string{"sub.example.com", ".example.com", ".com"}; !slices.Equal(m.keys, want) {
		t.Errorf("keys %q, want %q", m.keys, want)
	}
	m.keys = nil
	if _, err := r.Resolve(ctx, Destination{Nexthop: "[relay.example]:587", Host: "relay.example", Port: 587}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"[relay.example]:587"}; !slices.Equal(m.keys, want) {
		t.Errorf("keys %q, want %q", m.keys, want)
	}
}

func TestResolve(t *testing.T) {
	ee, _ := dane.ParseTLSA("3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643")
	pkix, _ := dane.ParseTLSA("1 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643")
	secureMX := dane.MXResult{Domain: "example.com", Security: dane.Secure}
	insecureMX := dane.MXResult{Domain: "example.com", Security: dane.Insecure}
	enforce := &mtasts.Policy{Mode: mtasts.ModeEnforce, MaxAge: time.Hour, MX: []string{"*.example.com"}}
	temp := fmt.Errorf("x: %w", relaymaps.ErrTemporary)

	type row struct {
		name    string
		table   map[string]string
		tblErr  map[string]error
		level   Level
		noDNS   bool
		dns     fakeDNS
		sts     map[string]*mtasts.Policy
		stsErr  error
		dest    Destination
		want    string // Policy.String() + " (" + Source + ")" or the error's DSN and text
		queries []string
		stsN    int
	}
	d := func(host string, mx dane.MXResult) Destination {
		return Destination{Nexthop: "example.com", MX: mx, Host: host}
	}
	for _, tc := range []row{
		{name: "nothing configured", noDNS: true, dest: d("mx.example.com", secureMX), want: "may (default)"},
		{name: "table hit wins over DANE and STS", table: map[string]string{"example.com": "encrypt"},
			dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {ee}}}, sts: map[string]*mtasts.Policy{"example.com": enforce},
			dest: d("mx.example.com", secureMX), want: "encrypt (table)"},
		{name: "table .parent key", table: map[string]string{".example.com": "secure", "example.com": "none"},
			noDNS: true, dest: Destination{Nexthop: "sub.example.com", Host: "mx.example.com"}, want: "secure (table)"},
		{name: "table bare parent never matches", table: map[string]string{"example.com": "secure"},
			noDNS: true, dest: Destination{Nexthop: "sub.example.com", Host: "mx.example.com"}, want: "may (default)"},
		{name: "table error: fail closed", tblErr: map[string]error{"example.com": temp}, dest: d("mx.example.com", secureMX),
			want: "4.7.5 client TLS configuration problem"},
		{name: "table value does not parse", table: map[string]string{"example.com": "dane match=x"}, dest: d("mx.example.com", secureMX),
			want: "4.7.5 client TLS configuration problem"},
		{name: "table match at encrypt", table: map[string]string{"example.com": "encrypt match=nexthop"}, dest: d("mx.example.com", secureMX),
			want: "4.7.5 client TLS configuration problem"},
		{name: "table dane, usable TLSA", table: map[string]string{"example.com": "dane"},
			dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {ee}}}, dest: d("mx.example.com", secureMX), want: "dane (table)",
			queries: []string{"A mx.example.com", "TLSA _25._tcp.mx.example.com"}},
		{name: "table dane, no TLSA: may, no STS", table: map[string]string{"example.com": "dane"}, sts: map[string]*mtasts.Policy{"example.com": enforce},
			dest: d("mx.example.com", secureMX), want: "may (table)"},
		{name: "table dane-only, insecure MX", table: map[string]string{"example.com": "dane-only"},
			dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {ee}}}, dest: d("mx.example.com", insecureMX), want: "4.7.5 non DNSSEC destination"},
		{name: "table dane-only without DNSSEC", table: map[string]string{"example.com": "dane-only"}, noDNS: true,
			dest: d("mx.example.com", secureMX), want: "4.7.5 client TLS configuration problem"},
		{name: "table sts patterns: host outside", table: map[string]string{"example.com": "secure match=mx.example.com policy_type=sts mx_host_pattern=mx.example.com"},
			noDNS: true, dest: d("mx2.example.com", secureMX), want: "4.7.5 MX name 'mx2.example.com' does not match STS MX pattern for 'example.com'"},
		{name: "table sts patterns: match becomes hostname", table: map[string]string{"example.com": "secure match=other.example policy_type=sts mx_host_pattern=*.example.com"},
			noDNS: true, dest: d("mx2.example.com", secureMX), want: "secure match=hostname (table)"},
		{name: "DANE wins over STS", dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {ee}}},
			sts: map[string]*mtasts.Policy{"example.com": enforce}, dest: d("mx.example.com", secureMX), want: "dane (dane)", stsN: 0},
		{name: "TLSA SERVFAIL: deferred, STS not consulted", dns: fakeDNS{tlsaErr: map[string]bool{"mx.example.com": true}},
			sts: map[string]*mtasts.Policy{"example.com": enforce}, dest: d("mx.example.com", secureMX), want: "4.7.5 TLSA lookup error for mx.example.com:25", stsN: 0},
		{name: "insecure address: TLSA never queried", dns: fakeDNS{addrSec: map[string]dane.Security{"mx.example.com": dane.Insecure}, tlsaErr: map[string]bool{"mx.example.com": true}},
			dest: d("mx.example.com", secureMX), want: "may (default)", queries: []string{"A mx.example.com"}},
		{name: "insecure address, dane-only default", level: DaneOnly, dns: fakeDNS{addrSec: map[string]dane.Security{"mx.example.com": dane.Insecure}},
			dest: d("mx.example.com", secureMX), want: "4.7.5 no TLSA records found"},
		{name: "unusable TLSA: encrypt", dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {pkix}}},
			dest: d("mx.example.com", secureMX), want: "encrypt (dane)"},
		{name: "unusable TLSA, STS enforce verifies", dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {pkix}}},
			sts: map[string]*mtasts.Policy{"example.com": enforce}, dest: d("mx.example.com", secureMX), want: "secure match=hostname servername=hostname (sts)", stsN: 1},
		{name: "unusable TLSA, default secure kept", level: Secure, dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {pkix}}},
			dest: d("mx.example.com", secureMX), want: "secure (default)"},
		{name: "unusable TLSA, dane-only", level: DaneOnly, dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {pkix}}},
			dest: d("mx.example.com", secureMX), want: "4.7.5 TLSA records unusable"},
		{name: "no TLSA: STS enforce", sts: map[string]*mtasts.Policy{"example.com": enforce},
			dest: d("mx.example.com", secureMX), want: "secure match=hostname servername=hostname (sts)", stsN: 1},
		{name: "STS enforce, MX outside", sts: map[string]*mtasts.Policy{"example.com": enforce},
			dest: d("mx.example.net", secureMX), want: "4.7.5 MX name 'mx.example.net' does not match STS MX pattern for 'example.com'", stsN: 1},
		{name: "STS temporary failure", stsErr: fmt.Errorf("x: %w", mtasts.ErrTemporary),
			dest: d("mx.example.com", secureMX), want: "4.7.5 TLS policy lookup for example.com/mx.example.com: MTA-STS policy temporarily unavailable", stsN: 1},
		{name: "STS not asked for [host]", sts: map[string]*mtasts.Policy{"relay.example": enforce}, noDNS: true,
			dest: Destination{Nexthop: "[relay.example]", Host: "relay.example"}, want: "may (default)", stsN: 0},
		{name: "[host] counts as a secure MX", level: DaneOnly, dns: fakeDNS{tlsa: map[string][]dane.TLSA{"relay.example": {ee}}},
			dest: Destination{Nexthop: "[relay.example]:587", Host: "relay.example", Port: 587}, want: "dane-only (dane)",
			queries: []string{"A relay.example", "TLSA _587._tcp.relay.example"}},
		{name: "level none: no lookups", level: None, dns: fakeDNS{tlsa: map[string][]dane.TLSA{"mx.example.com": {ee}}},
			sts: map[string]*mtasts.Policy{"example.com": enforce}, dest: d("mx.example.com", secureMX), want: "none (default)", queries: []string{}},
		{name: "default verify, no DANE, no STS", level: Verify, dest: d("mx.example.com", secureMX), want: "verify (default)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Resolver{Level: tc.level, Logger: quiet}
			if tc.table != nil || tc.tblErr != nil {
				r.Maps = []relaymaps.Map{&recMap{m: tc.table, err: tc.tblErr}}
			}
			dns := &tc.dns
			if !tc.noDNS {
				r.DNS = dns
			}
			fs := &fakeSTS{p: tc.sts, err: tc.stsErr}
			if tc.sts != nil || tc.stsErr != nil {
				r.STS = fs
			}
			p, err := r.Resolve(context.Background(), tc.dest)
			var got string
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T %v", err, err)
				}
				got = errText(e)
			} else {
				got = p.String() + " (" + p.Source + ")"
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.queries != nil && !slices.Equal(dns.Queries(), tc.queries) && !(len(tc.queries) == 0 && len(dns.Queries()) == 0) {
				t.Errorf("DNS queries %q, want %q", dns.Queries(), tc.queries)
			}
			if fs.n != tc.stsN {
				t.Errorf("%d STS lookups, want %d", fs.n, tc.stsN)
			}
		})
	}
}

// Outbound test 5: mx1's TLSA SERVFAILs, mx2 has usable TLSA, and an
// MTA-STS enforce policy exists: mx1 is skipped, mx2 is DANE, and STS is
// never a fallback.
func TestResolveTLSAFailureNoSTSFallback(t *testing.T) {
	ee, _ := dane.ParseTLSA("3 1 1 b5827610c706fe318066ad6694d6df7c93afe200d69eda6a330dcc832a833643")
	dns := &fakeDNS{tlsaErr: map[string]bool{"mx1.example.com": true}, tlsa: map[string][]dane.TLSA{"mx2.example.com": {ee}}}
	sts := &fakeSTS{p: map[string]*mtasts.Policy{"example.com": {Mode: mtasts.ModeEnforce, MaxAge: time.Hour, MX: []string{"*.example.com"}}}}
	r := &Resolver{DNS: dns, STS: sts, Logger: quiet}
	mx := dane.MXResult{Domain: "example.com", Security: dane.Secure}
	var out []string
	for _, h := range []string{"mx1.example.com", "mx2.example.com"} {
		p, err := r.Resolve(context.Background(), Destination{Nexthop: "example.com", MX: mx, Host: h})
		if err != nil {
			out = append(out, err.Error())
		} else {
			out = append(out, p.String())
		}
	}
	want := []string{"4.7.5 TLSA lookup error for mx1.example.com:25: dane: mx1.example.com: TLSA lookup error: dane: mx1.example.com: SERVFAIL", "dane"}
	if !slices.Equal(out, want) {
		t.Errorf("got %q\nwant %q", out, want)
	}
	if sts.n != 0 {
		t.Errorf("STS consulted %d times", sts.n)
	}
	if rt, _, ok := ResultOf(errors.New("x")); ok || rt != "" {
		t.Error("ResultOf(plain error)")
	}
	_, err := r.Resolve(context.Background(), Destination{Nexthop: "example.com", MX: mx, Host: "mx1.example.com"})
	if rt, _, ok := ResultOf(err); !ok || rt != ResultValidationFailure { // dnssec-invalid needs the DNS layer's own error type
		t.Errorf("ResultOf = %q, %v", rt, ok)
	}
	if !strings.Contains(err.Error(), "TLSA lookup error") {
		t.Error(err)
	}
}
