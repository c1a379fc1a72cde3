package dane

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
)

type discoverRow struct {
	name    string
	zone    testdns.Zone
	nexthop string // "" = example.com
	host    string // "" = first MX host
	policy  InsecureMXPolicy
	mxErr   bool // the MX lookup itself fails

	outcome Outcome
	reason  string // prefix of Decision.Reason
	base    string
	refIDs  []string
	nrec    int
	result  string // ResultType of the error (TempFail)
	check   func(t *testing.T, srv *testdns.Server, d Decision)
}

func TestDiscover(t *testing.T) {
	p := testPKI(t)
	ee := "3 1 1 " + rec(t, p.leaf, 3, 1, 1).String()[6:]
	mx := "example.com. 300 IN MX 10 mx.example.com."
	a := "mx.example.com. 300 IN A 192.0.2.25"
	aaaa := "mx.example.com. 300 IN AAAA 2001:db8::25"
	tlsa := "_25._tcp.mx.example.com. 300 IN TLSA " + ee
	base := []string{mx, a, aaaa, tlsa}
	with := func(extra ...string) []string { return append(slices.Clone(base), extra...) }
	without := func(drop string, extra ...string) []string {
		var out []string
		for _, r := range base {
			if r != drop {
				out = append(out, r)
			}
		}
		return append(out, extra...)
	}
	sec := []string{"example.com", "example.org", "example.net", "hosting.example"}
	noQueries := func(name, typ string) func(*testing.T, *testdns.Server, Decision) {
		return func(t *testing.T, srv *testdns.Server, _ Decision) {
			if n := srv.Queries(name, typ); n != 0 {
				t.Errorf("%d %s queries for %s, want none", n, typ, name)
			}
		}
	}
	// CNAME'd MX host: mx.example.com → mx.hosting.example.
	cnameHost := []string{mx, "mx.example.com. 300 IN CNAME mx.hosting.example.", "mx.hosting.example. 300 IN A 192.0.2.26"}

	rows := []discoverRow{
		{name: "secure usable TLSA", zone: testdns.Zone{Records: base, Secure: sec},
			outcome: Required, base: "mx.example.com", refIDs: []string{"mx.example.com", "example.com"}, nrec: 1,
			check: func(t *testing.T, _ *testdns.Server, d Decision) {
				if !d.MXSecure || !d.Records[0].Matches(p.leaf.cert) {
					t.Errorf("MXSecure=%v records=%v", d.MXSecure, d.Records)
				}
			}},
		{name: "upper-case hex in DNS", zone: testdns.Zone{Records: without(tlsa, "_25._tcp.mx.example.com. 300 IN TLSA "+strings.ToUpper(ee)), Secure: sec},
			outcome: Required, base: "mx.example.com", nrec: 1,
			check: func(t *testing.T, _ *testdns.Server, d Decision) {
				if !d.Records[0].Matches(p.leaf.cert) {
					t.Errorf("upper-case record does not match")
				}
			}},
		{name: "usages 0 and 1 ignored next to a usable record", zone: testdns.Zone{Records: with(
			"_25._tcp.mx.example.com. 300 IN TLSA 0 0 1 "+rec(t, p.ta, 0, 0, 1).String()[6:],
			"_25._tcp.mx.example.com. 300 IN TLSA 1 1 1 "+rec(t, p.leaf, 1, 1, 1).String()[6:]), Secure: sec},
			outcome: Required, base: "mx.example.com", nrec: 1},
		{name: "TLSA SERVFAIL bogus with EDE", zone: testdns.Zone{Records: base, Secure: sec, Bogus: []string{"_25._tcp.mx.example.com"}},
			outcome: TempFail, reason: "TLSA lookup error", result: ResultDNSSECInvalid,
			check: func(t *testing.T, _ *testdns.Server, d Decision) {
				want := "TLSA lookup error: lookup _25._tcp.mx.example.com TLSA: DNSSEC validation failure (SERVFAIL), EDE 6 (DNSSEC Bogus): testdns: bogus _25._tcp.mx.example.com."
				if d.Reason != want {
					t.Errorf("reason = %q\nwant %q", d.Reason, want)
				}
			}},
		{name: "TLSA SERVFAIL without EDE", zone: testdns.Zone{Records: base, Secure: sec, ServFail: []string{"_25._tcp.mx.example.com/TLSA"}},
			outcome: TempFail, reason: "TLSA lookup error: lookup _25._tcp.mx.example.com TLSA: temporary failure (SERVFAIL)", result: ResultDNSSECInvalid},
		{name: "TLSA DNSSEC indeterminate (EDE 5)", zone: testdns.Zone{Records: base, Secure: sec, Bogus: []string{"_25._tcp.mx.example.com"}, BogusEDE: 5},
			outcome: TempFail, reason: "TLSA lookup error: lookup _25._tcp.mx.example.com TLSA: temporary failure (SERVFAIL), EDE 5", result: ResultDNSSECInvalid},
		{name: "TLSA timeout", zone: testdns.Zone{Records: base, Secure: sec, Drop: []string{"_25._tcp.mx.example.com"}},
			outcome: TempFail, reason: "TLSA lookup error: lookup _25._tcp.mx.example.com TLSA: temporary failure: ", result: ResultDNSSECInvalid},
		{name: "TLSA over TCP after truncation", zone: testdns.Zone{Records: base, Secure: sec, TCPOnly: []string{"_25._tcp.mx.example.com"}},
			outcome: Required, base: "mx.example.com", nrec: 1},
		{name: "secure NXDOMAIN for TLSA", zone: testdns.Zone{Records: without(tlsa), Secure: sec},
			outcome: NotApplicable, reason: "no TLSA records"},
		{name: "secure NODATA for TLSA", zone: testdns.Zone{Records: without(tlsa, `_25._tcp.mx.example.com. 300 IN TXT "x"`), Secure: sec},
			outcome: NotApplicable, reason: "no TLSA records"},
		{name: "insecure TLSA", zone: testdns.Zone{Records: base, Secure: sec, Insecure: []string{"_25._tcp.mx.example.com"}},
			outcome: NotApplicable, reason: "no TLSA records"},
		{name: "secure TLSA, all unusable", zone: testdns.Zone{Records: without(tlsa,
			"_25._tcp.mx.example.com. 300 IN TLSA 0 0 1 "+rec(t, p.ta, 0, 0, 1).String()[6:],
			"_25._tcp.mx.example.com. 300 IN TLSA 1 1 1 "+rec(t, p.leaf, 1, 1, 1).String()[6:],
			"_25._tcp.mx.example.com. 300 IN TLSA 3 1 1 abcd",
			"_25._tcp.mx.example.com. 300 IN TLSA 3 2 1 "+rec(t, p.leaf, 1, 1, 1).String()[6:]), Secure: sec},
			outcome: EncryptOnly, reason: "TLSA records unusable", base: "mx.example.com", nrec: 4},
		{name: "insecure A", zone: testdns.Zone{Records: base, Secure: sec, Insecure: []string{"mx.example.com/A"}},
			outcome: NotApplicable, reason: "insecure A/AAAA records", check: noQueries("_25._tcp.mx.example.com", "TLSA")},
		{name: "insecure AAAA", zone: testdns.Zone{Records: base, Secure: sec, Insecure: []string{"mx.example.com/AAAA"}},
			outcome: NotApplicable, reason: "insecure A/AAAA records", check: noQueries("_25._tcp.mx.example.com", "TLSA")},
		{name: "bogus A", zone: testdns.Zone{Records: base, Secure: sec, Bogus: []string{"mx.example.com/A"}},
			outcome: TempFail, reason: "address lookup failed", result: ResultDNSSECInvalid, check: noQueries("_25._tcp.mx.example.com", "TLSA")},
		{name: "insecure MX, policy may", zone: testdns.Zone{Records: base, Secure: sec, Insecure: []string{"example.com/MX"}}, policy: InsecureMXMay,
			outcome: NotApplicable, reason: "insecure MX RRset", check: noQueries("mx.example.com", "A")},
		{name: "insecure MX, policy encrypt, TLSA present", zone: testdns.Zone{Records: base, Secure: sec, Insecure: []string{"example.com/MX"}}, policy: InsecureMXEncrypt,
			outcome: EncryptOnly, reason: "insecure MX RRset, TLSA records present", base: "mx.example.com", nrec: 1},
		{name: "insecure MX, policy encrypt, no TLSA", zone: testdns.Zone{Records: without(tlsa), Secure: sec, Insecure: []string{"example.com/MX"}}, policy: InsecureMXEncrypt,
			outcome: NotApplicable, reason: "no TLSA records"},
		{name: "insecure MX, policy dane", zone: testdns.Zone{Records: base, Secure: sec, Insecure: []string{"example.com/MX"}}, policy: InsecureMXDane,
			outcome: Required, base: "mx.example.com", refIDs: []string{"mx.example.com"}, nrec: 1,
			check: func(t *testing.T, _ *testdns.Server, d Decision) {
				if d.MXSecure {
					t.Error("MXSecure with an insecure MX")
				}
			}},
		{name: "insecure MX, policy dane, unsigned TLSA", zone: testdns.Zone{Records: base, Secure: []string{"mx.example.com"}, Insecure: []string{"_25._tcp.mx.example.com"}}, policy: InsecureMXDane,
			outcome: NotApplicable, reason: "no TLSA records"},
		{name: "MX SERVFAIL", zone: testdns.Zone{Records: base, Secure: sec, Bogus: []string{"example.com/MX"}}, host: "mx.example.com", mxErr: true,
			outcome: TempFail, reason: "MX lookup failed", result: ResultDNSSECInvalid, check: noQueries("mx.example.com", "A")},
		{name: "CNAME'd host, TLSA at the expanded name", zone: testdns.Zone{Records: append(cnameHost,
			"_25._tcp.mx.hosting.example. 300 IN TLSA "+ee, tlsa), Secure: sec},
			outcome: Required, base: "mx.hosting.example", refIDs: []string{"mx.hosting.example", "mx.example.com", "example.com"}, nrec: 1,
			check: noQueries("_25._tcp.mx.example.com", "TLSA")},
		{name: "CNAME'd host, TLSA at the MX name only", zone: testdns.Zone{Records: append(cnameHost, tlsa), Secure: sec},
			outcome: Required, base: "mx.example.com", refIDs: []string{"mx.example.com", "example.com"}, nrec: 1,
			check: func(t *testing.T, srv *testdns.Server, _ Decision) {
				if srv.Queries("_25._tcp.mx.hosting.example", "TLSA") != 1 || srv.Queries("_25._tcp.mx.example.com", "TLSA") != 1 {
					t.Error("want one TLSA query at each candidate")
				}
			}},
		{name: "CNAME'd host, bogus TLSA at the expanded name", zone: testdns.Zone{Records: append(cnameHost,
			"_25._tcp.mx.hosting.example. 300 IN TLSA "+ee, tlsa), Secure: sec, Bogus: []string{"_25._tcp.mx.hosting.example"}},
			outcome: TempFail, reason: "TLSA lookup error", result: ResultDNSSECInvalid},
		{name: "CNAME'd host into an insecure zone", zone: testdns.Zone{Records: append(cnameHost,
			"_25._tcp.mx.hosting.example. 300 IN TLSA "+ee, tlsa), Secure: []string{"example.com"}},
			outcome: NotApplicable, reason: "insecure A/AAAA records", check: noQueries("_25._tcp.mx.example.com", "TLSA")},
		{name: "CNAME'd MX", nexthop: "example.org", zone: testdns.Zone{Records: with("example.org. 300 IN CNAME example.com."), Secure: sec},
			outcome: Required, base: "mx.example.com", refIDs: []string{"mx.example.com", "example.org", "example.com"}, nrec: 1},
		{name: "CNAME'd MX through an insecure zone", nexthop: "example.org", policy: InsecureMXMay,
			zone:    testdns.Zone{Records: with("example.org. 300 IN CNAME example.com."), Secure: []string{"example.org", "mx.example.com", "_25._tcp.mx.example.com"}},
			outcome: NotApplicable, reason: "insecure MX RRset"},
		{name: "CNAME'd TLSA RRset", zone: testdns.Zone{Records: without(tlsa, "_25._tcp.mx.example.com. 300 IN CNAME _tlsa.example.net.", "_tlsa.example.net. 300 IN TLSA "+ee), Secure: sec},
			outcome: Required, base: "mx.example.com", nrec: 1},
		{name: "no MX: the domain itself", nexthop: "example.net", host: "example.net",
			zone:    testdns.Zone{Records: []string{"example.net. 300 IN A 192.0.2.27", "_25._tcp.example.net. 300 IN TLSA " + ee}, Secure: sec},
			outcome: Required, base: "example.net", refIDs: []string{"example.net"}, nrec: 1},
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			srv := testdns.Start(t, tc.zone)
			r, _ := dnsres.New(dnsres.Options{Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, CacheSize: -1})
			ctx := context.Background()
			nexthop := tc.nexthop
			if nexthop == "" {
				nexthop = "example.com"
			}
			mxr, err := r.LookupMX(ctx, nexthop)
			if errors.Is(err, dnsres.ErrNotFound) {
				err = nil // no MX: the domain is its own MX host
			}
			if (err != nil) != tc.mxErr {
				t.Fatalf("LookupMX: %v", err)
			}
			host := tc.host
			if host == "" {
				host = mxr.Hosts[0].Host
			}
			d, err := Discover(ctx, r, mxr, host, 25, tc.policy)
			if d.Outcome != tc.outcome {
				t.Fatalf("outcome = %v (%s), want %v", d.Outcome, d.Reason, tc.outcome)
			}
			if (err != nil) != (tc.outcome == TempFail) {
				t.Fatalf("err = %v with outcome %v", err, d.Outcome)
			}
			if tc.result != "" && ResultType(err) != tc.result {
				t.Errorf("result type = %s, want %s", ResultType(err), tc.result)
			}
			if !strings.HasPrefix(d.Reason, tc.reason) {
				t.Errorf("reason = %q, want prefix %q", d.Reason, tc.reason)
			}
			if d.BaseDomain != tc.base {
				t.Errorf("base = %q, want %q", d.BaseDomain, tc.base)
			}
			if tc.refIDs != nil && !slices.Equal(d.RefIDs, tc.refIDs) {
				t.Errorf("refIDs = %q, want %q", d.RefIDs, tc.refIDs)
			}
			if len(d.Records) != tc.nrec {
				t.Errorf("%d records, want %d: %v", len(d.Records), tc.nrec, d.Records)
			}
			if tc.check != nil {
				tc.check(t, srv, d)
			}
		})
	}
}

