package dnsres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/mxkit/mxkit/internal/testdns"
)

const hash = "8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"

var zone = testdns.Zone{
	Records: []string{
		"example.org. 300 IN MX 10 mx.example.org.",
		"example.org. 300 IN NS ns1.example.org.",
		"mx.example.org. 300 IN A 192.0.2.10",
		"a-only.example.org. 300 IN A 192.0.2.11",
		"v6-only.example.org. 300 IN AAAA 2001:db8::11",
		"nullonly.example.org. 300 IN MX 0 .",
		"nullmixed.example.org. 300 IN MX 0 .",
		"nullmixed.example.org. 300 IN MX 10 mx.example.org.",
		"badmx.example.org. 300 IN MX 10 -bad-.example.",
		"txtonly.example.org. 300 IN TXT \"no \" \"address\"",
		"10.2.0.192.in-addr.arpa. 300 IN PTR mx.example.org.",
		// A signed zone.
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
		"loop1.example.com. 300 IN CNAME loop2.example.com.",
		"loop2.example.com. 300 IN CNAME loop1.example.com.",
	},
	ServFail:    []string{"servfail.example.org"},
	Drop:        []string{"timeout.example.org", "slow.example.com"},
	Secure:      []string{"example.com"},
	Insecure:    []string{"unsigned.example.com"},
	Bogus:       []string{"bogus.example.com"},
	TCPOnly:     []string{"_25._tcp.mx1.example.com"},
	NegativeTTL: 60,
}

