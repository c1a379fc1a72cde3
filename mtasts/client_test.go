package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/internal/testdns"
)

// TestClientNetwork runs the discovery and cache rules over a real DNS
// server and a real HTTPS server.
func TestClientNetwork(t *testing.T) {
	ca := newCA(t, "test CA")
	policy := goodPolicy
	srv := startServer(t, ca.leaf(t, "mta-sts.example.com", "mta-sts.dup.example", "mta-sts.bad.example"), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, policy)
	})
	zone := func(id string) testdns.Zone {
		return testdns.Zone{
			Records: []string{
				`_mta-sts.example.com. 0 IN TXT "v=STSv1; " "id=` + id + `"`,
				`_mta-sts.example.com. 0 IN TXT "v=spf1 -all"`,
				`_mta-sts.dup.example. 0 IN TXT "v=STSv1; id=1"`,
				`_mta-sts.dup.example. 0 IN TXT "v=STSv1; id=2"`,
				`_mta-sts.bad.example. 0 IN TXT "v=STSv1; id=no-dashes"`,
				`mta-sts.example.com. 0 IN A 127.0.0.1`,
				`mta-sts.dup.example. 0 IN A 127.0.0.1`,
				`mta-sts.bad.example. 0 IN A 127.0.0.1`,
			},
			ServFail:    []string{"_mta-sts.servfail.example"},
			Drop:        []string{"_mta-sts.drop.example"},
			NegativeTTL: -1,
		}
	}
	dns := testdns.Start(t, zone("1"))
	res := newResolver(t, dns)
	var dialled []string
	c := &Client{Resolver: res, Fetcher: &Fetcher{Resolver: res, RootCAs: ca.pool, Dial: dialTo(srv.port(), &dialled)}}
	ctx := context.Background()

	p, err := c.Lookup(ctx, "Example.COM.")
	if err != nil || p == nil || p.Mode != ModeEnforce || !p.Match("mail.example.com") {
		t.Fatalf("Lookup = %+v, %v", p, err)
	}
	// Same id: no fetch.
	if p, err := c.Lookup(ctx, "example.com"); err != nil || p == nil || srv.count() != 1 {
		t.Fatalf("second Lookup = %+v, %v after %d fetches, want the cached policy and 1 fetch", p, err, srv.count())
	}
	if n := dns.Queries("_mta-sts.example.com", "TXT"); n != 2 {
		t.Errorf("%d TXT queries, want 2", n)
	}
	// New id: refetch, new policy.
	policy = "version: STSv1\nmode: testing\nmx: other.example.com\nmax_age: 600\n"
	if err := dns.SetZone(zone("2")); err != nil {
		t.Fatal(err)
	}
	p, err = c.Lookup(ctx, "example.com")
	if err != nil || p == nil || p.Mode != ModeTesting || srv.count() != 2 {
		t.Fatalf("after id change: %+v, %v, %d fetches; want the testing policy, 2 fetches", p, err, srv.count())
	}
	// The TXT record disappears: the cached policy still applies.
	if err := dns.SetZone(testdns.Zone{NegativeTTL: -1}); err != nil {
		t.Fatal(err)
	}
	p, err = c.Lookup(ctx, "example.com")
	if err != nil || p == nil || p.Mode != ModeTesting || srv.count() != 2 {
		t.Fatalf("TXT gone: %+v, %v, %d fetches; want the cached testing policy", p, err, srv.count())
	}
	if err := dns.SetZone(zone("3")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		domain string
		temp   bool
	}{
		{"dup.example", false},     // two v=STSv1 records: no policy
		{"bad.example", false},     // invalid record: no policy
		{"none.example", false},    // NXDOMAIN: no policy
		{"servfail.example", true}, // SERVFAIL: temporary
		{"drop.example", true},     // timeout: temporary
	} {
		p, err := c.Lookup(ctx, tc.domain)
		if p != nil || (err != nil) != tc.temp || (tc.temp && !errors.Is(err, ErrTemporary)) {
			t.Errorf("Lookup(%s) = %+v, %v; want no policy, temporary=%v", tc.domain, p, err, tc.temp)
		}
	}
	if srv.count() != 2 {
		t.Errorf("%d fetches, want no more than 2", srv.count())
	}
	// An invalid domain.
	if _, err := c.Lookup(ctx, "a..b"); err == nil || err.Error() != `mtasts: invalid domain "a..b"` {
		t.Errorf("Lookup(a..b): %v", err)
	}
}

