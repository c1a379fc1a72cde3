package smtppolicy

import (
	"net/netip"
	"strings"
	"testing"
)

func mustDNSList(t testing.TB, name, list string) Check {
	t.Helper()
	c, err := NewDNSListCheck(name, list)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDNSLists(t *testing.T) {
	e := newDNSEnv(t)
	bl := func(name, list string) *Policy { return e.policy(Chain{mustDNSList(t, name, list)}, nil, nil, nil) }
	listed := dnsClient("192.0.2.66", "mx.example.org", "mx.example.org")
	clean := dnsClient("192.0.2.65", "unknown", "unknown")
	runDNSCases(t, []dnsCase{
		{name: "rbl listed with TXT", p: bl("reject_rbl_client", "bl.test"), st: listed,
			want: "554 5.7.1 Service unavailable; Client host [192.0.2.66] blocked using bl.test; Listed, see https://bl.test/q?192.0.2.66"},
		{name: "rbl listed without TXT", p: bl("reject_rbl_client", "bl2.test"), st: listed,
			want: "554 5.7.1 Service unavailable; Client host [192.0.2.66] blocked using bl2.test"},
		{name: "rbl IPv6", p: bl("reject_rbl_client", "bl.test"), st: dnsClient("2001:db8::b", "unknown", "unknown"),
			want: "554 5.7.1 Service unavailable; Client host [2001:db8::b] blocked using bl.test"},
		{name: "rbl nxdomain", p: bl("reject_rbl_client", "bl.test"), st: clean, want: ""},
		{name: "rbl servfail fails open", p: bl("reject_rbl_client", "bl.test"), st: dnsClient("192.0.2.67", "", ""), want: ""},
		{name: "rbl timeout fails open", p: bl("reject_rbl_client", "bl.test"), st: dnsClient("192.0.2.68", "", ""), want: ""},
		{name: "rbl error code fails open", p: bl("reject_rbl_client", "bl.test"), st: dnsClient("192.0.2.69", "", ""), want: ""},
		{name: "rbl filter range matches", p: bl("reject_rbl_client", "bl.test=127.0.0.[2..11]"), st: listed,
			want: "554 5.7.1 Service unavailable; Client host [192.0.2.66] blocked using bl.test; Listed, see https://bl.test/q?192.0.2.66"},
		{name: "rbl filter range misses", p: bl("reject_rbl_client", "bl.test=127.0.0.[5..11]"), st: listed, want: ""},
		{name: "rbl filter alternatives", p: bl("reject_rbl_client", "bl.test=127.0.0.2;127.0.0.4"), st: listed,
			want: "554 5.7.1 Service unavailable; Client host [192.0.2.66] blocked using bl.test; Listed, see https://bl.test/q?192.0.2.66"},
		{name: "rbl filter set misses", p: bl("reject_rbl_client", "bl.test=127.0.0.[2;3]"), st: listed, want: ""},
		{name: "broken list ignored", p: bl("reject_rbl_client", "broken.test"), st: listed, want: ""},
		{name: "rbl code", p: func() *Policy { p := bl("reject_rbl_client", "bl2.test"); p.Codes.RBL = 550; return p }(), st: listed,
			want: "550 5.7.1 Service unavailable; Client host [192.0.2.66] blocked using bl2.test"},

		{name: "rhsbl sender listed", p: e.policy(nil, nil, Chain{mustDNSList(t, "reject_rhsbl_sender", "dbl.test")}, nil), st: clean, from: "a@spam.example.com",
			want: "554 5.7.1 Service unavailable; Sender address [a@spam.example.com] blocked using dbl.test; spam domain"},
		{name: "rhsbl sender nxdomain", p: e.policy(nil, nil, Chain{mustDNSList(t, "reject_rhsbl_sender", "dbl.test")}, nil), st: clean, from: "a@ham.example.com", want: ""},
		{name: "rhsbl sender servfail", p: e.policy(nil, nil, Chain{mustDNSList(t, "reject_rhsbl_sender", "dbl.test")}, nil), st: clean, from: "a@servfail.example.com", want: ""},
		{name: "rhsbl sender timeout", p: e.policy(nil, nil, Chain{mustDNSList(t, "reject_rhsbl_sender", "dbl.test")}, nil), st: clean, from: "a@timeout.example.com", want: ""},
		{name: "rhsbl sender literal skipped", p: e.policy(nil, nil, Chain{mustDNSList(t, "reject_rhsbl_sender", "dbl.test")}, nil), st: clean, from: "a@[192.0.2.1]", want: ""},
		{name: "rhsbl recipient", p: e.policy(nil, nil, nil, Chain{mustDNSList(t, "reject_rhsbl_recipient", "dbl.test")}), st: clean, to: "u@mx.example.org",
			want: "554 5.7.1 Service unavailable; Recipient address [u@mx.example.org] blocked using dbl.test"},
		{name: "rhsbl helo", p: e.policy(nil, Chain{mustDNSList(t, "reject_rhsbl_helo", "dbl.test")}, nil, nil), st: clean, helo: "spam.example.com",
			want: "554 5.7.1 Service unavailable; Helo command [spam.example.com] blocked using dbl.test; spam domain"},
		{name: "rhsbl client", p: bl("reject_rhsbl_client", "dbl.test"), st: listed,
			want: "554 5.7.1 Service unavailable; Client host [mx.example.org] blocked using dbl.test"},
		{name: "rhsbl client unknown skipped", p: bl("reject_rhsbl_client", "dbl.test"), st: clean, want: ""},
		{name: "rhsbl reverse client", p: bl("reject_rhsbl_reverse_client", "dbl.test"), st: dnsClient("192.0.2.20", "unknown", "mx.example.org"),
			want: "554 5.7.1 Service unavailable; Unverified Client host [mx.example.org] blocked using dbl.test"},

		{name: "dnswl permits", p: e.policy(Chain{mustDNSList(t, "permit_dnswl_client", "wl.test"), mustDNSList(t, "reject_rbl_client", "bl.test")}, nil, nil, nil),
			st: listed, want: ""},
		{name: "dnswl not listed", p: e.policy(Chain{mustDNSList(t, "permit_dnswl_client", "wl.test"), Reject}, nil, nil, nil),
			st: clean, want: "554 5.7.1 <unknown[192.0.2.65]>: Client host rejected: Access denied"},
		{name: "dnswl never opens the relay", p: &Policy{Relay: Chain{mustDNSList(t, "permit_dnswl_client", "wl.test"), RejectUnauthDestination}, Resolver: e.r, Logger: e.log.logger()},
			st: listed, to: "u@elsewhere.test", want: "554 5.7.1 <u@elsewhere.test>: Relay access denied"},
		{name: "dnswl servfail defers a reject", p: e.policy(Chain{mustDNSList(t, "permit_dnswl_client", "wlfail.test"), mustDNSList(t, "reject_rbl_client", "bl2.test")}, nil, nil, nil),
			st: listed, want: "450 4.7.1 <192.0.2.66>: Client host rejected: Service unavailable"},
	})
	log := e.log.String()
	if strings.Count(log, "DNS list is broken") != 1 {
		t.Errorf("broken list not reported exactly once:\n%s", log)
	}
	if strings.Count(log, "answered with an error code") != 1 {
		t.Errorf("error code not reported:\n%s", log)
	}
}

func TestDNSBLScore(t *testing.T) {
	e := newDNSEnv(t)
	score := func(threshold int, lists ...WeightedList) *Policy {
		c, err := DNSBLScore(threshold, lists)
		if err != nil {
			t.Fatal(err)
		}
		return e.policy(Chain{c}, nil, nil, nil)
	}
	listed := dnsClient("192.0.2.66", "", "")
	runDNSCases(t, []dnsCase{
		{name: "over the threshold", p: score(3, WeightedList{"bl2.test", 1}, WeightedList{"bl.test", 2}), st: listed,
			want: "554 5.7.1 Service unavailable; Client host [192.0.2.66] blocked using bl.test; Listed, see https://bl.test/q?192.0.2.66"},
		{name: "under the threshold", p: score(4, WeightedList{"bl2.test", 1}, WeightedList{"bl.test", 2}), st: listed, want: ""},
		{name: "allowlist weight", p: score(3, WeightedList{"bl2.test", 1}, WeightedList{"bl.test", 2}, WeightedList{"wl.test", -2}), st: listed, want: ""},
		{name: "filter", p: score(2, WeightedList{"bl.test=127.0.0.2", 2}), st: listed, want: ""},
		{name: "failures count zero", p: score(1, WeightedList{"bl.test", 2}), st: dnsClient("192.0.2.67", "", ""), want: ""},
		{name: "timeout counts zero", p: score(1, WeightedList{"bl.test", 2}), st: dnsClient("192.0.2.68", "", ""), want: ""},
	})
}

// The list keeps no answers of its own: the DNS layer's cache answers
// repeated questions, failures included.
func TestDNSListAnswersCached(t *testing.T) {
	e := newDNSEnv(t)
	p := e.policy(Chain{mustDNSList(t, "reject_rbl_client", "bl.test")}, nil, nil, nil)
	for range 3 {
		dnsRcpt(t, p, dnsClient("192.0.2.66", "", ""), "mx.example.org", "a@example.org", "u@example.org")
		dnsRcpt(t, p, dnsClient("192.0.2.68", "", ""), "mx.example.org", "a@example.org", "u@example.org")
	}
	if n := e.srv.Queries("66.2.0.192.bl.test", "A"); n != 1 {
		t.Errorf("listing asked %d times, want 1", n)
	}
	if n := e.srv.Queries("66.2.0.192.bl.test", "TXT"); n != 1 {
		t.Errorf("TXT asked %d times, want 1", n)
	}
	if n := e.srv.Queries("68.2.0.192.bl.test", "A"); n != 1 {
		t.Errorf("timed-out query asked %d times, want 1 (failures are remembered)", n)
	}
}

func TestParseDNSListFilter(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		ok, no []string
	}{
		{"l.test=127.0.0.[2..11]", []string{"127.0.0.2", "127.0.0.11"}, []string{"127.0.0.1", "127.0.0.12", "127.0.1.2"}},
		{"l.test=127.0.0.2;127.0.0.3", []string{"127.0.0.2", "127.0.0.3"}, []string{"127.0.0.4"}},
		{"l.test=127.0.[0..255].[2;4..5]", []string{"127.0.9.2", "127.0.0.5"}, []string{"127.0.0.3"}},
		{"l.test", []string{"127.0.0.1", "10.0.0.1"}, nil},
	} {
		l, err := ParseDNSList(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		for _, a := range tc.ok {
			if !l.matches(addrs(a)) {
				t.Errorf("%s does not match %s", tc.spec, a)
			}
		}
		for _, a := range tc.no {
			if l.matches(addrs(a)) {
				t.Errorf("%s matches %s", tc.spec, a)
			}
		}
	}
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}
