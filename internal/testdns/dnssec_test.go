package testdns

import (
	"testing"

	"github.com/miekg/dns"
)

func TestSecurity(t *testing.T) {
	srv := Start(t, Zone{
		Records: []string{
			"a.example.com. 300 IN A 192.0.2.1",
			"b.example.com. 300 IN CNAME a.example.com.",
			"c.example.com. 300 IN CNAME x.other.example.",
			"x.other.example. 300 IN A 192.0.2.2",
			"d.sub.example.com. 300 IN A 192.0.2.3",
		},
		Secure:   []string{"example.com"},
		Insecure: []string{"sub.example.com", "a.example.com/AAAA"},
		Bogus:    []string{"bad.example.com"},
	})
	for _, tc := range []struct {
		name  string
		qtype uint16
		do    bool
		rcode int
		ad    bool
		ede   int // -1 = none
	}{
		{"a.example.com.", dns.TypeA, true, dns.RcodeSuccess, true, -1},
		{"a.example.com.", dns.TypeA, false, dns.RcodeSuccess, false, -1}, // no DO: no AD
		{"a.example.com.", dns.TypeAAAA, true, dns.RcodeSuccess, false, -1},
		{"b.example.com.", dns.TypeA, true, dns.RcodeSuccess, true, -1},
		{"c.example.com.", dns.TypeA, true, dns.RcodeSuccess, false, -1}, // CNAME into an insecure zone
		{"d.sub.example.com.", dns.TypeA, true, dns.RcodeSuccess, false, -1},
		{"nope.example.com.", dns.TypeA, true, dns.RcodeNameError, true, -1},
		{"x.other.example.", dns.TypeA, true, dns.RcodeSuccess, false, -1},
		{"bad.example.com.", dns.TypeA, true, dns.RcodeServerFailure, false, 6},
		{"deeper.bad.example.com.", dns.TypeMX, true, dns.RcodeServerFailure, false, 6},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qtype)
		m.SetEdns0(4096, tc.do)
		r, err := dns.Exchange(m, srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		ede := -1
		if o := r.IsEdns0(); o != nil {
			for _, opt := range o.Option {
				if e, ok := opt.(*dns.EDNS0_EDE); ok {
					ede = int(e.InfoCode)
				}
			}
		}
		if r.Rcode != tc.rcode || r.AuthenticatedData != tc.ad || ede != tc.ede {
			t.Errorf("%s %s DO=%v: rcode %s AD=%v EDE %d, want %s AD=%v EDE %d", tc.name, dns.TypeToString[tc.qtype], tc.do,
				dns.RcodeToString[r.Rcode], r.AuthenticatedData, ede, dns.RcodeToString[tc.rcode], tc.ad, tc.ede)
		}
	}
}
