package relaymaps_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxkit/mxkit/relaymaps"
	"github.com/mxkit/mxkit/relaymaps/relaymapstest"
)

// countingMap answers from d and counts lookups per key; fail makes it
// return a temporary error.
type countingMap struct {
	d     relaymaps.Dict
	mu    sync.Mutex
	calls map[string]int
	fail  atomic.Bool
	delay time.Duration
}

func newCountingMap(d relaymaps.Dict) *countingMap {
	return &countingMap{d: d, calls: map[string]int{}}
}

func (c *countingMap) Lookup(ctx context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	c.calls[key]++
	c.mu.Unlock()
	if c.delay > 0 {
		select {
		case <-time.After(c.delay):
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
	if c.fail.Load() {
		return "", false, &relaymaps.LookupError{Table: "count:test", Key: key, Kind: relaymaps.ErrTemporary}
	}
	return c.d.Lookup(ctx, key)
}

func (c *countingMap) Name() string { return "count:test" }

func (c *countingMap) n(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[key]
}

func TestCacheConformance(t *testing.T) {
	c := relaymaps.NewCache(relaymaps.Dict{"a@example.com": "OK", "example.net": "RELAY"}, relaymaps.CacheOptions{})
	relaymapstest.TestMap(t, c, map[string]string{"a@example.com": "OK", "A@Example.COM": "OK", "example.net": "RELAY"},
		[]string{"b@example.com", "example.org"})
}

func TestCacheTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newCountingMap(relaymaps.Dict{"k": "v"})
		c := relaymaps.NewCache(m, relaymaps.CacheOptions{TTL: 10 * time.Second, NegativeTTL: 2 * time.Second})
		ctx := context.Background()
		look := func(key, want string, wantFound bool) {
			t.Helper()
			v, ok, err := c.Lookup(ctx, key)
			if err != nil || v != want || ok != wantFound {
				t.Fatalf("Lookup(%q) = %q, %v, %v", key, v, ok, err)
			}
		}
		look("k", "v", true)
		look("k", "v", true)
		look("x", "", false)
		look("x", "", false)
		if m.n("k") != 1 || m.n("x") != 1 {
			t.Fatalf("calls: k=%d x=%d, want 1 and 1", m.n("k"), m.n("x"))
		}
		time.Sleep(2 * time.Second) // negative entry expires (expiry is exclusive)
		look("x", "", false)
		look("k", "v", true)
		if m.n("k") != 1 || m.n("x") != 2 {
			t.Fatalf("after 2s: k=%d x=%d, want 1 and 2", m.n("k"), m.n("x"))
		}
		time.Sleep(8 * time.Second)
		look("k", "v", true)
		if m.n("k") != 2 {
			t.Fatalf("after 10s: k=%d, want 2", m.n("k"))
		}
		st := c.Stats()
		if st.Hits != 3 || st.Misses != 4 || st.Entries != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestCacheErrorsNotCached(t *testing.T) {
	m := newCountingMap(relaymaps.Dict{"k": "v"})
	var events []string
	c := relaymaps.NewCache(m, relaymaps.CacheOptions{OnLookup: func(table string, hit, found bool, err error, d time.Duration) {
		events = append(events, table+" "+map[bool]string{true: "hit", false: "miss"}[hit]+" "+map[bool]string{true: "found", false: "notfound"}[found]+" "+map[bool]string{true: "err", false: "ok"}[err != nil])
	}})
	ctx := context.Background()
	m.fail.Store(true)
	if _, _, err := c.Lookup(ctx, "k"); !errors.Is(err, relaymaps.ErrTemporary) {
		t.Fatalf("err = %v", err)
	}
	m.fail.Store(false)
	if v, ok, err := c.Lookup(ctx, "k"); v != "v" || !ok || err != nil {
		t.Fatalf("after recovery: %q %v %v", v, ok, err)
	}
	if v, ok, err := c.Lookup(ctx, "k"); v != "v" || !ok || err != nil {
		t.Fatalf("cached: %q %v %v", v, ok, err)
	}
	want := []string{"count:test miss notfound err", "count:test miss found ok", "count:test hit found ok"}
	if len(events) != 3 || events[0] != want[0] || events[1] != want[1] || events[2] != want[2] {
		t.Fatalf("events %q, want %q", events, want)
	}
	if m.n("k") != 2 {
		t.Fatalf("calls %d, want 2", m.n("k"))
	}
	if st := c.Stats(); st.Errors != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheSizeBound(t *testing.T) {
	m := newCountingMap(relaymaps.Dict{"a": "1", "b": "2", "c": "3"})
	c := relaymaps.NewCache(m, relaymaps.CacheOptions{MaxEntries: 2})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "a", "c", "a", "b"} { // c evicts b (a was used more recently)
		_, _, _ = c.Lookup(ctx, k)
	}
	if m.n("a") != 1 || m.n("b") != 2 || m.n("c") != 1 {
		t.Fatalf("calls a=%d b=%d c=%d, want 1 2 1", m.n("a"), m.n("b"), m.n("c"))
	}
	if st := c.Stats(); st.Evictions != 2 || st.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
	c.Purge()
	_, _, _ = c.Lookup(ctx, "a")
	c.Invalidate("a")
	_, _, _ = c.Lookup(ctx, "a")
	if m.n("a") != 3 {
		t.Fatalf("after Purge and Invalidate: a=%d, want 3", m.n("a"))
	}
}

func TestCacheSingleFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newCountingMap(relaymaps.Dict{"k": "v"})
		m.delay = time.Second
		c := relaymaps.NewCache(m, relaymaps.CacheOptions{})
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				if v, ok, err := c.Lookup(context.Background(), "k"); v != "v" || !ok || err != nil {
					t.Errorf("Lookup = %q %v %v", v, ok, err)
				}
			})
		}
		wg.Wait()
		if m.n("k") != 1 {
			t.Fatalf("%d lookups for 50 concurrent misses, want 1", m.n("k"))
		}
		if st := c.Stats(); st.Misses != 50 || st.Coalesced != 49 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestCacheLeaderCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newCountingMap(relaymaps.Dict{"k": "v"})
		m.delay = time.Second
		c := relaymaps.NewCache(m, relaymaps.CacheOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		leaderErr := make(chan error, 1)
		go func() {
			_, _, err := c.Lookup(ctx, "k")
			leaderErr <- err
		}()
		synctest.Wait() // the leader is waiting in the table
		waiter := make(chan string, 1)
		go func() {
			v, _, err := c.Lookup(context.Background(), "k")
			if err != nil {
				v = err.Error()
			}
			waiter <- v
		}()
		synctest.Wait()
		cancel()
		if err := <-leaderErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("leader: %v", err)
		}
		if v := <-waiter; v != "v" {
			t.Fatalf("waiter got %q, want the table's answer after retrying", v)
		}
		if m.n("k") != 2 {
			t.Fatalf("calls %d, want 2", m.n("k"))
		}
		// A waiter whose own context ends stops waiting.
		m.delay = time.Hour
		c.Purge()
		go func() { _, _, _ = c.Lookup(context.Background(), "k") }()
		synctest.Wait()
		wctx, wcancel := context.WithTimeout(context.Background(), time.Second)
		defer wcancel()
		if _, _, err := c.Lookup(wctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waiter with deadline: %v", err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
	})
}

