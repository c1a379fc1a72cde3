package mtasts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Client finds the MTA-STS policy of a domain with the cache rules of
// RFC 8461 §3.3 and §5.1. Resolver is required; the other fields have
// defaults. Fields must not change after the first Lookup. A Client is
// safe for concurrent use.
type Client struct {
	Resolver Resolver
	// Fetcher fetches policies; nil means &Fetcher{Resolver: Resolver}
	// (system roots, one-minute timeout).
	Fetcher PolicyFetcher
	// Cache stores policies; nil means a MemoryCache.
	Cache Cache
	// Grace is how long after a TXT check a cached policy is used
	// without asking DNS again; 0 means every Lookup checks the TXT id.
	Grace time.Duration
	// RetryInterval is how long after a failed fetch for a domain and id
	// the Client waits before fetching again (RFC 8461 §3.3: no more
	// than once every 5 minutes per id); meanwhile Lookup answers as if
	// the fetch had failed again. 0 means 5 minutes, a negative value no
	// wait.
	RetryInterval time.Duration
	// Logger receives cache errors and the reasons a cached policy was
	// kept; nil means slog.Default().
	Logger *slog.Logger

	once     sync.Once
	mu       sync.Mutex
	checked  map[string]time.Time // domain → last TXT check, for Grace
	failed   map[string]failure   // domain → last failed fetch
	inflight map[string]*call     // "domain id" → fetch in progress
}

type failure struct {
	id  string
	at  time.Time
	err error
}

func (c *Client) init() {
	if c.Fetcher == nil {
		c.Fetcher = &Fetcher{Resolver: c.Resolver}
	}
	if c.Cache == nil {
		c.Cache = &MemoryCache{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.checked = map[string]time.Time{}
	c.failed = map[string]failure{}
	c.inflight = map[string]*call{}
	if c.RetryInterval == 0 {
		c.RetryInterval = 5 * time.Minute
	}
}

// NormalizeDomain lower-cases domain and drops a trailing dot; it fails
// for names that are not host names in A-labels.
func NormalizeDomain(domain string) (string, error) {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	if !validDomain(d) {
		return "", fmt.Errorf("mtasts: invalid domain %q", domain)
	}
	return d, nil
}

// Lookup returns the policy that applies to mail for domain:
//
//   - a cached policy that has not expired is used as long as the TXT
//     record has the id it was fetched for, and also when the TXT record
//     is missing, invalid or cannot be looked up, or the new policy cannot
//     be fetched;
//   - a new id refetches; a policy is cached for its max_age (max_age 0:
//     not cached); expired entries are dropped;
//   - with nothing usable cached: a temporary DNS failure on the TXT
//     record returns an error matching ErrTemporary (try later, never "no
//     policy"); no valid record returns nil, nil (no policy); a failed
//     fetch returns nil and a *FetchError, which RFC 8461 §3.3 says to
//     treat as no policy (it is returned for logging and TLS-RPT).
//
// The Policy returned may be shared with the cache: do not modify it.
// Mode none is returned like the others; callers treat it as no policy.
func (c *Client) Lookup(ctx context.Context, domain string) (*Policy, error) {
	c.once.Do(c.init)
	domain, err := NormalizeDomain(domain)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	e, err := c.Cache.Get(ctx, domain)
	if err != nil {
		c.Logger.Warn("mtasts: cache get failed", "domain", domain, "err", err)
		e = nil
	}
	if e != nil && !now.Before(e.Expires()) {
		if err := c.Cache.Delete(ctx, domain); err != nil {
			c.Logger.Warn("mtasts: cache delete failed", "domain", domain, "err", err)
		}
		e = nil
	}
	if e != nil && c.Grace > 0 {
		c.mu.Lock()
		t, ok := c.checked[domain]
		c.mu.Unlock()
		if ok && now.Sub(t) < c.Grace {
			return e.Policy, nil
		}
	}
	rec, err := LookupRecord(ctx, c.Resolver, domain)
	if err != nil {
		if e != nil {
			c.Logger.Debug("mtasts: using cached policy", "domain", domain, "err", err)
			return e.Policy, nil
		}
		if errors.Is(err, ErrTemporary) {
			return nil, err
		}
		return nil, nil
	}
	if e != nil && e.ID == rec.ID {
		c.markChecked(domain, now)
		return e.Policy, nil
	}
	p, err := c.fetchStore(ctx, domain, rec.ID, now)
	if err != nil {
		if e != nil {
			c.Logger.Warn("mtasts: policy fetch failed, using cached policy", "domain", domain, "err", err)
			return e.Policy, nil
		}
		return nil, err
	}
	return p, nil
}

func (c *Client) markChecked(domain string, now time.Time) {
	if c.Grace <= 0 {
		return
	}
	c.mu.Lock()
	c.checked[domain] = now
	c.mu.Unlock()
}

// fetchStore fetches the policy of domain for the TXT id and caches it.
// Concurrent calls for the same domain and id share one fetch (and its
// outcome, the first caller's cancellation included).
func (c *Client) fetchStore(ctx context.Context, domain, id string, now time.Time) (*Policy, error) {
	key := domain + " " + id
	c.mu.Lock()
	if cl, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.p, cl.err
		case <-ctx.Done():
			return nil, &FetchError{Domain: domain, URL: "https://mta-sts." + domain + WellKnownPath, Kind: FetchFailed, Err: ctx.Err()}
		}
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[key] = cl
	c.mu.Unlock()
	cl.p, cl.err = c.fetchStore1(ctx, domain, id, now)
	c.mu.Lock()
	delete(c.inflight, key)
	c.mu.Unlock()
	close(cl.done)
	return cl.p, cl.err
}

type call struct {
	done chan struct{}
	p    *Policy
	err  error
}

func (c *Client) fetchStore1(ctx context.Context, domain, id string, now time.Time) (*Policy, error) {
	if c.RetryInterval > 0 {
		c.mu.Lock()
		f, ok := c.failed[domain]
		c.mu.Unlock()
		if ok && f.id == id && now.Sub(f.at) < c.RetryInterval {
			return nil, f.err
		}
	}
	p, err := c.Fetcher.Fetch(ctx, domain)
	if err != nil {
		if c.RetryInterval > 0 && ctx.Err() == nil {
			c.mu.Lock()
			if len(c.failed) >= 10000 {
				for d, f := range c.failed {
					if now.Sub(f.at) >= c.RetryInterval {
						delete(c.failed, d)
					}
				}
			}
			c.failed[domain] = failure{id, now, err}
			c.mu.Unlock()
		}
		return nil, err
	}
	if c.RetryInterval > 0 {
		c.mu.Lock()
		delete(c.failed, domain)
		c.mu.Unlock()
	}
	if p.MaxAge > 0 {
		if err := c.Cache.Put(ctx, &Entry{Domain: strings.Clone(domain), ID: strings.Clone(id), Policy: p, Fetched: now}); err != nil {
			c.Logger.Warn("mtasts: cache put failed", "domain", domain, "err", err)
		}
		c.markChecked(domain, now)
	}
	return p, nil
}

// Refresh fetches the policy of domain again, whatever its id, and
// caches it. When the TXT record is gone or the fetch fails, the cache is
// left alone (a cached policy lives out its max_age) and the error is
// returned.
func (c *Client) Refresh(ctx context.Context, domain string) error {
	c.once.Do(c.init)
	domain, err := NormalizeDomain(domain)
	if err != nil {
		return err
	}
	rec, err := LookupRecord(ctx, c.Resolver, domain)
	if err != nil {
		return err
	}
	_, err = c.fetchStore(ctx, domain, rec.ID, time.Now())
	return err
}

// Refresher refreshes cached policies before they expire (RFC 8461 §3.3:
// senders should refresh policies proactively). Every Interval it lists
// the cache and refreshes the unexpired entries whose remaining lifetime
// is below Threshold; expired entries are deleted.
type Refresher struct {
	Client *Client
	// Interval between runs; 0 means one hour.
	Interval time.Duration
	// Threshold: entries expiring sooner than this are refreshed; 0
	// means twice Interval.
	Threshold time.Duration
	// Concurrency limits parallel refreshes; 0 means 10.
	Concurrency int
}

// Run refreshes every Interval until ctx is done, then returns ctx.Err().
func (r *Refresher) Run(ctx context.Context) error {
	interval := r.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if _, err := r.RefreshOnce(ctx); err != nil {
				r.Client.Logger.Warn("mtasts: refresh failed", "err", err)
			}
		}
	}
}