func TestParseInsecureMXPolicy(t *testing.T) {
	for s, want := range map[string]InsecureMXPolicy{"dane": InsecureMXDane, " Encrypt ": InsecureMXEncrypt, "may": InsecureMXMay} {
		got, err := ParseInsecureMXPolicy(s)
		if err != nil || got != want || strings.TrimSpace(strings.ToLower(s)) != got.String() {
			t.Errorf("ParseInsecureMXPolicy(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseInsecureMXPolicy("verify"); err == nil || err.Error() != `dane: smtp_tls_dane_insecure_mx_policy "verify": want dane, encrypt or may` {
		t.Errorf("verify: %v", err)
	}
}

func TestDaneOnly(t *testing.T) {
	tempErr := &Error{Result: ResultDNSSECInvalid, Host: "mx.example.com", Reason: "TLSA lookup error"}
	for _, tc := range []struct {
		d      Decision
		err    error
		result string // "" = nil
		text   string
	}{
		{Decision{Outcome: Required, MXSecure: true}, nil, "", ""},
		{Decision{Outcome: Required, MXSecure: false}, nil, ResultDANERequired, "dane: mx.example.com: non DNSSEC destination"},
		{Decision{Outcome: NotApplicable, MXSecure: true, Reason: "no TLSA records"}, nil, ResultDANERequired, "dane: mx.example.com: no TLSA records found (no TLSA records)"},
		{Decision{Outcome: NotApplicable, MXSecure: true, Reason: "insecure A/AAAA records"}, nil, ResultDANERequired, "dane: mx.example.com: no TLSA records found (insecure A/AAAA records)"},
		{Decision{Outcome: EncryptOnly, MXSecure: true}, nil, ResultTLSAInvalid, "dane: mx.example.com: TLSA records unusable"},
		{Decision{Outcome: TempFail, MXSecure: true}, tempErr, ResultDNSSECInvalid, "dane: mx.example.com: TLSA lookup error"},
	} {
		err := tc.d.DaneOnly("mx.example.com", tc.err)
		if tc.result == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.d, err)
			}
			continue
		}
		if err == nil || ResultType(err) != tc.result || err.Error() != tc.text {
			t.Errorf("%+v: %v (%s), want %s (%s)", tc.d, err, ResultType(err), tc.text, tc.result)
		}
	}
}