func newResolver(t testing.TB, opts Options) (*Resolver, *testdns.Server) {
	t.Helper()
	srv := testdns.Start(t, zone)
	opts.Servers = []string{srv.Addr}
	if opts.Timeout == 0 {
		opts.Timeout = 300 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

// fakeClock lets a test move the resolver's time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestAnswers(t *testing.T) {
	r, _ := newResolver(t, Options{})
	ctx := context.Background()

	mx, err := r.LookupMX(ctx, "Example.ORG.")
	if err != nil || mx.Domain != "example.org" || !slices.Equal(mx.Hosts, []MX{{"mx.example.org", 10}}) || mx.Security != Insecure {
		t.Fatalf("MX example.org = %+v, %v", mx, err)
	}
	addrs, err := r.LookupIP(ctx, "ip", "mx.example.org")
	if err != nil || !slices.Equal(addrs, []netip.Addr{netip.MustParseAddr("192.0.2.10")}) {
		t.Fatalf("ip mx.example.org = %v, %v", addrs, err)
	}
	if addrs, err := r.LookupIP(ctx, "ip", "v6-only.example.org"); err != nil || len(addrs) != 1 {
		t.Fatalf("ip v6-only = %v, %v", addrs, err)
	}
	ptr, err := r.LookupPTR(ctx, netip.MustParseAddr("::ffff:192.0.2.10"))
	if err != nil || !slices.Equal(ptr, []string{"mx.example.org"}) {
		t.Fatalf("PTR = %v, %v", ptr, err)
	}
	txt, err := r.LookupTXT(ctx, "txtonly.example.org")
	if err != nil || !slices.Equal(txt, []string{"no address"}) {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	ns, err := r.LookupNS(ctx, "example.org")
	if err != nil || !slices.Equal(ns, []string{"ns1.example.org"}) {
		t.Fatalf("NS = %v, %v", ns, err)
	}
	if _, err := r.LookupIP(ctx, "tcp", "x"); err == nil {
		t.Error("LookupIP tcp: no error")
	}
}

func TestErrors(t *testing.T) {
	r, _ := newResolver(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		do          func() error
		kind        error
		found, temp bool
		text        string
	}{
		{"nxdomain", func() error { _, err := r.LookupIP(ctx, "ip4", "nx.example.org"); return err }, ErrNXDomain, true, false,
			"lookup nx.example.org A: no such domain (NXDOMAIN)"},
		{"nodata", func() error { _, err := r.LookupIP(ctx, "ip4", "txtonly.example.org"); return err }, ErrNoData, true, false,
			"lookup txtonly.example.org A: no records of the requested type"},
		{"both families", func() error { _, err := r.LookupIP(ctx, "ip", "txtonly.example.org"); return err }, ErrNoData, true, false, ""},
		{"servfail", func() error { _, err := r.LookupMX(ctx, "servfail.example.org"); return err }, ErrTemporary, false, true,
			"lookup servfail.example.org MX: temporary failure (SERVFAIL)"},
		{"timeout", func() error { _, err := r.LookupMX(ctx, "timeout.example.org"); return err }, ErrTemporary, false, true, ""},
		{"null MX", func() error { _, err := r.LookupMX(ctx, "nullonly.example.org"); return err }, ErrNullMX, false, false,
			"lookup nullonly.example.org MX: domain does not accept mail (null MX)"},
		{"null MX among others", func() error { _, err := r.LookupMX(ctx, "nullmixed.example.org"); return err }, ErrNullMX, false, false, ""},
		{"malformed MX", func() error { _, err := r.LookupMX(ctx, "badmx.example.org"); return err }, ErrMalformed, false, false,
			`lookup badmx.example.org MX: malformed reply: MX target "-bad-.example" is not a host name`},
		{"CNAME loop", func() error { _, err := r.LookupIP(ctx, "ip4", "loop1.example.com"); return err }, ErrMalformed, false, false, ""},
		{"empty name", func() error { _, err := r.LookupIP(ctx, "ip4", "."); return err }, ErrNXDomain, true, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if errors.Is(err, ErrNotFound) != tc.found {
				t.Errorf("errors.Is(ErrNotFound) = %v", !tc.found)
			}
			if errors.Is(err, ErrTemporary) != tc.temp || (StatusOf(err) == StatusRetry) != tc.temp {
				t.Errorf("temporary = %v, want %v", !tc.temp, tc.temp)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("text = %q, want %q", err.Error(), tc.text)
			}
		})
	}
	if StatusOf(context.Canceled) != StatusRetry || StatusOf(nil) != StatusOK {
		t.Error("StatusOf of foreign errors")
	}
}

func TestDNSSEC(t *testing.T) {
	r, srv := newResolver(t, Options{})
	ctx := context.Background()
	mx, err := r.LookupMX(ctx, "example.com")
	if err != nil || mx.Security != Secure || !slices.Equal(mx.Hosts, []MX{{"mx1.example.com", 10}, {"mx2.example.com", 20}}) {
		t.Fatalf("LookupMX = %+v, %v", mx, err)
	}
	res, err := r.LookupAddrs(ctx, "alias.example.com.")
	if err != nil || res.Security != Secure || res.Expanded() != "mx1.example.com" || !slices.Equal(res.Addrs,
		[]netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}) {
		t.Fatalf("LookupAddrs = %+v, %v", res, err)
	}
	// An insecure link anywhere in the chain makes the answer insecure.
	for _, h := range []string{"unsigned.example.com", "out.example.com"} {
		res, err = r.LookupAddrs(ctx, h)
		if err != nil || res.Security != Insecure || len(res.Addrs) == 0 {
			t.Errorf("LookupAddrs(%s) = %+v, %v; want insecure", h, res, err)
		}
	}
	// One family found is enough; an authenticated denial of both is
	// ErrNotFound with Security Secure.
	if res, err := r.LookupAddrs(ctx, "host.unsigned.example"); err != nil || len(res.Addrs) != 1 {
		t.Errorf("A only: %+v, %v", res, err)
	}
	if res, err := r.LookupAddrs(ctx, "nope.example.com"); !errors.Is(err, ErrNXDomain) || res.Security != Secure {
		t.Errorf("secure NXDOMAIN: %+v, %v", res, err)
	}
	if _, err := r.LookupAddrs(ctx, "bogus.example.com"); !errors.Is(err, ErrBogus) {
		t.Errorf("bogus: %v", err)
	}

	tl, err := r.LookupTLSA(ctx, 25, "tcp", "MX1.example.com.")
	if err != nil || tl.Name != "_25._tcp.mx1.example.com" || tl.Security != Secure || len(tl.Records) != 1 ||
		tl.Records[0].Usage != 3 || len(tl.Records[0].Data) != 32 || tl.Records[0].Data[0] != 0x8c {
		t.Fatalf("LookupTLSA = %+v, %v", tl, err)
	}
	if srv.Queries("_25._tcp.mx1.example.com", "TLSA") != 2 {
		t.Errorf("want a UDP query and a TCP retry")
	}
	tl, err = r.LookupTLSA(ctx, 25, "tcp", "mx2.example.com")
	if err != nil || !slices.Equal(tl.CNAMEs, []string{"_tlsa.example.com"}) || tl.Security != Secure || len(tl.Records) != 1 || tl.Records[0].Usage != 2 {
		t.Fatalf("CNAME'd TLSA = %+v, %v", tl, err)
	}
	tl, err = r.LookupTLSA(ctx, 25, "tcp", "big.example.com")
	if !errors.Is(err, ErrNotFound) || tl.Security != Secure {
		t.Errorf("secure denial of TLSA: %+v, %v", tl, err)
	}

	_, err = r.LookupTLSA(ctx, 25, "tcp", "bogus.example.com")
	var de *Error
	if !errors.As(err, &de) || de.Security != Bogus || len(de.EDE) != 1 || de.EDE[0].Code != 6 {
		t.Fatalf("bogus: %v", err)
	}
	if want := "lookup _25._tcp.bogus.example.com TLSA: DNSSEC validation failure (SERVFAIL), EDE 6 (DNSSEC Bogus): testdns: bogus _25._tcp.bogus.example.com."; err.Error() != want {
		t.Errorf("error = %q\nwant %q", err, want)
	}
	a, err := r.Query(ctx, "slow.example.com", dns.TypeMX)
	if !errors.As(err, &de) || de.Security != Indeterminate || a.Security != Indeterminate || !errors.Is(err, ErrTemporary) {
		t.Fatalf("timeout: %v, %+v", err, a)
	}
}

