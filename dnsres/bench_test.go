package dnsres

import (
	"context"
	"testing"
)

// BenchmarkCacheHit is one MX lookup answered from the cache.
func BenchmarkCacheHit(b *testing.B) {
	r, _ := newResolver(b, Options{})
	ctx := context.Background()
	if _, err := r.LookupMX(ctx, "example.org"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupMX(ctx, "example.org"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheHitParallel is the same from every core.
func BenchmarkCacheHitParallel(b *testing.B) {
	r, _ := newResolver(b, Options{})
	ctx := context.Background()
	r.LookupIP(ctx, "ip", "mx.example.org")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.LookupIP(ctx, "ip", "mx.example.org"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCacheMiss is one uncached lookup from a loopback server.
func BenchmarkCacheMiss(b *testing.B) {
	r, _ := newResolver(b, Options{CacheSize: -1})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.LookupMX(ctx, "example.org"); err != nil {
			b.Fatal(err)
		}
	}
}