// RefreshOnce does one run and returns how many policies were refreshed.
// Only a failure to list the cache is an error; failed refreshes are
// logged.
func (r *Refresher) RefreshOnce(ctx context.Context) (int, error) {
	c := r.Client
	c.once.Do(c.init)
	interval := r.Interval
	if interval <= 0 {
		interval = time.Hour
	}
	threshold := r.Threshold
	if threshold <= 0 {
		threshold = 2 * interval
	}
	conc := r.Concurrency
	if conc <= 0 {
		conc = 10
	}
	entries, err := c.Cache.List(ctx)
	if err != nil {
		return 0, err
	}
	now := time.Now()
	var due []string
	for _, e := range entries {
		left := e.Expires().Sub(now)
		if left <= 0 {
			if err := c.Cache.Delete(ctx, e.Domain); err != nil {
				c.Logger.Warn("mtasts: cache delete failed", "domain", e.Domain, "err", err)
			}
			continue
		}
		if left < threshold {
			due = append(due, e.Domain)
		}
	}
	return c.RefreshDomains(ctx, due, conc), nil
}

// RefreshDomains refreshes the policies of domains, at most concurrency
// at a time (1 when concurrency < 1), and returns how many were
// refreshed; failures are logged. When ctx ends it starts no more and
// waits for those under way.
func (c *Client) RefreshDomains(ctx context.Context, domains []string, concurrency int) int {
	c.once.Do(c.init)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		n   int
		sem = make(chan struct{}, max(concurrency, 1))
	)
	for _, d := range domains {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return n
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := c.Refresh(ctx, d); err != nil {
				c.Logger.Info("mtasts: refresh failed", "domain", d, "err", err)
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
		})
	}
	wg.Wait()
	return n
}