func TestLookupRecord(t *testing.T) {
	r := &fakeResolver{}
	r.set("_mta-sts.one.example", "v=spf1 -all", "v=STSv1; id=abc", "v=STSv10; id=x")
	r.set("_mta-sts.two.example", "v=STSv1; id=abc", "v=STSv1;id=def")
	r.set("_mta-sts.zero.example", "v=spf1 -all", "STSv1; id=1")
	r.fail("_mta-sts.temp.example", &dnsres.Error{Name: "_mta-sts.temp.example", Type: "TXT", Kind: dnsres.ErrTemporary, Rcode: 2})
	ctx := context.Background()
	if rec, err := LookupRecord(ctx, r, "one.example"); err != nil || rec.ID != "abc" {
		t.Errorf("one: %v, %v", rec, err)
	}
	for domain, want := range map[string]struct {
		is  error
		msg string
	}{
		"two.example":  {ErrMultipleRecords, "mtasts: _mta-sts.two.example: more than one record (2)"},
		"zero.example": {ErrNoRecord, "mtasts: _mta-sts.zero.example: no record"},
		"nx.example":   {ErrNoRecord, "mtasts: _mta-sts.nx.example: no record"},
		"temp.example": {ErrTemporary, "mtasts: _mta-sts.temp.example: temporary DNS failure: lookup _mta-sts.temp.example TXT: temporary failure (SERVFAIL)"},
	} {
		_, err := LookupRecord(ctx, r, domain)
		if !errors.Is(err, want.is) || err.Error() != want.msg {
			t.Errorf("%s: %v, want %q", domain, err, want.msg)
		}
	}
	r.set("_smtp._tls.one.example", "v=TLSRPTv1; rua=mailto:r@one.example", "v=STSv1; id=1")
	r.set("_smtp._tls.two.example", "v=TLSRPTv1; rua=mailto:r@one.example", "v=TLSRPTv1;rua=https://x.example/")
	r.set("_smtp._tls.bad.example", "v=TLSRPTv1; rua=r@one.example")
	if rec, err := LookupTLSRPT(ctx, r, "one.example"); err != nil || len(rec.RUA) != 1 || rec.RUA[0].String() != "mailto:r@one.example" {
		t.Errorf("TLSRPT one: %v, %v", rec, err)
	}
	if _, err := LookupTLSRPT(ctx, r, "two.example"); !errors.Is(err, ErrMultipleRecords) {
		t.Errorf("TLSRPT two: %v", err)
	}
	if _, err := LookupTLSRPT(ctx, r, "bad.example"); !errors.Is(err, ErrInvalidRecord) ||
		err.Error() != `mtasts: _smtp._tls.bad.example: invalid record: rua URI "r@one.example": no scheme` {
		t.Errorf("TLSRPT bad: %v", err)
	}
}

