package smtppolicy

import (
	"context"
	"net/netip"
	"testing"
)

// The resolver's own tests are in dnsres.

func TestLookupClient(t *testing.T) {
	e := newDNSEnv(t)
	for _, tc := range []struct {
		addr                  string
		name, reverse         string
		nameTemp, reverseTemp bool
	}{
		{"192.0.2.10", "mx.example.org", "mx.example.org", false, false},        // found, forward-confirmed
		{"192.0.2.20", "unknown", "forged.example.org", false, false},           // forward lookup lacks the address
		{"192.0.2.30", "unknown", "unknown", false, false},                      // NXDOMAIN
		{"192.0.2.40", "unknown", "unknown", true, true},                        // SERVFAIL
		{"192.0.2.50", "unknown", "timeout.example.org", true, false},           // forward lookup times out
		{"192.0.2.60", "unknown", "unknown", false, false},                      // numeric PTR
		{"::ffff:192.0.2.10", "mx.example.org", "mx.example.org", false, false}, // mapped address
	} {
		name, rev, nt, rt := LookupClient(context.Background(), e.r, netip.MustParseAddr(tc.addr))
		if name != tc.name || rev != tc.reverse || nt != tc.nameTemp || rt != tc.reverseTemp {
			t.Errorf("%s: got %q %q %v %v, want %q %q %v %v", tc.addr, name, rev, nt, rt, tc.name, tc.reverse, tc.nameTemp, tc.reverseTemp)
		}
	}
	if name, rev, _, _ := LookupClient(context.Background(), nil, netip.MustParseAddr("192.0.2.10")); name != "unknown" || rev != "unknown" {
		t.Errorf("nil resolver: %q %q", name, rev)
	}
}
