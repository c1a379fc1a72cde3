package smtppolicy

import (
	"net/netip"
	"testing"
)

// FuzzParseDNSList checks that list specifications (from main.cf) never
// panic and that a parsed filter can be applied.
func FuzzParseDNSList(f *testing.F) {
	for _, s := range []string{"zen.example", "zen.example=127.0.0.[2..11]", "bl.example=127.0.0.2;127.0.0.3",
		"bl.example=127.0.[0..255].[2;4..5]", "bl.example=127.0.0.[2", "bl.example=..", "-bad-=1.2.3.4", "b.example=[;].1.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		l, err := ParseDNSList(spec)
		if err != nil {
			return
		}
		if l.Domain == "" || l.String() != spec {
			t.Fatalf("ParseDNSList(%q) = %q, %q", spec, l.Domain, l.String())
		}
		l.matches([]netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("::1")})
	})
}
