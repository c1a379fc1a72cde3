package relaymaps_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mxkit/mxkit/relaymaps"
)

// writeBigTable writes an n-entry access(5) style table and returns its
// path and size.
func writeBigTable(b *testing.B, n int) (string, int64) {
	b.Helper()
	p := filepath.Join(b.TempDir(), "big")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, "user%d@domain%d.example OK\n", i, i%1000)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return p, fi.Size()
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkTextTableLoad1M loads a 1,000,000-entry text table. It reports
// the seconds per load (s/load, without the forced garbage collections that
// ns/op includes), the file size and the heap the loaded table keeps.
func BenchmarkTextTableLoad1M(b *testing.B) {
	p, size := writeBigTable(b, 1_000_000)
	opts := &relaymaps.OpenOptions{CheckInterval: -1}
	b.ReportAllocs()
	b.SetBytes(size)
	var retained uint64
	var loading time.Duration
	var tab *relaymaps.TextTable
	for b.Loop() {
		tab = nil
		before := heapInUse() // forced GCs are not counted in s/load
		start := time.Now()
		var err error
		tab, err = relaymaps.OpenTextTable("texthash", p, opts)
		if err != nil {
			b.Fatal(err)
		}
		loading += time.Since(start)
		retained = heapInUse() - before
	}
	if tab.Len() != 1_000_000 {
		b.Fatalf("loaded %d keys", tab.Len())
	}
	b.ReportMetric(loading.Seconds()/float64(b.N), "s/load")
	b.ReportMetric(float64(size)/1e6, "MB-file")
	b.ReportMetric(float64(retained)/1e6, "MB-heap")
}

// BenchmarkTextTableLookup1M looks up keys, found and not found, in a
// 1,000,000-entry text table.
func BenchmarkTextTableLookup1M(b *testing.B) {
	p, _ := writeBigTable(b, 1_000_000)
	tab, err := relaymaps.OpenTextTable("texthash", p, &relaymaps.OpenOptions{CheckInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 4096)
	for i := range keys {
		if i%2 == 0 {
			keys[i] = fmt.Sprintf("User%d@Domain%d.example", i*241, (i*241)%1000)
		} else {
			keys[i] = fmt.Sprintf("nobody%d@domain.example", i)
		}
	}
	ctx := context.Background()
	b.ReportAllocs()
	i, found := 0, 0
	for b.Loop() {
		if _, ok, _ := tab.Lookup(ctx, keys[i%len(keys)]); ok {
			found++
		}
		i++
	}
	if found == 0 {
		b.Fatal("nothing found")
	}
}

// slowMap answers after a delay, like a database on the network.
func slowMap(d time.Duration) relaymaps.Map {
	return relaymaps.MapFunc(func(ctx context.Context, key string) (string, bool, error) {
		time.Sleep(d)
		if len(key)%2 == 0 {
			return "OK", true, nil
		}
		return "", false, nil
	})
}

// BenchmarkCacheLookup compares lookups through a Cache with direct
// lookups in a table that takes 100µs per answer (a fast SQL server on
// the network). Keys repeat, as recipients of busy domains do.
func BenchmarkCacheLookup(b *testing.B) {
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = fmt.Sprintf("user%d@example.com", i)
	}
	ctx := context.Background()
	b.Run("uncached", func(b *testing.B) {
		m := slowMap(100 * time.Microsecond)
		i := 0
		for b.Loop() {
			_, _, _ = m.Lookup(ctx, keys[i%len(keys)])
			i++
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := relaymaps.NewCache(slowMap(100*time.Microsecond), relaymaps.CacheOptions{})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_, _, _ = c.Lookup(ctx, keys[i%len(keys)])
			i++
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		c := relaymaps.NewCache(slowMap(100*time.Microsecond), relaymaps.CacheOptions{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_, _, _ = c.Lookup(ctx, keys[i%len(keys)])
				i++
			}
		})
	})
}

func BenchmarkRegexpLookup(b *testing.B) {
	m, err := relaymaps.ParseRegexpTable("bench", regexpSample)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = m.Lookup(ctx, "list-outgoing@lists.example")
	}
}
