package dnssec

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/mxkit/mxkit/internal/testdns"
)

const hash = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"

var zone = testdns.Zone{
	Records: []string{
		"example.com. 300 IN MX 20 mx2.example.com.",
		"example.com. 300 IN MX 10 MX1.Example.com.",
		"mx1.example.com. 300 IN A 192.0.2.1",
		"mx1.example.com. 300 IN AAAA 2001:db8::1",
		"alias.example.com. 300 IN CNAME mx1.example.com.",
		"unsigned.example.com. 300 IN CNAME mx1.example.com.",
		"out.example.com. 300 IN CNAME host.unsigned.example.",
		"host.unsigned.example. 300 IN A 192.0.2.9",
		"_25._tcp.mx1.example.com. 300 IN TLSA 3 1 1 " + strings.ToUpper(hash),
		"_25._tcp.mx2.example.com. 300 IN CNAME _tlsa.example.com.",
		"_tlsa.example.com. 300 IN TLSA 2 0 1 " + hash,
		"big.example.com. 300 IN TXT \"x\"",
	},
	Secure:   []string{"example.com"},
	Insecure: []string{"unsigned.example.com"},
	Bogus:    []string{"bogus.example.com"},
	TCPOnly:  []string{"_25._tcp.mx1.example.com"},
	Drop:     []string{"slow.example.com"},
}

func newResolver(t *testing.T) (*Resolver, *testdns.Server) {
	srv := testdns.Start(t, zone)
	return &Resolver{Server: srv.Addr, Timeout: 300 * time.Millisecond}, srv
}

func TestLookupMX(t *testing.T) {
	r, _ := newResolver(t)
	res, err := r.LookupMX(context.Background(), "Example.COM")
	if err != nil {
		t.Fatal(err)
	}
	want := []MX{{10, "mx1.example.com"}, {20, "mx2.example.com"}}
	if res.Security != Secure || res.Domain != "example.com" || !slices.Equal(res.Hosts, want) {
		t.Fatalf("LookupMX = %+v", res)
	}
}

func TestLookupAddrs(t *testing.T) {
	r, _ := newResolver(t)
	ctx := context.Background()
	res, err := r.LookupAddrs(ctx, "alias.example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if res.Security != Secure || res.Expanded() != "mx1.example.com" || !slices.Equal(res.Addrs,
		[]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}) {
		t.Fatalf("LookupAddrs = %+v", res)
	}
	// An insecure link anywhere in the chain makes the answer insecure.
	for _, h := range []string{"unsigned.example.com", "out.example.com"} {
		res, err = r.LookupAddrs(ctx, h)
		if err != nil || res.Security != Insecure || len(res.Addrs) == 0 {
			t.Errorf("LookupAddrs(%s) = %+v, %v; want insecure", h, res, err)
		}
	}
}

func TestLookupTLSA(t *testing.T) {
	r, srv := newResolver(t)
	ctx := context.Background()
	res, err := r.LookupTLSA(ctx, 25, "TCP", "MX1.example.com.")
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "_25._tcp.mx1.example.com" || res.Security != Secure || len(res.Records) != 1 ||
		res.Records[0].Usage != 3 || len(res.Records[0].Data) != 32 || res.Records[0].Data[0] != 0x8c {
		t.Fatalf("LookupTLSA = %+v", res)
	}
	if srv.Queries("_25._tcp.mx1.example.com", "TLSA") != 2 {
		t.Errorf("want a UDP query and a TCP retry")
	}
	res, err = r.LookupTLSA(ctx, 25, "tcp", "mx2.example.com")
	if err != nil || !slices.Equal(res.CNAMEs, []string{"_tlsa.example.com"}) || res.Security != Secure || len(res.Records) != 1 || res.Records[0].Usage != 2 {
		t.Fatalf("CNAME'd TLSA = %+v, %v", res, err)
	}
}

