package tlsrpt_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrpttest"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMemoryStore(t *testing.T) {
	tlsrpttest.Run(t, func(t *testing.T) tlsrpt.Store { return &tlsrpt.MemoryStore{} })
}

func openFile(t *testing.T, dir string) *tlsrpt.FileStore {
	t.Helper()
	s, err := tlsrpt.OpenFileStore(dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileStore(t *testing.T) {
	tlsrpttest.Run(t, func(t *testing.T) tlsrpt.Store { return openFile(t, t.TempDir()) })
}

// TestFileStoreReopen: what one store wrote, the next one in the same
// directory reads; crash leftovers are removed and bad files skipped.
func TestFileStoreReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openFile(t, dir)
	day := tlsrpttest.Day
	if err := s.Add(ctx, []*tlsrpt.Aggregate{tlsrpttest.Agg("example.com", day, 2, 1)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Add(ctx, nil); err != tlsrpt.ErrClosed {
		t.Errorf("Add after Close: %v, want ErrClosed", err)
	}
	names := func() []string {
		ents, _ := os.ReadDir(dir)
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		return n
	}
	if got, want := names(), []string{"2026-03-01_example.com.json"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	// A temporary file of a crashed write, a corrupt aggregate and a
	// file that holds another key than its name says.
	for name, body := range map[string]string{
		".tmp-2026-03-01_example.com.json-123": "{",
		"2026-03-01_bad.example.json":          "{",
		"2026-02-28_other.example.json":        `{"v":1,"domain":"example.com","day":"2026-03-01","policies":[]}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s2 := openFile(t, dir)
	if _, err := os.Stat(filepath.Join(dir, ".tmp-2026-03-01_example.com.json-123")); !os.IsNotExist(err) {
		t.Errorf("temporary file not removed: %v", err)
	}
	keys, err := s2.Unsent(ctx, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := []tlsrpt.Key{{Domain: "example.com", Day: day}}; !reflect.DeepEqual(keys, want) {
		t.Errorf("Unsent = %v, want %v", keys, want)
	}
	ok, err := s2.Claim(ctx, keys[0], func(_ context.Context, a *tlsrpt.Aggregate) error {
		if a.FailureCount() != 1 || a.Policies[0].Successes != 2 {
			t.Errorf("read back %+v", a)
		}
		return nil
	})
	if !ok || err != nil {
		t.Errorf("Claim = %v, %v", ok, err)
	}
	if _, err := s2.Claim(ctx, tlsrpt.Key{Domain: "bad.example", Day: day}, func(context.Context, *tlsrpt.Aggregate) error { return nil }); err == nil {
		t.Error("Claim of a corrupt file: no error")
	}
}

// TestFileStoreRejectsNonCanonical: keys that would give a file name the
// store cannot read back are refused.
func TestFileStoreRejectsNonCanonical(t *testing.T) {
	s := openFile(t, t.TempDir())
	for _, k := range []tlsrpt.Key{
		{Domain: "Example.com", Day: tlsrpttest.Day},
		{Domain: "../x", Day: tlsrpttest.Day},
		{Domain: "example.com", Day: tlsrpttest.Day.Add(time.Hour)},
	} {
		if err := s.Add(context.Background(), []*tlsrpt.Aggregate{{Key: k}}); err == nil {
			t.Errorf("Add(%s): no error", k)
		}
	}
}
