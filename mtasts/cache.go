package mtasts

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Entry is a cached policy.
type Entry struct {
	Domain  string // the policy domain, lower case
	ID      string // the id of the TXT record the policy was fetched for
	Policy  *Policy
	Fetched time.Time // when the policy was fetched
}

// Expires returns the time the entry stops being valid: Fetched plus the
// policy's max_age.
func (e *Entry) Expires() time.Time { return e.Fetched.Add(e.Policy.MaxAge) }

// Cache stores policies by domain. Implementations must be safe for
// concurrent use. Entries and their policies must not be modified after
// Put or Get.
type Cache interface {
	// Get returns the entry of domain, or nil and no error if there is
	// none. Expired entries may be returned; the Client checks.
	Get(ctx context.Context, domain string) (*Entry, error)
	// Put adds or replaces the entry of e.Domain.
	Put(ctx context.Context, e *Entry) error
	// Delete removes the entry of domain, if any.
	Delete(ctx context.Context, domain string) error
	// List returns all entries, in no particular order.
	List(ctx context.Context) ([]*Entry, error)
}

// MemoryCache is a Cache in memory. The zero value is an empty cache.
type MemoryCache struct {
	mu sync.RWMutex
	m  map[string]*Entry
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, domain string) (*Entry, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[domain], nil
}

// Put implements Cache.
func (c *MemoryCache) Put(_ context.Context, e *Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*Entry{}
	}
	c.m[e.Domain] = e
	return nil
}

// Delete implements Cache.
func (c *MemoryCache) Delete(_ context.Context, domain string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, domain)
	return nil
}

// List implements Cache.
func (c *MemoryCache) List(context.Context) ([]*Entry, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	l := make([]*Entry, 0, len(c.m))
	for _, e := range c.m {
		l = append(l, e)
	}
	return l, nil
}

// Len returns the number of entries.
func (c *MemoryCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// fileEntry is an entry as stored by FileCache and SQLCache: the policy
// in its canonical text.
type fileEntry struct {
	Domain  string    `json:"domain"`
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Policy  string    `json:"policy"`
}

// FileCache is a Cache in a directory, one JSON file per domain
// (DOMAIN.json), written atomically (a temporary file renamed into
// place), so that it survives restarts and crashes. It keeps a copy in
// memory: Get and List do not read the disk.
type FileCache struct {
	dir string
	mem MemoryCache
	wmu sync.Mutex // serialises writes to the directory
}

// OpenFileCache opens the cache in dir, creating the directory if needed,
// and loads its entries. A file that does not parse is an error naming it.
func OpenFileCache(dir string) (*FileCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("mtasts: cache: %w", err)
	}
	c := &FileCache{dir: dir}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("mtasts: cache: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("mtasts: cache: %w", err)
		}
		var fe fileEntry
		if err := json.Unmarshal(b, &fe); err != nil {
			return nil, fmt.Errorf("mtasts: cache: %s: %w", name, err)
		}
		e, err := fe.entry()
		if err != nil {
			return nil, fmt.Errorf("mtasts: cache: %s: %w", name, err)
		}
		if e.Domain+".json" != filepath.Base(name) {
			return nil, fmt.Errorf("mtasts: cache: %s: holds domain %q", name, e.Domain)
		}
		_ = c.mem.Put(context.Background(), e)
	}
	return c, nil
}

func (fe *fileEntry) entry() (*Entry, error) {
	if !validDomain(fe.Domain) || strings.ToLower(fe.Domain) != fe.Domain {
		return nil, fmt.Errorf("invalid domain %q", fe.Domain)
	}
	p, err := ParsePolicy(fe.Policy)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return &Entry{Domain: fe.Domain, ID: fe.ID, Policy: p, Fetched: fe.Fetched}, nil
}

func (c *FileCache) path(domain string) (string, error) {
	if !validDomain(domain) || strings.ToLower(domain) != domain {
		return "", fmt.Errorf("mtasts: cache: invalid domain %q", domain)
	}
	return filepath.Join(c.dir, domain+".json"), nil
}

// Get implements Cache.
func (c *FileCache) Get(ctx context.Context, domain string) (*Entry, error) {
	return c.mem.Get(ctx, domain)
}

// List implements Cache.
func (c *FileCache) List(ctx context.Context) ([]*Entry, error) { return c.mem.List(ctx) }

// Put implements Cache.
func (c *FileCache) Put(ctx context.Context, e *Entry) error {
	name, err := c.path(e.Domain)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(fileEntry{e.Domain, e.ID, e.Fetched.UTC(), e.Policy.String()}, "", "\t")
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := writeAtomic(name, append(b, '\n')); err != nil {
		return fmt.Errorf("mtasts: cache: %w", err)
	}
	return c.mem.Put(ctx, e)
}

// Delete implements Cache.
func (c *FileCache) Delete(ctx context.Context, domain string) error {
	name, err := c.path(domain)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := os.Remove(name); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("mtasts: cache: %w", err)
	}
	return c.mem.Delete(ctx, domain)
}

func writeAtomic(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
