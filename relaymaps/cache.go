package relaymaps

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// CacheOptions configures NewCache. The zero value is usable: answers are
// kept for one minute, "not found" answers too, and at most 10,000 keys are
// remembered.
type CacheOptions struct {
	// TTL is how long a found answer is kept. Zero means one minute; a
	// negative value means found answers are not cached.
	TTL time.Duration
	// NegativeTTL is how long a "not found" answer is kept. Zero means the
	// same as TTL; a negative value means they are not cached.
	NegativeTTL time.Duration
	// MaxEntries bounds the number of cached keys; the least recently
	// used key is dropped first. Zero means 10,000; a negative value
	// means no bound.
	MaxEntries int
	// OnLookup, if set, is called after every Lookup with the name of the
	// cached table, whether the answer came from the cache (hit), whether
	// the key was found, the error, and the time the Lookup took. Callers
	// that waited for another caller's lookup of the same key count as
	// misses. It must be safe for concurrent use and should be fast.
	OnLookup func(table string, hit, found bool, err error, d time.Duration)
}

// CacheStats counts a Cache's lookups since it was created.
type CacheStats struct {
	Hits      uint64 // answered from the cache
	Misses    uint64 // answered by the table (including Coalesced)
	Coalesced uint64 // misses that waited for another caller's lookup
	Errors    uint64 // lookups that returned an error
	Evictions uint64 // entries dropped for the size bound
	Entries   int    // entries cached now (expired ones included until dropped)
}

// Cache is a Map that remembers another Map's answers: found answers for
// TTL, "not found" answers for NegativeTTL, at most MaxEntries keys (least
// recently used dropped first). Concurrent lookups of a key that is not
// cached cause one lookup in the underlying table; the other callers wait
// for its answer (or for their own context to end).
//
// Errors are never cached: a temporary failure (a database down) must not
// outlive the outage, and the next lookup asks the table again. Callers
// waiting for the same in-flight lookup share its error, except that a
// cancellation or deadline of the caller that made the lookup is not
// passed on: the waiters whose own context is still live retry.
//
// Keys are cached exactly as given; the table folds case as it does
// without a cache. A Cache is fixed or not, and is named, as the table it
// wraps, so it can replace the table anywhere. It is safe for concurrent
// use.
type Cache struct {
	m        Map
	name     string
	ttl      time.Duration
	negTTL   time.Duration
	max      int
	onLookup func(string, bool, bool, error, time.Duration)

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	lru     list.List                // front: most recently used
	flights map[string]*flight
	gen     uint64 // incremented by Purge; stale flights do not store

	hits, misses, coalesced, errs, evictions atomic.Uint64
}

type cacheEntry struct {
	key     string
	value   string
	found   bool
	expires time.Time
}

type flight struct {
	done  chan struct{}
	value string
	found bool
	err   error
	// leaderDone: the context of the caller that made the lookup ended
	// before the table answered; waiters with a live context retry.
	leaderDone bool
}

// NewCache returns a caching wrapper around m.
func NewCache(m Map, opts CacheOptions) *Cache {
	c := &Cache{
		m:        m,
		name:     NameOf(m),
		ttl:      opts.TTL,
		negTTL:   opts.NegativeTTL,
		max:      opts.MaxEntries,
		onLookup: opts.OnLookup,
		entries:  map[string]*list.Element{},
		flights:  map[string]*flight{},
	}
	if c.ttl == 0 {
		c.ttl = time.Minute
	}
	if c.negTTL == 0 {
		c.negTTL = c.ttl
	}
	if c.max == 0 {
		c.max = 10_000
	}
	return c
}