func TestUntrustedServer(t *testing.T) {
	srv := testdns.Start(t, zone)
	var logs bytes.Buffer
	// The test server is on loopback: pretend it is not by naming it as a
	// non-loopback server, then swap the address in.
	r, err := New(Options{Servers: []string{"192.0.2.53"}, Timeout: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	r.servers[0].addr = srv.Addr
	ctx := context.Background()
	for range 2 {
		mx, err := r.LookupMX(ctx, "example.com")
		if err != nil || mx.Security != Insecure {
			t.Fatalf("untrusted: %+v, %v", mx, err)
		}
		r.Flush()
	}
	if n := strings.Count(logs.String(), "ignoring its AD bit"); n != 1 {
		t.Errorf("%d warnings, want 1: %s", n, logs.String())
	}
	// Without EDE, a SERVFAIL from an untrusted server is not taken for a
	// validation failure.
	if _, err := r.LookupMX(ctx, "servfail.example.org"); !errors.Is(err, ErrTemporary) || errors.Is(err, ErrBogus) {
		t.Errorf("untrusted SERVFAIL: %v", err)
	}
	r, _ = New(Options{Servers: []string{"192.0.2.53"}, TrustAD: true})
	if !r.servers[0].trusted {
		t.Error("TrustAD: server not trusted")
	}
	for _, s := range []string{"127.0.0.1", "[::1]:5353", "::1", "127.0.0.53:53", "::ffff:127.0.0.1"} {
		r, err := New(Options{Servers: []string{s}})
		if err != nil || !r.servers[0].trusted {
			t.Errorf("loopback %s not trusted (%v)", s, err)
		}
	}
	if _, err := New(Options{Servers: []string{"localhost"}}); err == nil || err.Error() != `dnsres: name server "localhost": not an IP address` {
		t.Errorf("hostname server: %v", err)
	}
}

// A server that stops at a CNAME (no SOA, no target data) makes the
// resolver ask for the target; the result keeps the weakest security.
func TestCNAMEAcrossQueries(t *testing.T) {
	srv := testdns.Start(t, testdns.Zone{
		Records:     []string{"x.example.com. 300 IN CNAME y.example.org.", "s.example.com. 300 IN CNAME t.example.com."},
		Secure:      []string{"example.com"},
		NegativeTTL: -1,
	})
	r, _ := New(Options{Servers: []string{srv.Addr}})
	a, err := r.Query(context.Background(), "x.example.com", dns.TypeA)
	if !errors.Is(err, ErrNXDomain) || a.Security != Insecure || !slices.Equal(a.CNAMEs, []string{"y.example.org"}) || a.Expanded() != "y.example.org" {
		t.Fatalf("Query = %+v, %v", a, err)
	}
	if srv.Queries("y.example.org", "A") != 1 {
		t.Errorf("target not queried")
	}
	a, err = r.Query(context.Background(), "s.example.com", dns.TypeA)
	if !errors.Is(err, ErrNXDomain) || a.Security != Secure || a.Expanded() != "t.example.com" {
		t.Fatalf("Query = %+v, %v", a, err)
	}
}

func TestCache(t *testing.T) {
	r, srv := newResolver(t, Options{})
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r.now = clock.Now
	ctx := context.Background()

	for range 3 {
		r.LookupMX(ctx, "example.org")
		r.LookupIP(ctx, "ip4", "nx.example.org")
		r.LookupMX(ctx, "servfail.example.org")
	}
	for _, c := range []struct {
		name, qtype string
		want        int
	}{{"example.org", "MX", 1}, {"nx.example.org", "A", 1}, {"servfail.example.org", "MX", 1}} {
		if n := srv.Queries(c.name, c.qtype); n != c.want {
			t.Errorf("%s/%s asked %d times, want %d", c.name, c.qtype, n, c.want)
		}
	}
	// A failure lives for FailureTTL (5 s), the negative answer for the
	// SOA minimum (60 s), the positive one for its TTL (300 s).
	clock.Advance(6 * time.Second)
	r.LookupMX(ctx, "servfail.example.org")
	if n := srv.Queries("servfail.example.org", "MX"); n != 2 {
		t.Errorf("after 6 s: failure asked %d times, want 2", n)
	}
	clock.Advance(55 * time.Second)
	r.LookupMX(ctx, "example.org")
	r.LookupIP(ctx, "ip4", "nx.example.org")
	if n := srv.Queries("example.org", "MX"); n != 1 {
		t.Errorf("after 61 s: positive answer asked %d times, want 1", n)
	}
	if n := srv.Queries("nx.example.org", "A"); n != 2 {
		t.Errorf("after 61 s: negative answer asked %d times, want 2", n)
	}
	clock.Advance(240 * time.Second)
	r.LookupMX(ctx, "example.org")
	if n := srv.Queries("example.org", "MX"); n != 2 {
		t.Errorf("after 301 s: positive answer asked %d times, want 2", n)
	}
}

func TestCacheBounds(t *testing.T) {
	// MaxTTL caps positives; no SOA means the floor; a negative
	// FailureTTL keeps no failure; the size bound holds.
	srv := testdns.Start(t, testdns.Zone{Records: []string{"a.test. 86400 IN A 192.0.2.1"}, ServFail: []string{"f.test"}, NegativeTTL: -1})
	r, err := New(Options{Servers: []string{srv.Addr}, MaxTTL: time.Minute, MinNegativeTTL: 10 * time.Second, FailureTTL: -1, CacheSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r.now = clock.Now
	ctx := context.Background()
	ask := func() {
		r.LookupIP(ctx, "ip4", "a.test")
		r.LookupIP(ctx, "ip4", "b.test")
		r.LookupIP(ctx, "ip4", "f.test")
	}
	ask()
	ask()
	clock.Advance(11 * time.Second)
	ask()
	clock.Advance(50 * time.Second)
	ask()
	if a, b, f := srv.Queries("a.test", "A"), srv.Queries("b.test", "A"), srv.Queries("f.test", "A"); a != 2 || b != 3 || f != 4 {
		t.Errorf("queries a %d b %d f %d, want 2 3 4", a, b, f)
	}
	for i := range 200 {
		r.LookupIP(ctx, "ip4", fmt.Sprintf("n%d.test", i))
	}
	r.mu.Lock()
	n := len(r.cache)
	r.mu.Unlock()
	if n > 50 {
		t.Errorf("cache holds %d entries, bound 50", n)
	}
}

func TestOneQueryForConcurrentAskers(t *testing.T) {
	r, srv := newResolver(t, Options{Timeout: 10 * time.Second})
	srv.Hold()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = r.LookupIP(context.Background(), "ip4", "a-only.example.org") })
	}
	// Wait until every asker but the first is waiting for the first's query.
	for {
		r.mu.Lock()
		f := r.inflight[key{"a-only.example.org", dns.TypeA}]
		w := 0
		if f != nil {
			w = f.waiters
		}
		r.mu.Unlock()
		if w == n-1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	srv.Release()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := srv.Queries("a-only.example.org", "A"); q != 1 {
		t.Errorf("%d upstream queries, want 1", q)
	}
}

func TestCallerGivesUp(t *testing.T) {
	r, srv := newResolver(t, Options{Timeout: 10 * time.Second})
	srv.Hold()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := r.LookupMX(ctx, "example.org")
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	srv.Release()
	// The query went on for others, and its answer is cached.
	for {
		r.mu.Lock()
		_, busy := r.inflight[key{"example.org", dns.TypeMX}]
		r.mu.Unlock()
		if !busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := r.LookupMX(context.Background(), "example.org"); err != nil || srv.Queries("example.org", "MX") != 1 {
		t.Errorf("after release: %v, %d queries", err, srv.Queries("example.org", "MX"))
	}
}

func TestTCPFallbackAndSecondServer(t *testing.T) {
	srv := testdns.Start(t, testdns.Zone{Records: []string{"big.test. 60 IN TXT \"over tcp\""}, TCPOnly: []string{"big.test"}})
	dead := testdns.Start(t, testdns.Zone{Drop: []string{"big.test"}})
	failing := testdns.Start(t, testdns.Zone{ServFail: []string{"big.test"}})
	r, err := New(Options{Servers: []string{dead.Addr, failing.Addr, srv.Addr}, Timeout: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	txt, err := r.LookupTXT(context.Background(), "big.test")
	if err != nil || len(txt) != 1 || txt[0] != "over tcp" {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	if dead.Total() != 1 || failing.Total() != 1 || srv.Queries("big.test", "TXT") != 2 {
		t.Errorf("queries: dead %d, failing %d, live %d; want 1, 1 and 2 (UDP then TCP)", dead.Total(), failing.Total(), srv.Queries("big.test", "TXT"))
	}
}

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	os.WriteFile(p, []byte("search example\nnameserver 192.0.2.53\n# nameserver 192.0.2.54\nnameserver 2001:db8::53\noptions edns0 trust-ad\n"), 0o644)
	r, err := New(Options{ResolvConf: p})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.servers) != 2 || r.servers[0] != (server{"192.0.2.53:53", true}) || r.servers[1] != (server{"[2001:db8::53]:53", true}) {
		t.Errorf("servers = %+v", r.servers)
	}
	os.WriteFile(p, []byte("nameserver 192.0.2.53\n"), 0o644)
	if r, _ := New(Options{ResolvConf: p}); r.servers[0].trusted {
		t.Error("without trust-ad: trusted")
	}
	os.WriteFile(p, []byte("search example\n"), 0o644)
	if _, err := New(Options{ResolvConf: p}); err == nil {
		t.Error("no nameserver: no error")
	}
	if _, err := New(Options{ResolvConf: filepath.Join(dir, "missing")}); err == nil {
		t.Error("missing file: no error")
	}
}

func FuzzParseResolvConf(f *testing.F) {
	f.Add("nameserver 127.0.0.1\noptions trust-ad\n")
	f.Add("search a b\nnameserver fe80::1%eth0\n;comment\n")
	f.Fuzz(func(t *testing.T, s string) {
		servers, _ := parseResolvConf(bufio.NewScanner(strings.NewReader(s)))
		for _, srv := range servers {
			if _, _, err := parseServer(srv); err != nil && !strings.Contains(srv, "%") {
				t.Errorf("server %q from resolv.conf does not parse: %v", srv, err)
			}
		}
	})
}

// FuzzAnswer feeds arbitrary DNS messages to the answer builder: no panic,
// and every entry is either records or an error.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{"example.org. 300 IN MX 10 mx.example.org.", "a.test. 60 IN A 192.0.2.1", "x.test. 60 IN CNAME y.test."} {
		m := new(dns.Msg)
		m.SetQuestion("example.org.", dns.TypeMX)
		rr, _ := dns.NewRR(s)
		m.Answer = append(m.Answer, rr)
		b, _ := m.Pack()
		f.Add(b)
	}
	r, _ := New(Options{Servers: []string{"127.0.0.1"}})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil || len(m.Question) != 1 {
			return
		}
		q := m.Question[0]
		name := normalize(q.Name)
		var rrs []dns.RR
		for _, rr := range m.Answer {
			if rr.Header().Rrtype == q.Qtype {
				rrs = append(rrs, rr)
			}
		}
		var e *entry
		if len(rrs) > 0 {
			e = r.positive(name, q.Qtype, Answer{Name: name, RRs: rrs}, 60)
		} else {
			e = r.negative(name, q.Qtype, Answer{Name: name}, m)
			if e.err == nil {
				t.Fatal("negative answer without error")
			}
		}
		if e.expires.IsZero() {
			t.Fatal("entry without expiry")
		}
	})
}
