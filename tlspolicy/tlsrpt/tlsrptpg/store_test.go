package tlsrptpg

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mxkit/mxkit/internal/testdb"
	"github.com/mxkit/mxkit/queue/pgstore"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt/tlsrpttest"
)

var quiet = slog.New(slog.DiscardHandler)

var prefixes atomic.Int64

func newPrefix() string { return fmt.Sprintf("r%d", prefixes.Add(1)) }

func connect(t testing.TB, p *testdb.Postgres, prefix string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Connect(ctx, p.DSN()+"&pool_max_conns=4", Options{TablePrefix: prefix, Logger: quiet})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	p := testdb.StartPostgres(t)
	t.Run("Conformance", func(t *testing.T) {
		tlsrpttest.Run(t, func(t *testing.T) tlsrpt.Store { return connect(t, p, newPrefix()) })
	})
	t.Run("TwoMXs", func(t *testing.T) { testTwoMXs(t, p) })
	t.Run("QueueDatabase", func(t *testing.T) { testQueueDatabase(t, p) })
	t.Run("SchemaVersion", func(t *testing.T) { testSchemaVersion(t, p) })
	t.Run("BadRows", func(t *testing.T) { testBadRows(t, p) })
}

// testTwoMXs: two MXs (two Stores on the same tables) add to one day at
// once, the counts add up, and of two Reporters only one sends the
// report.
func testTwoMXs(t *testing.T, p *testdb.Postgres) {
	ctx := context.Background()
	prefix := newPrefix()
	mx1, mx2 := connect(t, p, prefix), connect(t, p, prefix)
	day := tlsrpttest.Day
	var wg sync.WaitGroup
	for _, s := range []*Store{mx1, mx2} {
		wg.Go(func() {
			for range 20 {
				if err := s.Add(ctx, []*tlsrpt.Aggregate{tlsrpttest.Agg("example.com", day, 1, 1), tlsrpttest.Agg("example.org", day, 2, 0)}); err != nil {
					t.Errorf("Add: %v", err)
				}
			}
		})
	}
	wg.Wait()
	k := tlsrpt.Key{Domain: "example.com", Day: day}
	ok, err := mx2.Claim(ctx, k, func(_ context.Context, a *tlsrpt.Aggregate) error {
		if len(a.Policies) != 1 || a.Policies[0].Successes != 40 || a.FailureCount() != 40 || len(a.Policies[0].Failures) != 1 {
			t.Errorf("merged: %+v", a.Policies)
		}
		return nil
	})
	if !ok || err != nil {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	tlsrpttest.OneSender(t, mx1, mx2, k)

	// Two Reporters, one per MX, each with its Aggregator: one report
	// per domain and day.
	prefix = newPrefix()
	mx1, mx2 = connect(t, p, prefix), connect(t, p, prefix)
	var sent atomic.Int32
	mail := tlsrpt.SubmitFunc(func(context.Context, string, []string, []byte) error {
		sent.Add(1)
		time.Sleep(20 * time.Millisecond) // the other MX tries meanwhile
		return nil
	})
	now := day.Add(24*time.Hour + 5*time.Minute)
	var reporters []*tlsrpt.Reporter
	for i, s := range []*Store{mx1, mx2} {
		g := &tlsrpt.Aggregator{Store: s}
		f := tlsrpttest.Failure
		g.Record(tlsrpt.Result{Time: day.Add(time.Duration(i) * time.Hour), Policy: tlsrpttest.STS, Failure: &f})
		g.Record(tlsrpt.Result{Time: day.Add(time.Duration(i) * time.Hour), Policy: tlsrpttest.STS})
		reporters = append(reporters, &tlsrpt.Reporter{
			Store: s, Aggregator: g, Resolver: resolver{}, Mail: mail, Submitter: "sub",
			Now: func() time.Time { return now }, Logger: quiet,
		})
	}
	for _, r := range reporters {
		if err := r.Aggregator.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range reporters {
		wg.Go(func() {
			if _, err := r.SendDue(ctx); err != nil {
				t.Errorf("SendDue: %v", err)
			}
		})
	}
	wg.Wait()
	if n := sent.Load(); n != 1 {
		t.Errorf("%d reports sent, want 1", n)
	}
	if keys, err := mx1.Unsent(ctx, now); err != nil || len(keys) != 0 {
		t.Errorf("Unsent = %v, %v", keys, err)
	}
}

type resolver struct{}

func (resolver) LookupTXT(_ context.Context, name string) ([]string, error) {
	if name == "_smtp._tls.example.com" {
		return []string{"v=TLSRPTv1; rua=mailto:tlsrpt@example.com"}, nil
	}
	return nil, fmt.Errorf("unexpected lookup %s", name)
}

// testQueueDatabase: the store lives in the database (and pool) of a
// queue/pgstore queue, next to its tables.
func testQueueDatabase(t *testing.T, p *testdb.Postgres) {
	ctx := context.Background()
	q, err := pgstore.Connect(ctx, p.DSN(), pgstore.Options{TablePrefix: "queue_" + newPrefix(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	s, err := Open(ctx, q.Pool(), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.TablePrefix() != DefaultTablePrefix {
		t.Errorf("prefix %q", s.TablePrefix())
	}
	if err := s.Add(ctx, []*tlsrpt.Aggregate{tlsrpttest.Agg("example.com", tlsrpttest.Day, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	// Opening again finds the tables.
	s2, err := Open(ctx, q.Pool(), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if s.Close(); s.Add(ctx, nil) != tlsrpt.ErrClosed {
		t.Error("Add after Close: want ErrClosed")
	}
}

func testSchemaVersion(t *testing.T, p *testdb.Postgres) {
	prefix := newPrefix()
	connect(t, p, prefix)
	p.Exec(t, "UPDATE "+prefix+"_schema SET version = 99")
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, p.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := Open(ctx, pool, Options{TablePrefix: prefix, Logger: quiet}); err == nil {
		t.Error("Open of a newer schema: no error")
	}
	if _, err := Open(ctx, pool, Options{TablePrefix: "Bad-Prefix"}); err == nil {
		t.Error("Open with a bad prefix: no error")
	}
}

// testBadRows: rows that do not parse make Claim fail, naming the table,
// and are not sent.
func testBadRows(t *testing.T, p *testdb.Postgres) {
	ctx := context.Background()
	prefix := newPrefix()
	s := connect(t, p, prefix)
	if err := s.Add(ctx, []*tlsrpt.Aggregate{tlsrpttest.Agg("example.com", tlsrpttest.Day, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	p.Exec(t, "UPDATE "+prefix+"_count SET policy = '{\"policy-type\":\"bogus\",\"policy-domain\":\"x\"}'")
	_, err := s.Claim(ctx, tlsrpt.Key{Domain: "example.com", Day: tlsrpttest.Day}, func(context.Context, *tlsrpt.Aggregate) error {
		t.Error("fn called with a bad row")
		return nil
	})
	if err == nil {
		t.Error("Claim of a bad row: no error")
	}
	if err := s.Add(ctx, []*tlsrpt.Aggregate{tlsrpttest.Agg("not a domain", tlsrpttest.Day, 1, 0)}); err == nil {
		t.Error("Add of a bad domain: no error")
	}
}
