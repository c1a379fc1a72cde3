package testdnssec

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzParseRecords checks that any record line either fails with an
// error naming the zone and line, or yields one record inside the zone
// that the zone file renders and reparses to the same record.
func FuzzParseRecords(f *testing.F) {
	for _, s := range []string{
		"mx A 127.0.0.1",
		"_25._tcp.mx TLSA 3 1 1 ABCDEF",
		"@ MX 10 mx",
		"alias CNAME mx.other.test.",
		"@ SOA a. b. 1 2 3 4 5",
		"x.secure.dane.test. 60 IN AAAA ::1",
		"$ORIGIN other.\nx A 1.2.3.4",
		"",
	} {
		f.Add(s)
	}
	const zone = "secure.dane.test."
	f.Fuzz(func(t *testing.T, line string) {
		rrs, err := parseRecords(zone, []string{line})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "testdnssec: zone secure.dane.test.: record 1: ") {
				t.Fatalf("error without zone and line: %v", err)
			}
			return
		}
		if len(rrs) != 1 || !dns.IsSubDomain(zone, rrs[0].Header().Name) {
			t.Fatalf("parseRecords(%q) = %v", line, rrs)
		}
		text := renderZone(zone, "dane.test.", rrs)
		zp := dns.NewZoneParser(strings.NewReader(text), "", "")
		var back []dns.RR
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			back = append(back, rr)
		}
		if err := zp.Err(); err != nil {
			t.Fatalf("rendered zone does not parse: %v\n%s", err, text)
		}
		if len(back) != 3 || !dns.IsDuplicate(back[2], rrs[0]) {
			t.Fatalf("rendered zone has %v, want SOA, NS, %v\n%s", back, rrs[0], text)
		}
	})
}
