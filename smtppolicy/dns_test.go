package smtppolicy

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mxkit/mxkit/internal/testdns"
)

func TestResolverAnswers(t *testing.T) {
	e := newDNSEnv(t)
	ctx := context.Background()

	mx, err := e.r.LookupMX(ctx, "Example.ORG.")
	if err != nil || len(mx) != 1 || mx[0] != (MX{Host: "mx.example.org", Pref: 10}) {
		t.Fatalf("MX example.org = %v, %v", mx, err)
	}
	addrs, err := e.r.LookupIP(ctx, "ip", "mx.example.org")
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("ip mx.example.org = %v, %v", addrs, err)
	}
	ptr, err := e.r.LookupPTR(ctx, netip.MustParseAddr("192.0.2.10"))
	if err != nil || len(ptr) != 1 || ptr[0] != "mx.example.org" {
		t.Fatalf("PTR = %v, %v", ptr, err)
	}
	txt, err := e.r.LookupTXT(ctx, "txtonly.example.org")
	if err != nil || len(txt) != 1 || txt[0] != "no address" {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	ns, err := e.r.LookupNS(ctx, "example.org")
	if err != nil || len(ns) != 1 || ns[0] != "ns1.example.org" {
		t.Fatalf("NS = %v, %v", ns, err)
	}

	for _, tc := range []struct {
		name  string
		do    func() error
		kind  error
		found bool
		text  string
	}{
		{"nxdomain", func() error { _, err := e.r.LookupIP(ctx, "ip4", "nx.example.org"); return err }, ErrNXDomain, true,
			"lookup nx.example.org A: no such domain (NXDOMAIN)"},
		{"nodata", func() error { _, err := e.r.LookupIP(ctx, "ip4", "txtonly.example.org"); return err }, ErrNoData, true,
			"lookup txtonly.example.org A: no records of the requested type"},
		{"servfail", func() error { _, err := e.r.LookupMX(ctx, "servfail.example.org"); return err }, ErrTemporary, false,
			"lookup servfail.example.org MX: temporary failure (SERVFAIL)"},
		{"timeout", func() error { _, err := e.r.LookupMX(ctx, "timeout.example.org"); return err }, ErrTemporary, false, ""},
		{"null MX", func() error { _, err := e.r.LookupMX(ctx, "nullonly.example.org"); return err }, ErrNullMX, false,
			"lookup nullonly.example.org MX: domain does not accept mail (null MX)"},
		{"malformed MX", func() error { _, err := e.r.LookupMX(ctx, "badmx.example.org"); return err }, ErrMalformed, false,
			"lookup badmx.example.org MX: malformed reply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			if errors.Is(err, ErrNotFound) != tc.found {
				t.Errorf("errors.Is(ErrNotFound) = %v", !tc.found)
			}
			if tc.text != "" && err.Error() != tc.text {
				t.Errorf("text = %q, want %q", err.Error(), tc.text)
			}
		})
	}
}

func TestResolverCache(t *testing.T) {
	e := newDNSEnv(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	e.r.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	for range 3 {
		e.r.LookupMX(ctx, "example.org")
		e.r.LookupIP(ctx, "ip4", "nx.example.org")
		e.r.LookupMX(ctx, "servfail.example.org")
	}
	if n := e.srv.Queries("example.org", "MX"); n != 1 {
		t.Errorf("positive answer asked %d times, want 1", n)
	}
	if n := e.srv.Queries("nx.example.org", "A"); n != 1 {
		t.Errorf("negative answer asked %d times, want 1", n)
	}
	if n := e.srv.Queries("servfail.example.org", "MX"); n != 3 {
		t.Errorf("SERVFAIL asked %d times, want 3 (not cached)", n)
	}
	// The negative answer lives for the SOA minimum (60 s), the positive
	// one for its TTL (300 s).
	advance(61 * time.Second)
	e.r.LookupMX(ctx, "example.org")
	e.r.LookupIP(ctx, "ip4", "nx.example.org")
	if n := e.srv.Queries("example.org", "MX"); n != 1 {
		t.Errorf("after 61 s: positive answer asked %d times, want 1", n)
	}
	if n := e.srv.Queries("nx.example.org", "A"); n != 2 {
		t.Errorf("after 61 s: negative answer asked %d times, want 2", n)
	}
	advance(240 * time.Second)
	e.r.LookupMX(ctx, "example.org")
	if n := e.srv.Queries("example.org", "MX"); n != 2 {
		t.Errorf("after 301 s: positive answer asked %d times, want 2", n)
	}
}

func TestResolverNegativeWithoutSOANotCached(t *testing.T) {
	srv := testdns.Start(t, testdns.Zone{Records: []string{"a.test. 60 IN A 192.0.2.1"}, NegativeTTL: -1})
	r, err := NewResolver(ResolverOptions{Servers: []string{srv.Addr}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.LookupIP(context.Background(), "ip4", "b.test"); !errors.Is(err, ErrNXDomain) {
			t.Fatal(err)
		}
	}
	if n := srv.Queries("b.test", "A"); n != 2 {
		t.Errorf("asked %d times, want 2", n)
	}
}

func TestResolverOneQueryForConcurrentAskers(t *testing.T) {
	e := newDNSEnv(t)
	e.r.timeout = 10 * time.Second
	e.srv.Hold()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.r.LookupIP(context.Background(), "ip4", "a-only.example.org")
		}()
	}
	// Wait until every asker but the first is waiting for the first's query.
	for {
		e.r.mu.Lock()
		f := e.r.inflight[cacheKey{"a-only.example.org", 1}]
		w := 0
		if f != nil {
			w = f.waiters
		}
		e.r.mu.Unlock()
		if w == n-1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	e.srv.Release()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := e.srv.Queries("a-only.example.org", "A"); q != 1 {
		t.Errorf("%d upstream queries, want 1", q)
	}
}

func TestResolverTCPFallbackAndSecondServer(t *testing.T) {
	srv := testdns.Start(t, testdns.Zone{Records: []string{"big.test. 60 IN TXT \"over tcp\""}, TCPOnly: []string{"big.test"}})
	dead := testdns.Start(t, testdns.Zone{Drop: []string{"big.test"}})
	r, err := NewResolver(ResolverOptions{Servers: []string{dead.Addr, srv.Addr}, Timeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	txt, err := r.LookupTXT(context.Background(), "big.test")
	if err != nil || len(txt) != 1 || txt[0] != "over tcp" {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	if dead.Total() != 1 || srv.Queries("big.test", "TXT") != 2 {
		t.Errorf("queries: dead %d, live %d; want 1 and 2 (UDP then TCP)", dead.Total(), srv.Queries("big.test", "TXT"))
	}
}

func TestNewResolverResolvConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	os.WriteFile(p, []byte("search example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o644)
	r, err := NewResolver(ResolverOptions{ResolvConf: p})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.servers) != 2 || r.servers[0] != "192.0.2.53:53" || r.servers[1] != "[2001:db8::53]:53" {
		t.Errorf("servers = %q", r.servers)
	}
	os.WriteFile(p, []byte("search example\n"), 0o644)
	if _, err := NewResolver(ResolverOptions{ResolvConf: p}); err == nil {
		t.Error("no nameserver: no error")
	}
}

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
