package tlsrptpg

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mxkit/mxkit/internal/pgschema"
	"github.com/mxkit/mxkit/tlspolicy/tlsrpt"
)

// SchemaVersion is the version of the table layout this package writes
// and reads. Open refuses a schema recorded with a newer version.
const SchemaVersion = 1

// DefaultTablePrefix is the table name prefix used when
// Options.TablePrefix is empty.
const DefaultTablePrefix = "mxkit_tlsrpt"

const maxPrefixLen = pgschema.MaxPrefixLen

// Options configures Open and Connect. The zero value is ready to use.
type Options struct {
	// TablePrefix names the tables PREFIX_schema, PREFIX_day and
	// PREFIX_count in the connection's current schema. It must match
	// [a-z_][a-z0-9_]* and be at most 48 bytes long; empty means
	// DefaultTablePrefix. MXs that send one report together use the
	// same prefix.
	TablePrefix string
	// Logger; nil is slog.Default().
	Logger *slog.Logger
}

// Store is a tlsrpt.Store in PostgreSQL that several MXs share. It is
// safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	own    bool
	log    *slog.Logger
	prefix string
	q      queries
	closed atomic.Bool
}

var _ tlsrpt.Store = (*Store)(nil)

// ValidTablePrefix reports whether p can be used as Options.TablePrefix.
func ValidTablePrefix(p string) bool { return pgschema.ValidPrefix(p) }

// Connect opens a pool for connString (see pgxpool.ParseConfig) and calls
// Open; the Store owns the pool and Close closes it.
func Connect(ctx context.Context, connString string, opts Options) (*Store, error) {
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("tlsrptpg: connect: %w", err)
	}
	s, err := Open(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// Open returns a Store on pool (for instance a queue/pgstore Store's
// Pool), creating its tables if they do not exist, in one transaction
// under an advisory lock so that several MXs may start at once. Close
// does not close pool.
func Open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	prefix := cmp.Or(opts.TablePrefix, DefaultTablePrefix)
	if !ValidTablePrefix(prefix) {
		return nil, fmt.Errorf("tlsrptpg: invalid table prefix %q: want [a-z_][a-z0-9_]*, at most %d bytes", prefix, maxPrefixLen)
	}
	s := &Store{pool: pool, log: opts.Logger, prefix: prefix, q: makeQueries(prefix)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("tlsrptpg: schema %s: %w", prefix, err)
	}
	return s, nil
}

// Close marks the store closed; later calls return tlsrpt.ErrClosed. It
// closes the pool if the store was made by Connect.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.own {
		s.pool.Close()
	}
	return nil
}

// TablePrefix returns the prefix of the store's table names.
func (s *Store) TablePrefix() string { return s.prefix }

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return tlsrpt.ErrClosed
	}
	return ctx.Err()
}

func (s *Store) migrate(ctx context.Context) error {
	created, err := pgschema.Migrate(ctx, s.pool, pgschema.Schema{Lock: "mxkit/tlsrpt/tlsrptpg", Prefix: s.prefix,
		CreateSchema: s.q.createSchema, GetVersion: s.q.getVersion, SetVersion: s.q.setVersion,
		CreateTables: s.q.createTables, Version: SchemaVersion})
	if created {
		s.log.Info("tlsrptpg: created TLS-RPT tables", "prefix", s.prefix, "version", SchemaVersion)
	}
	return err
}

type queries struct {
	createSchema, getVersion, setVersion string
	createTables                         []string

	addDay, addCount, unsent, claim, counts, setState, prune string
}

// syncCommit: a change is durable when the method returns, even when the
// session runs with synchronous_commit=off (as queue/pgstore does).
const syncCommit = `SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off'`

