package mtasts

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// testCache checks the Cache contract on c.
func testCache(t *testing.T, c Cache) {
	t.Helper()
	ctx := context.Background()
	p1, _ := ParsePolicy(goodPolicy)
	p2, _ := ParsePolicy("version: STSv1\nmode: none\nmax_age: 60\n")
	now := time.Unix(1_800_000_000, 0)
	if e, err := c.Get(ctx, "example.com"); e != nil || err != nil {
		t.Fatalf("Get on empty cache = %v, %v", e, err)
	}
	e1 := &Entry{Domain: "example.com", ID: "a1", Policy: p1, Fetched: now}
	e2 := &Entry{Domain: "example.net", ID: "b2", Policy: p2, Fetched: now.Add(time.Hour)}
	for _, e := range []*Entry{e1, e2} {
		if err := c.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	check := func(domain string, want *Entry) {
		t.Helper()
		got, err := c.Get(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			if got != nil {
				t.Errorf("Get(%s) = %+v, want nil", domain, got)
			}
			return
		}
		if got == nil || got.Domain != want.Domain || got.ID != want.ID || !got.Fetched.Equal(want.Fetched) || !reflect.DeepEqual(got.Policy, want.Policy) {
			t.Errorf("Get(%s) = %+v, want %+v", domain, got, want)
		}
	}
	check("example.com", e1)
	check("example.net", e2)
	// Replace.
	e3 := &Entry{Domain: "example.com", ID: "c3", Policy: p2, Fetched: now.Add(2 * time.Hour)}
	if err := c.Put(ctx, e3); err != nil {
		t.Fatal(err)
	}
	check("example.com", e3)
	l, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range l {
		ids = append(ids, e.Domain+"/"+e.ID)
	}
	sort.Strings(ids)
	if want := []string{"example.com/c3", "example.net/b2"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("List = %q, want %q", ids, want)
	}
	if err := c.Delete(ctx, "example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "example.net"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	check("example.net", nil)
}

func TestMemoryCache(t *testing.T) { testCache(t, &MemoryCache{}) }

func TestFileCache(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c, err := OpenFileCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	testCache(t, c)
	// A restart sees what was written.
	c2, err := OpenFileCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := c2.Get(context.Background(), "example.com")
	if e == nil || e.ID != "c3" || e.Policy.Mode != ModeNone || !e.Fetched.Equal(time.Unix(1_800_000_000, 0).Add(2*time.Hour)) {
		t.Errorf("after reopening: %+v", e)
	}
	if e, _ := c2.Get(context.Background(), "example.net"); e != nil {
		t.Errorf("deleted entry came back: %+v", e)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(names) != 1 || filepath.Base(names[0]) != "example.com.json" {
		t.Errorf("files %q, want only example.com.json (no temporary files)", names)
	}
	// Bad names and bad files.
	if err := c2.Put(context.Background(), &Entry{Domain: "../x", Policy: &Policy{}}); err == nil {
		t.Error("Put accepted domain ../x")
	}
	bad := filepath.Join(dir, "bad.example.json")
	os.WriteFile(bad, []byte(`{"domain":"bad.example","id":"1","fetched":"2026-01-01T00:00:00Z","policy":"version: STSv2\n"}`), 0o644)
	_, err = OpenFileCache(dir)
	if err == nil || err.Error() != "mtasts: cache: "+bad+`: policy: line 1: version "STSv2": want STSv1` {
		t.Errorf("bad file: %v", err)
	}
	os.WriteFile(bad, []byte(`{"domain":"other.example","id":"1","policy":"version: STSv1\nmode: none\nmax_age: 1\n"}`), 0o644)
	if _, err = OpenFileCache(dir); err == nil || !strings.HasSuffix(err.Error(), `holds domain "other.example"`) {
		t.Errorf("misnamed file: %v", err)
	}
}

func TestSQLCache(t *testing.T) {
	ctx := context.Background()
	dsn := filepath.Join(t.TempDir(), "cache.db")
	c, err := OpenSQLCache(ctx, "sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	testCache(t, c)
	c.Close()
	// Reopening finds the table and the rows.
	c, err = OpenSQLCache(ctx, "sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e, err := c.Get(ctx, "example.com"); err != nil || e == nil || e.ID != "c3" {
		t.Errorf("after reopening: %+v, %v", e, err)
	}
	if _, err := OpenSQLCache(ctx, "nosuchdriver", ""); err == nil ||
		err.Error() != `mtasts: cache: sql: unknown driver "nosuchdriver" (forgotten import?)` {
		t.Errorf("unknown driver: %v", err)
	}
}

// TestCacheWithClient: a Client on a FileCache keeps its policies across
// a restart.
func TestCacheWithClient(t *testing.T) {
	dir := t.TempDir()
	r := &fakeResolver{}
	f := &fakeFetcher{}
	r.set("_mta-sts.example.com", "v=STSv1; id=1")
	f.set("example.com", goodPolicy)
	fc, err := OpenFileCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Resolver: r, Fetcher: f, Cache: fc}
	if _, err := c.Lookup(context.Background(), "example.com"); err != nil {
		t.Fatal(err)
	}
	fc2, _ := OpenFileCache(dir)
	c2 := &Client{Resolver: r, Fetcher: f, Cache: fc2}
	r.set("_mta-sts.example.com") // the record is gone
	if p, err := c2.Lookup(context.Background(), "example.com"); p == nil || err != nil || f.count("example.com") != 1 {
		t.Errorf("after restart: %v, %v, %d fetches", p, err, f.count("example.com"))
	}
}
