package mtasts

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkMemoryPerPolicy reports the heap held by a MemoryCache per
// cached policy, for a typical policy with two mx patterns.
func BenchmarkMemoryPerPolicy(b *testing.B) {
	const n = 10000
	ctx := context.Background()
	now := time.Now()
	var perPolicy float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := &MemoryCache{}
		for i := range n {
			// A fresh body, as a fetch gives: the policy must not keep it.
			body := fmt.Sprintf("version: STSv1\nmode: enforce\nmx: mx1.domain%d.example\nmx: *.mx.domain%d.example\nmax_age: 604800\n%1024s", i, i, "")
			p, err := ParsePolicy(body)
			if err != nil {
				b.Fatal(err)
			}
			domain := fmt.Sprintf("domain%d.example", i)
			_ = c.Put(ctx, &Entry{Domain: domain, ID: "20260101000000Z", Policy: p, Fetched: now})
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perPolicy = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perPolicy, "bytes/policy")
}

// BenchmarkLookupCached measures a Lookup answered from the cache within
// the grace time (no DNS).
func BenchmarkLookupCached(b *testing.B) {
	r := &fakeResolver{}
	f := &fakeFetcher{}
	r.set("_mta-sts.example.com", "v=STSv1; id=1")
	f.set("example.com", goodPolicy)
	c := &Client{Resolver: r, Fetcher: f, Grace: time.Hour}
	ctx := context.Background()
	if _, err := c.Lookup(ctx, "example.com"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if p, _ := c.Lookup(ctx, "example.com"); p == nil {
			b.Fatal("no policy")
		}
	}
}

func BenchmarkParsePolicy(b *testing.B) {
	for b.Loop() {
		if _, err := ParsePolicy(goodPolicy); err != nil {
			b.Fatal(err)
		}
	}
}