func makeQueries(p string) queries {
	r := strings.NewReplacer("{p}", p)
	f := func(s string) string { return r.Replace(s) }
	return queries{
		createSchema: f(`CREATE TABLE IF NOT EXISTS {p}_schema (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	version integer NOT NULL,
	created timestamptz NOT NULL DEFAULT now())`),
		getVersion: f(`SELECT version FROM {p}_schema`),
		setVersion: f(`INSERT INTO {p}_schema (version) VALUES ($1)`),
		createTables: []string{
			f(`CREATE TABLE IF NOT EXISTS {p}_day (
	domain text COLLATE "C" NOT NULL,
	day date NOT NULL,
	sent_at timestamptz,
	state text NOT NULL DEFAULT '{}',
	created timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (domain, day))`),
			f(`CREATE INDEX IF NOT EXISTS {p}_day_unsent ON {p}_day (day, domain) WHERE sent_at IS NULL`),
			f(`CREATE TABLE IF NOT EXISTS {p}_count (
	domain text COLLATE "C" NOT NULL,
	day date NOT NULL,
	key bytea NOT NULL,
	policy text NOT NULL,
	failure text NOT NULL,
	sessions bigint NOT NULL CHECK (sessions >= 0),
	PRIMARY KEY (domain, day, key),
	FOREIGN KEY (domain, day) REFERENCES {p}_day (domain, day) ON DELETE CASCADE)`),
		},
		addDay: f(`INSERT INTO {p}_day (domain, day) VALUES ($1, $2) ON CONFLICT DO NOTHING`),
		addCount: f(`INSERT INTO {p}_count AS c (domain, day, key, policy, failure, sessions) VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (domain, day, key) DO UPDATE SET sessions = c.sessions + EXCLUDED.sessions`),
		unsent: f(`SELECT domain, day FROM {p}_day WHERE sent_at IS NULL AND day < $1 ORDER BY day, domain`),
		// FOR NO KEY UPDATE, not FOR UPDATE: the foreign key checks of a
		// concurrent Add (FOR KEY SHARE) do not wait for a sender.
		claim:    f(`SELECT state FROM {p}_day WHERE domain = $1 AND day = $2 AND sent_at IS NULL FOR NO KEY UPDATE SKIP LOCKED`),
		counts:   f(`SELECT policy, failure, sessions FROM {p}_count WHERE domain = $1 AND day = $2 ORDER BY key`),
		setState: f(`UPDATE {p}_day SET state = $3, sent_at = $4 WHERE domain = $1 AND day = $2`),
		prune:    f(`DELETE FROM {p}_day WHERE day < $1`),
	}
}

// row is one count row: the successes (failure "") or one failure of a
// policy, as canonical JSON.
type row struct {
	domain   string
	day      time.Time
	key      []byte
	policy   string
	failure  string
	sessions int64
}

func rows(a *tlsrpt.Aggregate) ([]row, error) {
	var out []row
	for _, p := range a.Policies {
		pj, err := json.Marshal(p.Policy)
		if err != nil {
			return nil, err
		}
		add := func(failure string, n int64) {
			h := sha256.Sum256([]byte(string(pj) + "\x00" + failure))
			out = append(out, row{a.Domain, a.Day, h[:], string(pj), failure, n})
		}
		if p.Successes > 0 {
			add("", p.Successes)
		}
		for _, f := range p.Failures {
			fj, err := json.Marshal(f.Failure)
			if err != nil {
				return nil, err
			}
			add(string(fj), f.FailedSessionCount)
		}
	}
	return out, nil
}

// Add implements tlsrpt.Store: one transaction that creates the day rows
// and adds the counts (INSERT ... ON CONFLICT DO UPDATE SET sessions =
// sessions + EXCLUDED.sessions), in key order so that MXs adding to the
// same rows at once never deadlock.
func (s *Store) Add(ctx context.Context, aggs []*tlsrpt.Aggregate) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var all []row
	for _, a := range aggs {
		if err := (&tlsrpt.Aggregate{Key: a.Key}).Check(); err != nil {
			return err
		}
		r, err := rows(a)
		if err != nil {
			return fmt.Errorf("tlsrptpg: %w", err)
		}
		all = append(all, r...)
	}
	slices.SortFunc(all, func(x, y row) int {
		return cmp.Or(cmp.Compare(x.domain, y.domain), x.day.Compare(y.day), slices.Compare(x.key, y.key))
	})
	b := &pgx.Batch{}
	b.Queue(syncCommit)
	keys := slices.Clone(aggs)
	slices.SortFunc(keys, func(x, y *tlsrpt.Aggregate) int {
		return cmp.Or(cmp.Compare(x.Domain, y.Domain), x.Day.Compare(y.Day))
	})
	for _, a := range keys {
		b.Queue(s.q.addDay, a.Domain, a.Day)
	}
	for _, r := range all {
		b.Queue(s.q.addCount, r.domain, r.day, r.key, r.policy, r.failure, r.sessions)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("tlsrptpg: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("tlsrptpg: add: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("tlsrptpg: add: %w", err)
	}
	return nil
}

