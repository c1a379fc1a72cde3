package testdnssec

import (
	"context"
	"errors"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const tlsaHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func chainConfig() Config {
	recs := []string{
		"mx A 127.0.0.1",
		"mx AAAA ::1",
		"_25._tcp.mx TLSA 3 1 1 " + tlsaHex,
		"alias CNAME mx",
		"@ MX 10 mx",
	}
	return Config{Zones: []Zone{
		{Name: "secure.dane.test", Security: Secure, Records: recs},
		{Name: "insecure.dane.test.", Security: Insecure, Records: recs},
		{Name: "bogus.dane.test.", Security: Bogus, Records: recs},
	}}
}

func TestChain(t *testing.T) {
	t0 := time.Now()
	c := Start(t, chainConfig())
	t.Logf("chain up in %v: knotd %s, unbound %s, anchor %q", time.Since(t0).Round(time.Millisecond), c.AuthAddr, c.ResolverAddr, c.TrustAnchor)
	ctx := context.Background()
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		ad    bool
		nans  int
		ede   []uint16 // any one of these; nil: none
	}{
		{"_25._tcp.mx.secure.dane.test.", dns.TypeTLSA, dns.RcodeSuccess, true, 2, nil},
		{"mx.secure.dane.test.", dns.TypeA, dns.RcodeSuccess, true, 2, nil},
		{"mx.secure.dane.test.", dns.TypeAAAA, dns.RcodeSuccess, true, 2, nil},
		{"secure.dane.test.", dns.TypeMX, dns.RcodeSuccess, true, 2, nil},
		{"alias.secure.dane.test.", dns.TypeA, dns.RcodeSuccess, true, 4, nil},
		{"nothere.secure.dane.test.", dns.TypeA, dns.RcodeNameError, true, 0, nil},
		{"_25._tcp.mx.insecure.dane.test.", dns.TypeTLSA, dns.RcodeSuccess, false, 1, nil},
		{"mx.insecure.dane.test.", dns.TypeA, dns.RcodeSuccess, false, 1, nil},
		{"_25._tcp.mx.bogus.dane.test.", dns.TypeTLSA, dns.RcodeServerFailure, false, 0, bogusEDE},
		{"mx.bogus.dane.test.", dns.TypeA, dns.RcodeServerFailure, false, 0, bogusEDE},
		// Outside the test zones everything is refused: the resolver
		// never asks the real root.
		{"example.org.", dns.TypeMX, dns.RcodeRefused, false, 0, nil},
		{"other.test.", dns.TypeA, dns.RcodeRefused, false, 0, nil},
	}
	for _, tt := range tests {
		m, err := c.Query(ctx, tt.name, tt.qtype)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rcode != tt.rcode || m.AuthenticatedData != tt.ad || len(m.Answer) != tt.nans || !edeOK(EDE(m), tt.ede) {
			t.Errorf("%s %s: rcode %s AD=%v answers %d EDE %v; want %s AD=%v answers %d EDE %v\n%v",
				tt.name, dns.TypeToString[tt.qtype], dns.RcodeToString[m.Rcode], m.AuthenticatedData, len(m.Answer), EDE(m),
				dns.RcodeToString[tt.rcode], tt.ad, tt.nans, tt.ede, m)
		}
	}
}

// bogusEDE are the EDE codes unbound 1.17 sends for the Bogus zone: 9
// (DNSKEY Missing: "DS hash mismatches key") for the first query, 6
// (DNSSEC Bogus) once the key is cached as bad.
var bogusEDE = []uint16{dns.ExtendedErrorCodeDNSKEYMissing, dns.ExtendedErrorCodeDNSBogus}

func edeOK(got, want []uint16) bool {
	if want == nil {
		return len(got) == 0
	}
	return len(got) == 1 && slices.Contains(want, got[0])
}

// TestStopCleansUp checks that Stop ends both daemons and removes Dir.
func TestStopCleansUp(t *testing.T) {
	c := Start(t, Config{Zones: []Zone{{Name: "i.dane.test.", Security: Insecure}}})
	if len(c.procs) != 2 {
		t.Fatalf("%d daemons, want 2", len(c.procs))
	}
	c.Stop()
	for _, d := range c.procs {
		select {
		case <-d.exited:
		default:
			t.Errorf("%s still running after Stop", d.name)
		}
		if err := syscall.Kill(-d.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s's process group: kill 0 = %v, want ESRCH", d.name, err)
		}
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dir %s after Stop: %v", c.Dir, err)
	}
	c.Stop() // a second call is harmless
}