func TestDenial(t *testing.T) {
	r, _ := newResolver(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		qtype uint16
		sec   Security
		nx    bool
	}{
		{"nope.example.com", dns.TypeTLSA, Secure, true},
		{"big.example.com", dns.TypeTLSA, Secure, false},
		{"nope.unsigned.example.com", dns.TypeA, Insecure, true},
		{"nope.elsewhere.example", dns.TypeA, Insecure, true},
	} {
		a, err := r.Query(ctx, tc.name, tc.qtype)
		if err != nil || a.Security != tc.sec || a.NXDomain != tc.nx || len(a.RRs) != 0 {
			t.Errorf("Query(%s) = %+v, %v", tc.name, a, err)
		}
	}
}

func TestFailures(t *testing.T) {
	r, _ := newResolver(t)
	ctx := context.Background()
	_, err := r.LookupTLSA(ctx, 25, "tcp", "bogus.example.com")
	var de *Error
	if !errors.As(err, &de) || de.Security != Bogus || len(de.EDE) != 1 || de.EDE[0].Code != 6 {
		t.Fatalf("bogus: %v", err)
	}
	if want := "dnssec: _25._tcp.bogus.example.com. TLSA: bogus (SERVFAIL), EDE 6 (DNSSEC Bogus): testdns: bogus _25._tcp.bogus.example.com."; err.Error() != want {
		t.Errorf("error = %q\nwant %q", err, want)
	}
	res, err := r.LookupMX(ctx, "slow.example.com")
	if !errors.As(err, &de) || de.Security != Indeterminate || res.Security != Indeterminate {
		t.Fatalf("timeout: %v, %+v", err, res)
	}
	if !strings.HasPrefix(err.Error(), "dnssec: slow.example.com. MX: indeterminate: ") {
		t.Errorf("timeout error = %q", err)
	}
}

func TestUntrustedServer(t *testing.T) {
	ad := &dns.Msg{MsgHdr: dns.MsgHdr{AuthenticatedData: true}}
	var logs bytes.Buffer
	r := &Resolver{Server: "192.0.2.53", Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if got := r.classify(ad); got != Insecure {
		t.Errorf("untrusted AD = %v, want insecure", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = r.Query(ctx, "example.com", dns.TypeMX)
	_, _ = r.Query(ctx, "example.com", dns.TypeMX)
	if n := strings.Count(logs.String(), "ignoring its AD bit"); n != 1 {
		t.Errorf("%d warnings, want 1: %s", n, logs.String())
	}
	r.TrustAD = true
	if got := r.classify(ad); got != Secure {
		t.Errorf("trusted AD = %v, want secure", got)
	}
	for _, s := range []string{"127.0.0.1", "[::1]:5353", "::1", "127.0.0.53:53"} {
		r := &Resolver{Server: s}
		if r.classify(ad) != Secure {
			t.Errorf("loopback %s not trusted", s)
		}
	}
	r = &Resolver{Server: "localhost"}
	if _, err := r.Query(context.Background(), "example.com", dns.TypeMX); err == nil || err.Error() != `dnssec: resolver "localhost": not an IP address` {
		t.Errorf("hostname server: %v", err)
	}
}

// A resolver that stops at a CNAME (no SOA, no target data) makes the
// client ask for the target; the result keeps the weakest security.
func TestCNAMEAcrossQueries(t *testing.T) {
	srv := testdns.Start(t, testdns.Zone{
		Records:     []string{"x.example.com. 300 IN CNAME y.example.org.", "s.example.com. 300 IN CNAME t.example.com."},
		Secure:      []string{"example.com"},
		NegativeTTL: -1,
	})
	r := &Resolver{Server: srv.Addr}
	a, err := r.Query(context.Background(), "x.example.com", dns.TypeA)
	if err != nil || a.Security != Insecure || !a.NXDomain || !slices.Equal(a.CNAMEs, []string{"y.example.org."}) || a.Expanded() != "y.example.org." {
		t.Fatalf("Query = %+v, %v", a, err)
	}
	if srv.Queries("y.example.org", "A") != 1 {
		t.Errorf("target not queried")
	}
	a, err = r.Query(context.Background(), "s.example.com", dns.TypeA)
	if err != nil || a.Security != Secure || !a.NXDomain || a.Expanded() != "t.example.com." {
		t.Fatalf("Query = %+v, %v", a, err)
	}
}