// TestClientCacheRules checks the cache rules with fake time.
func TestClientCacheRules(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeResolver{}
		f := &fakeFetcher{}
		cache := &MemoryCache{}
		c := &Client{Resolver: r, Fetcher: f, Cache: cache}
		ctx := context.Background()
		r.set("_mta-sts.example.com", "v=STSv1; id=1")
		f.set("example.com", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 3600\n")
		lookup := func(wantMode Mode, wantFetches int) {
			t.Helper()
			p, err := c.Lookup(ctx, "example.com")
			mode := Mode("")
			if p != nil {
				mode = p.Mode
			}
			if err != nil || mode != wantMode || f.count("example.com") != wantFetches {
				t.Fatalf("at %v: Lookup = %q, %v after %d fetches; want %q after %d", time.Now(), mode, err, f.count("example.com"), wantMode, wantFetches)
			}
		}
		lookup(ModeEnforce, 1)
		time.Sleep(30 * time.Minute)
		lookup(ModeEnforce, 1) // same id
		// The fetch fails for a new id: the cached policy stays.
		r.set("_mta-sts.example.com", "v=STSv1; id=2")
		f.set("example.com", "version: STSv1\nmode: bogus\n")
		lookup(ModeEnforce, 2)
		// DNS fails: the cached policy stays.
		r.fail("_mta-sts.example.com", dnsres.ErrTemporary)
		lookup(ModeEnforce, 2)
		// The record is gone: the cached policy stays until it expires.
		r.set("_mta-sts.example.com")
		lookup(ModeEnforce, 2)
		time.Sleep(30*time.Minute - time.Second)
		lookup(ModeEnforce, 2)
		time.Sleep(time.Second) // max_age reached
		lookup("", 2)
		if cache.Len() != 0 {
			t.Errorf("expired entry kept")
		}
		// Expired with the record back: refetch.
		r.set("_mta-sts.example.com", "v=STSv1; id=2")
		f.set("example.com", "version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 60\n")
		lookup(ModeTesting, 3)
		time.Sleep(time.Minute)
		lookup(ModeTesting, 4) // expired, same id: refetch
		// max_age 0: used once, not cached.
		f.set("example.com", "version: STSv1\nmode: none\nmax_age: 0\n")
		time.Sleep(time.Minute)
		lookup(ModeNone, 5)
		lookup(ModeNone, 6)
		if cache.Len() != 0 {
			t.Errorf("max_age 0 was cached")
		}
		// A fetch error with nothing cached is returned.
		r.set("_mta-sts.example.com", "v=STSv1; id=3")
		f.set("example.com", "version: STSv1\nmode: bogus\n")
		p, err := c.Lookup(ctx, "example.com")
		var fe *FetchError
		if p != nil || !errors.As(err, &fe) || fe.Kind != PolicyInvalid || errors.Is(err, ErrTemporary) {
			t.Errorf("fetch error: %v, %v", p, err)
		}
	})
}

func TestClientGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeResolver{}
		f := &fakeFetcher{}
		c := &Client{Resolver: r, Fetcher: f, Grace: time.Minute}
		r.set("_mta-sts.example.com", "v=STSv1; id=1")
		f.set("example.com", goodPolicy)
		for range 3 {
			if p, err := c.Lookup(context.Background(), "example.com"); p == nil || err != nil {
				t.Fatal(p, err)
			}
		}
		if n := r.n["_mta-sts.example.com"]; n != 1 {
			t.Errorf("%d TXT lookups within the grace time, want 1", n)
		}
		time.Sleep(time.Minute)
		c.Lookup(context.Background(), "example.com")
		if n := r.n["_mta-sts.example.com"]; n != 2 {
			t.Errorf("%d TXT lookups after the grace time, want 2", n)
		}
	})
}

