package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mxkit/mxkit/internal/testdb"
	"github.com/mxkit/mxkit/queue"
	"github.com/mxkit/mxkit/queue/queuetest"
)

var quiet = slog.New(slog.DiscardHandler)

var prefixes atomic.Int64

// newPrefix returns a table prefix not used before in this test binary,
// so each store starts with empty tables.
func newPrefix() string { return fmt.Sprintf("q%d", prefixes.Add(1)) }

func dsn(p *testdb.Postgres) string { return p.DSN() + "&pool_max_conns=8" }

func connect(t testing.TB, p *testdb.Postgres, prefix string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Connect(ctx, dsn(p), Options{TablePrefix: prefix, Logger: quiet})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func msg(sender string) *queue.Message {
	return &queue.Message{
		Sender:     sender,
		Arrival:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Recipients: []queue.Recipient{{Addr: "rcpt@example.test"}},
	}
}

func TestStore(t *testing.T) {
	p := testdb.StartPostgres(t)
	newStore := func(t *testing.T) *Store { return connect(t, p, newPrefix()) }
	t.Run("Conformance", func(t *testing.T) {
		queuetest.Run(t, queuetest.Suite{
			New: func(t *testing.T) queue.Store { return newStore(t) },
			Reopen: func(t *testing.T, st queue.Store) queue.Store {
				s := st.(*Store)
				s.Close()
				if err := s.Put(context.Background(), msg("x"), strings.NewReader("x")); !errors.Is(err, queue.ErrClosed) {
					t.Errorf("Put after Close: err = %v, want ErrClosed", err)
				}
				return connect(t, p, s.TablePrefix())
			},
		})
	})
	t.Run("Leaser", func(t *testing.T) {
		queuetest.RunLeaser(t, func(t *testing.T) queue.Leaser { return newStore(t) })
	})
	t.Run("TwoNodes", func(t *testing.T) { testTwoNodes(t, p) })
	t.Run("SchemaVersion", func(t *testing.T) { testSchemaVersion(t, p) })
	t.Run("BadEnvelopes", func(t *testing.T) { testBadEnvelopes(t, p) })
	t.Run("MaxBodySize", func(t *testing.T) { testMaxBodySize(t, p) })
	t.Run("SyncCommit", func(t *testing.T) { testSyncCommit(t, p) })
	t.Run("SubMicrosecond", func(t *testing.T) { testSubMicrosecond(t, p) })
}

// testTwoNodes starts several stores on the same tables at once (the
// schema is created once, under the advisory lock) and checks that leases
// exclude each other across stores.
func testTwoNodes(t *testing.T, p *testdb.Postgres) {
	prefix := newPrefix()
	const nodes = 4
	stores := make([]*Store, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			s, err := Connect(context.Background(), dsn(p), Options{TablePrefix: prefix, Logger: quiet})
			if err != nil {
				t.Errorf("node %d: Connect: %v", i, err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	a, b := stores[0], stores[1]
	m := msg("shared")
	if err := a.Put(ctx, m, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	got, err := b.Lease(ctx, "node-b", now, 10, time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != m.ID {
		t.Fatalf("node b Lease = %v, %v; want [%s]", got, err, m.ID)
	}
	if got, err := a.Lease(ctx, "node-a", now, 10, time.Hour); err != nil || len(got) != 0 {
		t.Errorf("node a Lease = %d messages, %v; want none", len(got), err)
	}
	if err := a.Finish(ctx, "node-a", m.ID); !errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("node a Finish: err = %v, want ErrLeaseLost", err)
	}
	if err := b.Finish(ctx, "node-b", m.ID); err != nil {
		t.Errorf("node b Finish: %v", err)
	}
	var version int
	if err := a.Pool().QueryRow(ctx, "SELECT version FROM "+prefix+"_schema").Scan(&version); err != nil || version != SchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", version, err, SchemaVersion)
	}
}

func testSchemaVersion(t *testing.T, p *testdb.Postgres) {
	s := connect(t, p, newPrefix())
	p.Exec(t, "UPDATE "+s.TablePrefix()+"_schema SET version = 2")
	_, err := Connect(context.Background(), dsn(p), Options{TablePrefix: s.TablePrefix(), Logger: quiet})
	want := fmt.Sprintf("pgstore: schema %s: tables have schema version 2, this program supports up to 1", s.TablePrefix())
	if err == nil || err.Error() != want {
		t.Errorf("Connect to newer schema: err = %v, want %q", err, want)
	}
	for _, bad := range []string{"Queue", "1q", "q-1", "q;drop", strings.Repeat("q", 49)} {
		_, err := Connect(context.Background(), dsn(p), Options{TablePrefix: bad})
		want := fmt.Sprintf("pgstore: invalid table prefix %q: want [a-z_][a-z0-9_]*, at most 48 bytes", bad)
		if err == nil || err.Error() != want {
			t.Errorf("prefix %q: err = %v, want %q", bad, err, want)
		}
	}
}

// testBadEnvelopes: a message written by a newer version of the package
// (during a rolling upgrade) is left alone by Due and Lease and reported
// by Get; a message whose envelope does not parse is put on hold by Lease.
func testBadEnvelopes(t *testing.T, p *testdb.Postgres) {
	ctx := context.Background()
	s := connect(t, p, newPrefix())
	good, newer, broken := msg("good"), msg("newer"), msg("broken")
	for _, m := range []*queue.Message{good, newer, broken} {
		if err := s.Put(ctx, m, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	p.Exec(t,
		fmt.Sprintf(`UPDATE %s_msg SET version = 2, envelope = replace(envelope, '"v":1', '"v":2') WHERE id = '%s'`, s.TablePrefix(), newer.ID),
		fmt.Sprintf(`UPDATE %s_msg SET envelope = '{"v":1,' WHERE id = '%s'`, s.TablePrefix(), broken.ID))
	if got, err := s.Due(ctx, time.Now(), 0); err != nil || len(got) != 1 || got[0].ID != good.ID {
		t.Errorf("Due = %v, %v; want only %s", got, err, good.ID)
	}
	got, err := s.Lease(ctx, "A", time.Now(), 10, time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != good.ID {
		t.Fatalf("Lease = %v, %v; want only %s", got, err, good.ID)
	}
	var hold bool
	var owner *string
	q := fmt.Sprintf("SELECT hold, lease_owner FROM %s_msg WHERE id = $1", s.TablePrefix())
	if err := s.Pool().QueryRow(ctx, q, broken.ID).Scan(&hold, &owner); err != nil || !hold || owner != nil {
		t.Errorf("unreadable message: hold %v, lease_owner %v, err %v; want held and not leased", hold, owner, err)
	}
	_, err = s.Get(ctx, newer.ID)
	want := fmt.Sprintf("pgstore: get %s: %s_msg row %s: unsupported envelope version 2", newer.ID, s.TablePrefix(), newer.ID)
	if err == nil || err.Error() != want {
		t.Errorf("Get: err = %v, want %q", err, want)
	}
	_, err = s.Get(ctx, broken.ID)
	want = fmt.Sprintf("pgstore: get %s: %s_msg row %s: unexpected end of JSON input", broken.ID, s.TablePrefix(), broken.ID)
	if err == nil || err.Error() != want {
		t.Errorf("Get: err = %v, want %q", err, want)
	}
}

func testMaxBodySize(t *testing.T, p *testdb.Postgres) {
	ctx := context.Background()
	s, err := Connect(ctx, dsn(p), Options{TablePrefix: newPrefix(), Logger: quiet, MaxBodySize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := msg("big")
	m.ID = "big1"
	err = s.Put(ctx, m, strings.NewReader("01234567890"))
	if want := "pgstore: put big1: body larger than 10 bytes"; err == nil || err.Error() != want {
		t.Errorf("Put of 11 bytes: err = %v, want %q", err, want)
	}
	if _, err := s.Get(ctx, "big1"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get after failed Put: err = %v, want ErrNotFound", err)
	}
	m = msg("fits")
	if err := s.Put(ctx, m, strings.NewReader("0123456789")); err != nil || m.Size != 10 {
		t.Errorf("Put of 10 bytes: Size %d, err %v", m.Size, err)
	}
	dup := msg("dup")
	dup.ID = m.ID
	if err := s.Put(ctx, dup, strings.NewReader("y")); err == nil || !strings.Contains(err.Error(), "message already exists") {
		t.Errorf("Put of an existing ID: err = %v, want \"message already exists\"", err)
	}
	if got, err := s.Get(ctx, m.ID); err != nil || got.Sender != "fits" {
		t.Errorf("after duplicate Put: Get = %v, %v; want the first message", got, err)
	}
}

// testSyncCommit checks that the statement every write transaction starts
// with turns synchronous_commit on for that transaction only (the test
// server runs with synchronous_commit=off).
func testSyncCommit(t *testing.T, p *testdb.Postgres) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	show := func() string {
		var v string
		if err := conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := show(); v != "off" {
		t.Skipf("server runs with synchronous_commit=%s; test needs off", v)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, syncCommit); err != nil {
		t.Fatal(err)
	}
	if v := show(); v != "on" {
		t.Errorf("in transaction: synchronous_commit = %s, want on", v)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if v := show(); v != "off" {
		t.Errorf("after commit: synchronous_commit = %s, want off", v)
	}
}

// testSubMicrosecond: PostgreSQL keeps microseconds; a message due at a
// time with nanoseconds is due at exactly that time, and the envelope keeps
// the nanoseconds.
func testSubMicrosecond(t *testing.T, p *testdb.Postgres) {
	ctx := context.Background()
	s := connect(t, p, newPrefix())
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)
	m := msg("ns")
	m.NextAttempt = at
	if err := s.Put(ctx, m, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Due(ctx, at.Add(-time.Microsecond), 0); err != nil || len(got) != 0 {
		t.Errorf("Due 1µs early = %d messages, %v; want none", len(got), err)
	}
	got, err := s.Due(ctx, at, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("Due at NextAttempt = %d messages, %v; want 1", len(got), err)
	}
	if !got[0].NextAttempt.Equal(at) {
		t.Errorf("NextAttempt = %v, want %v", got[0].NextAttempt, at)
	}
	if got, err := s.Lease(ctx, "A", at, 1, time.Hour); err != nil || len(got) != 1 {
		t.Errorf("Lease at NextAttempt = %d messages, %v; want 1", len(got), err)
	}
}

// TestOutage stops the server and kills connections under a store: every
// call must fail with an error (never report success for a change that
// was not made), and the store must work again once the server is back.
func TestOutage(t *testing.T) {
	p := testdb.StartPostgres(t)
	ctx := context.Background()
	s := connect(t, p, newPrefix())
	before := msg("before")
	if err := s.Put(ctx, before, strings.NewReader("body before\r\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Lease(ctx, "A", time.Now(), 1, time.Hour); err != nil || len(got) != 1 {
		t.Fatalf("Lease = %d messages, %v; want 1", len(got), err)
	}

	// Kill every connection of the store. A Put may fail (its connection
	// died) or succeed (it got a fresh one), but success must be real.
	p.Exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid()")
	killed := msg("killed")
	if err := s.Put(ctx, killed, strings.NewReader("x")); err == nil {
		if _, err := s.Get(ctx, killed.ID); err != nil {
			t.Errorf("Put after pg_terminate_backend returned nil but Get: %v", err)
		}
	} else {
		t.Logf("Put after pg_terminate_backend: %v", err)
	}

	p.Stop()
	down := msg("down")
	down.ID = "down1"
	if err := s.Put(ctx, down, strings.NewReader("x")); err == nil {
		t.Error("Put with the server stopped returned nil")
	} else if !strings.HasPrefix(err.Error(), "pgstore: put down1: ") {
		t.Errorf("Put error = %q, want prefix \"pgstore: put down1: \"", err)
	}
	if _, err := s.Get(ctx, before.ID); err == nil || errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Get with the server stopped: err = %v, want a connection error", err)
	}
	if err := s.Update(ctx, before); err == nil {
		t.Error("Update with the server stopped returned nil")
	}
	if err := s.Delete(ctx, before.ID); err == nil || errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Delete with the server stopped: err = %v, want a connection error", err)
	}
	if _, err := s.List(ctx); err == nil {
		t.Error("List with the server stopped returned nil")
	}
	if _, err := s.Lease(ctx, "B", time.Now(), 1, time.Hour); err == nil {
		t.Error("Lease with the server stopped returned nil")
	}
	if lost, err := s.Renew(ctx, "A", []string{before.ID}, time.Hour); err == nil {
		t.Errorf("Renew with the server stopped returned lost=%q, nil", lost)
	}
	if err := s.Finish(ctx, "A", before.ID); err == nil || errors.Is(err, queue.ErrLeaseLost) {
		t.Errorf("Finish with the server stopped: err = %v, want a connection error", err)
	}

	p.Start()
	after := msg("after")
	if err := s.Put(ctx, after, strings.NewReader("body after\r\n")); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	if _, err := s.Get(ctx, "down1"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("message whose Put failed: Get err = %v, want ErrNotFound", err)
	}
	for id, want := range map[string]string{before.ID: "body before\r\n", after.ID: "body after\r\n"} {
		rc, err := s.Body(ctx, id)
		if err != nil {
			t.Fatalf("Body(%s) after restart: %v", id, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != want {
			t.Errorf("Body(%s) = %q, want %q", id, b, want)
		}
	}
	// The lease survived the outage.
	if err := s.Finish(ctx, "A", before.ID); err != nil {
		t.Errorf("Finish after restart: %v", err)
	}
}