// Unsent implements tlsrpt.Store.
func (s *Store) Unsent(ctx context.Context, before time.Time) ([]tlsrpt.Key, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rs, err := s.pool.Query(ctx, s.q.unsent, before)
	if err != nil {
		return nil, fmt.Errorf("tlsrptpg: %w", err)
	}
	keys, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (tlsrpt.Key, error) {
		var k tlsrpt.Key
		err := r.Scan(&k.Domain, &k.Day)
		k.Day = k.Day.UTC()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("tlsrptpg: %w", err)
	}
	return keys, nil
}

// Claim implements tlsrpt.Store: in one transaction it locks the day row
// (SELECT ... WHERE sent_at IS NULL FOR NO KEY UPDATE SKIP LOCKED, so
// another MX that is sending the same report makes Claim return false at
// once), reads the counts, runs fn and writes the state back. A crash
// during fn rolls the transaction back and releases the lock; the report
// is then sent again later, never lost.
func (s *Store) Claim(ctx context.Context, k tlsrpt.Key, fn func(context.Context, *tlsrpt.Aggregate) error) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("tlsrptpg: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, syncCommit); err != nil {
		return false, fmt.Errorf("tlsrptpg: %w", err)
	}
	var state string
	err = tx.QueryRow(ctx, s.q.claim, k.Domain, k.Day).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tlsrptpg: claim %s: %w", k, err)
	}
	rs, err := tx.Query(ctx, s.q.counts, k.Domain, k.Day)
	if err != nil {
		return false, fmt.Errorf("tlsrptpg: %w", err)
	}
	type countRow struct {
		policy, failure string
		sessions        int64
	}
	counts, err := pgx.CollectRows(rs, func(r pgx.CollectableRow) (countRow, error) {
		var c countRow
		err := r.Scan(&c.policy, &c.failure, &c.sessions)
		return c, err
	})
	if err != nil {
		return false, fmt.Errorf("tlsrptpg: %w", err)
	}
	a := &tlsrpt.Aggregate{Key: k}
	if a.State, err = DecodeState(state); err != nil {
		return false, fmt.Errorf("tlsrptpg: %s_day %s: %w", s.prefix, k, err)
	}
	for _, c := range counts {
		if err := AddRow(a, c.policy, c.failure, c.sessions); err != nil {
			return false, fmt.Errorf("tlsrptpg: %s_count %s: %w", s.prefix, k, err)
		}
	}
	if err := a.Check(); err != nil {
		return false, fmt.Errorf("tlsrptpg: %s: %w", k, err)
	}
	if err := fn(ctx, a); err != nil {
		return true, err
	}
	st := a.State
	var sent *time.Time
	if !st.Sent.IsZero() {
		sent = &st.Sent
	}
	st.Sent = time.Time{}
	sj, err := json.Marshal(st)
	if err != nil {
		return true, fmt.Errorf("tlsrptpg: %w", err)
	}
	if _, err := tx.Exec(ctx, s.q.setState, k.Domain, k.Day, string(sj), sent); err != nil {
		return true, fmt.Errorf("tlsrptpg: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return true, fmt.Errorf("tlsrptpg: %w", err)
	}
	return true, nil
}

// Prune implements tlsrpt.Store.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, s.q.prune, before)
	if err != nil {
		return 0, fmt.Errorf("tlsrptpg: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// DecodeState parses the state column (the JSON of tlsrpt.SendState
// without Sent, which is the sent_at column).
func DecodeState(s string) (tlsrpt.SendState, error) {
	var st tlsrpt.SendState
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, fmt.Errorf("state: %w", err)
	}
	if st.Attempts < 0 {
		return st, fmt.Errorf("state: negative attempts")
	}
	st.Sent = time.Time{}
	return st, nil
}

// AddRow adds one count row, as read from the table (policy and failure
// JSON, failure "" for the successes), to a. Rows are outside input:
// they are checked, and a.Check checks the whole.
func AddRow(a *tlsrpt.Aggregate, policy, failure string, sessions int64) error {
	var p tlsrpt.Policy
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if sessions < 0 {
		return fmt.Errorf("negative count")
	}
	if sessions == 0 {
		return nil
	}
	c := tlsrpt.PolicyCounts{Policy: p}
	if failure == "" {
		c.Successes = sessions
	} else {
		var f tlsrpt.Failure
		if err := json.Unmarshal([]byte(failure), &f); err != nil {
			return fmt.Errorf("failure: %w", err)
		}
		c.Failures = []tlsrpt.FailureDetails{{Failure: f, FailedSessionCount: sessions}}
	}
	a.Merge(&tlsrpt.Aggregate{Key: a.Key, Policies: []tlsrpt.PolicyCounts{c}})
	return nil
}