func TestRefresher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeResolver{}
		f := &fakeFetcher{}
		cache := &MemoryCache{}
		c := &Client{Resolver: r, Fetcher: f, Cache: cache}
		ctx, cancel := context.WithCancel(context.Background())
		for _, d := range []string{"short.example", "long.example", "gone.example"} {
			r.set("_mta-sts."+d, "v=STSv1; id=1")
		}
		f.set("short.example", "version: STSv1\nmode: enforce\nmx: mx.short.example\nmax_age: 7200\n") // 2 h
		f.set("long.example", "version: STSv1\nmode: enforce\nmx: mx.long.example\nmax_age: 86400\n")  // 1 day
		f.set("gone.example", "version: STSv1\nmode: enforce\nmx: mx.gone.example\nmax_age: 5400\n")   // 1.5 h
		for _, d := range []string{"short.example", "long.example", "gone.example"} {
			if _, err := c.Lookup(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		r.set("_mta-sts.gone.example") // its record disappears
		start := time.Now()
		rf := &Refresher{Client: c, Interval: 30 * time.Minute, Threshold: time.Hour}
		done := make(chan error)
		go func() { done <- rf.Run(ctx) }()

		// At 30 min: short has 1.5 h left, gone 1 h: nothing to do.
		time.Sleep(30*time.Minute + time.Second)
		synctest.Wait()
		if f.count("short.example") != 1 || f.count("gone.example") != 1 {
			t.Errorf("refreshed too early")
		}
		// At 60 min: short has 1 h left (not below), gone 30 min: refresh
		// attempted, but its record is gone: no fetch, entry kept.
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if f.count("short.example") != 1 || f.count("gone.example") != 1 {
			t.Errorf("at 60 min: fetches short %d gone %d", f.count("short.example"), f.count("gone.example"))
		}
		if e, _ := cache.Get(ctx, "gone.example"); e == nil {
			t.Errorf("gone.example dropped before expiry")
		}
		// At 90 min: short has 30 min left: refreshed, with a new lifetime;
		// gone has expired: deleted.
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if f.count("short.example") != 2 || f.count("long.example") != 1 {
			t.Errorf("at 90 min: fetches short %d long %d", f.count("short.example"), f.count("long.example"))
		}
		if e, _ := cache.Get(ctx, "short.example"); e == nil || !e.Fetched.After(start) {
			t.Errorf("short.example not refreshed: %+v", e)
		}
		if e, _ := cache.Get(ctx, "gone.example"); e != nil {
			t.Errorf("expired gone.example kept")
		}
		// The refreshed policy is used without fetching.
		if p, err := c.Lookup(ctx, "short.example"); p == nil || err != nil || f.count("short.example") != 2 {
			t.Errorf("Lookup after refresh: %v, %v", p, err)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
}

func TestClientRetryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeResolver{}
		f := &fakeFetcher{}
		c := &Client{Resolver: r, Fetcher: f}
		ctx := context.Background()
		r.set("_mta-sts.example.com", "v=STSv1; id=1")
		_, err1 := c.Lookup(ctx, "example.com")
		_, err2 := c.Lookup(ctx, "example.com")
		if err1 == nil || err2 != err1 || f.count("example.com") != 1 {
			t.Fatalf("errors %v, %v after %d fetches; want the same error, 1 fetch", err1, err2, f.count("example.com"))
		}
		// A new id is fetched at once.
		r.set("_mta-sts.example.com", "v=STSv1; id=2")
		c.Lookup(ctx, "example.com")
		if n := f.count("example.com"); n != 2 {
			t.Fatalf("%d fetches after an id change, want 2", n)
		}
		f.set("example.com", goodPolicy)
		time.Sleep(5*time.Minute - time.Second)
		if p, _ := c.Lookup(ctx, "example.com"); p != nil || f.count("example.com") != 2 {
			t.Fatalf("retried before 5 minutes")
		}
		time.Sleep(time.Second)
		if p, err := c.Lookup(ctx, "example.com"); p == nil || err != nil || f.count("example.com") != 3 {
			t.Fatalf("after 5 minutes: %v, %v, %d fetches", p, err, f.count("example.com"))
		}
		// RetryInterval < 0: no wait.
		c2 := &Client{Resolver: r, Fetcher: f, RetryInterval: -1}
		r.set("_mta-sts.other.example", "v=STSv1; id=1")
		c2.Lookup(ctx, "other.example")
		c2.Lookup(ctx, "other.example")
		if n := f.count("other.example"); n != 2 {
			t.Errorf("%d fetches with RetryInterval -1, want 2", n)
		}
	})
}

// blockingFetcher waits for release before fetching.
type blockingFetcher struct {
	fakeFetcher
	release chan struct{}
}

func (f *blockingFetcher) Fetch(ctx context.Context, domain string) (*Policy, error) {
	<-f.release
	return f.fakeFetcher.Fetch(ctx, domain)
}

func TestClientSharedFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &fakeResolver{}
		f := &blockingFetcher{release: make(chan struct{})}
		c := &Client{Resolver: r, Fetcher: f}
		r.set("_mta-sts.example.com", "v=STSv1; id=1")
		f.set("example.com", goodPolicy)
		results := make(chan *Policy, 5)
		for range 5 {
			go func() {
				p, _ := c.Lookup(context.Background(), "example.com")
				results <- p
			}()
		}
		synctest.Wait()
		close(f.release)
		var first *Policy
		for i := range 5 {
			p := <-results
			if i == 0 {
				first = p
			}
			if p == nil || p != first {
				t.Errorf("lookup %d: %p, want the shared policy %p", i, p, first)
			}
		}
		if n := f.count("example.com"); n != 1 {
			t.Errorf("%d fetches for 5 concurrent lookups, want 1", n)
		}
	})
}