// Lookup answers from the cache, or asks the table (once for all
// concurrent callers of the same key) and caches the answer.
func (c *Cache) Lookup(ctx context.Context, key string) (string, bool, error) {
	start := time.Now()
	for {
		c.mu.Lock()
		if el, ok := c.entries[key]; ok {
			e := el.Value.(*cacheEntry)
			if start.Before(e.expires) {
				c.lru.MoveToFront(el)
				v, found := e.value, e.found
				c.mu.Unlock()
				c.hits.Add(1)
				c.report(true, found, nil, start)
				return v, found, nil
			}
			c.lru.Remove(el)
			delete(c.entries, key)
		}
		if f, ok := c.flights[key]; ok {
			c.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				err := ctx.Err()
				c.misses.Add(1)
				c.errs.Add(1)
				c.report(false, false, err, start)
				return "", false, err
			}
			if f.leaderDone && ctx.Err() == nil {
				continue // the leader gave up; try again ourselves
			}
			c.misses.Add(1)
			c.coalesced.Add(1)
			if f.err != nil {
				c.errs.Add(1)
			}
			c.report(false, f.found, f.err, start)
			return f.value, f.found, f.err
		}
		f := &flight{done: make(chan struct{})}
		c.flights[key] = f
		gen := c.gen
		c.mu.Unlock()

		c.fly(ctx, key, f, gen)
		c.misses.Add(1)
		if f.err != nil {
			c.errs.Add(1)
		}
		c.report(false, f.found, f.err, start)
		return f.value, f.found, f.err
	}
}

// fly makes the lookup for flight f, caches its answer and releases the
// waiters, also when the table panics (the panic goes on to the caller).
func (c *Cache) fly(ctx context.Context, key string, f *flight, gen uint64) {
	completed := false
	defer func() {
		if !completed {
			f.err = &LookupError{Table: c.name, Key: key, Kind: ErrTemporary, Err: errors.New("table lookup panicked")}
		}
		c.mu.Lock()
		delete(c.flights, key)
		if f.err == nil && gen == c.gen {
			c.store(key, f.value, f.found)
		}
		c.mu.Unlock()
		close(f.done)
	}()
	f.value, f.found, f.err = c.m.Lookup(ctx, key)
	f.leaderDone = f.err != nil && ctx.Err() != nil
	completed = true
}

// store caches an answer; c.mu is held.
func (c *Cache) store(key, value string, found bool) {
	ttl := c.ttl
	if !found {
		ttl = c.negTTL
	}
	if ttl < 0 {
		return
	}
	e := &cacheEntry{key: key, value: value, found: found, expires: time.Now().Add(ttl)}
	c.entries[key] = c.lru.PushFront(e)
	for c.max > 0 && c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.entries, old.Value.(*cacheEntry).key)
		c.evictions.Add(1)
	}
}

func (c *Cache) report(hit, found bool, err error, start time.Time) {
	if c.onLookup != nil {
		c.onLookup(c.name, hit, found, err, time.Since(start))
	}
}

// Invalidate drops key from the cache.
func (c *Cache) Invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.lru.Remove(el)
		delete(c.entries, key)
	}
}

// Purge drops every cached answer. Lookups in flight when Purge is called
// still answer their callers, but their answers are not cached.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[string]*list.Element{}
	c.lru.Init()
	c.gen++
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := c.lru.Len()
	c.mu.Unlock()
	return CacheStats{
		Hits:      c.hits.Load(),
		Misses:    c.misses.Load(),
		Coalesced: c.coalesced.Load(),
		Errors:    c.errs.Load(),
		Evictions: c.evictions.Load(),
		Entries:   n,
	}
}

// FixedKeys reports whether the wrapped table is fixed (see IsFixed).
func (c *Cache) FixedKeys() bool { return IsFixed(c.m) }

// Name returns the wrapped table's name.
func (c *Cache) Name() string { return c.name }

// Unwrap returns the wrapped table.
func (c *Cache) Unwrap() Map { return c.m }

// Close closes the wrapped table if it is a Closer.
func (c *Cache) Close() error {
	if cl, ok := c.m.(Closer); ok {
		return cl.Close()
	}
	return nil
}