func TestCacheFixedAndName(t *testing.T) {
	cidr := mustOpen(t, "cidr:{ {10.0.0.0/8 x} }", nil)
	c := relaymaps.NewCache(cidr, relaymaps.CacheOptions{})
	if relaymaps.IsFixed(c) || relaymaps.NameOf(c) != "cidr:{ {10.0.0.0/8 x} }" || c.Unwrap() != cidr {
		t.Fatalf("fixed=%v name=%q", relaymaps.IsFixed(c), relaymaps.NameOf(c))
	}
	if !relaymaps.IsFixed(relaymaps.NewCache(relaymaps.Dict{}, relaymaps.CacheOptions{})) {
		t.Fatal("cache of a Dict is not fixed")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCacheNoNegative(t *testing.T) {
	m := newCountingMap(relaymaps.Dict{"k": "v"})
	c := relaymaps.NewCache(m, relaymaps.CacheOptions{NegativeTTL: -1})
	ctx := context.Background()
	for range 3 {
		_, _, _ = c.Lookup(ctx, "x")
		_, _, _ = c.Lookup(ctx, "k")
	}
	if m.n("x") != 3 || m.n("k") != 1 {
		t.Fatalf("calls x=%d k=%d, want 3 1", m.n("x"), m.n("k"))
	}
}
