package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mxkit/mxkit/internal/pgschema"
	"github.com/mxkit/mxkit/queue"
)

// SchemaVersion is the version of the table layout this package writes
// and reads. Open refuses a schema recorded with a newer version.
const SchemaVersion = 1

// DefaultTablePrefix is the table name prefix used when
// Options.TablePrefix is empty.
const DefaultTablePrefix = "mxkit_queue"

// MaxBodySize is the largest body Put accepts when Options.MaxBodySize
// is zero: PostgreSQL's limit for one bytea value (1 GiB) less a margin.
const MaxBodySize = 1<<30 - 1<<20

// maxPrefixLen leaves room for the longest suffix ("_msg_due") within
// PostgreSQL's 63-byte identifier limit.
const maxPrefixLen = pgschema.MaxPrefixLen

// Options configures Open and Connect. The zero value is ready to use.
type Options struct {
	// TablePrefix names the tables: PREFIX_schema, PREFIX_msg and
	// PREFIX_body, in the connection's current schema (search_path).
	// It must match [a-z_][a-z0-9_]* and be at most 48 bytes long.
	// Empty means DefaultTablePrefix. Queue runners that share a queue
	// use the same prefix.
	TablePrefix string
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
	// MaxBodySize limits the body Put accepts, in bytes; 0 means
	// MaxBodySize. Put reads the whole body into memory.
	MaxBodySize int64
}

// Store is a queue.Store and queue.Leaser kept in PostgreSQL. It is safe
// for concurrent use, and several Stores (in several processes or on
// several machines) may share the same tables.
type Store struct {
	pool    *pgxpool.Pool
	own     bool
	log     *slog.Logger
	maxBody int64
	prefix  string
	q       queries
	closed  atomic.Bool
}

var (
	_ queue.Store  = (*Store)(nil)
	_ queue.Leaser = (*Store)(nil)
)

// ValidTablePrefix reports whether p can be used as Options.TablePrefix.
func ValidTablePrefix(p string) bool { return pgschema.ValidPrefix(p) }

// Connect opens a connection pool for connString (a libpq keyword/value
// string or a postgres:// URL, see pgxpool.ParseConfig) and calls Open.
// The Store owns the pool: Close closes it.
func Connect(ctx context.Context, connString string, opts Options) (*Store, error) {
	pool, err := pgxpool.New(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	s, err := Open(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// Open returns a Store that uses pool, creating the tables if they do not
// exist. Creation runs in one transaction under an advisory lock, so
// several nodes may start at once. Open fails if the tables were created
// by a newer version of this package. Close does not close pool.
func Open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	prefix := opts.TablePrefix
	if prefix == "" {
		prefix = DefaultTablePrefix
	}
	if !ValidTablePrefix(prefix) {
		return nil, fmt.Errorf("pgstore: invalid table prefix %q: want [a-z_][a-z0-9_]*, at most %d bytes", prefix, maxPrefixLen)
	}
	if opts.MaxBodySize < 0 || opts.MaxBodySize > MaxBodySize {
		return nil, fmt.Errorf("pgstore: MaxBodySize %d out of range 0..%d", opts.MaxBodySize, MaxBodySize)
	}
	s := &Store{pool: pool, log: opts.Logger, maxBody: opts.MaxBodySize, prefix: prefix, q: makeQueries(prefix)}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.maxBody == 0 {
		s.maxBody = MaxBodySize
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("pgstore: schema %s: %w", prefix, err)
	}
	var fsync string
	if err := pool.QueryRow(ctx, "SELECT current_setting('fsync')").Scan(&fsync); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if fsync != "on" {
		s.log.Warn("pgstore: PostgreSQL runs with fsync=off; queued messages may be lost in a crash of the database machine", "fsync", fsync)
	}
	return s, nil
}

// Close marks the store closed; later calls return queue.ErrClosed. It
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

// Pool returns the connection pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// TablePrefix returns the prefix of the store's table names.
func (s *Store) TablePrefix() string { return s.prefix }

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return queue.ErrClosed
	}
	return ctx.Err()
}

func (s *Store) migrate(ctx context.Context) error {
	created, err := pgschema.Migrate(ctx, s.pool, pgschema.Schema{Lock: "mxkit/queue/pgstore", Prefix: s.prefix,
		CreateSchema: s.q.createSchema, GetVersion: s.q.getVersion, SetVersion: s.q.setVersion,
		CreateTables: s.q.createTables, Version: SchemaVersion})
	if created {
		s.log.Info("pgstore: created queue tables", "prefix", s.prefix, "version", SchemaVersion)
	}
	return err
}

// queries holds the SQL statements, with the table names filled in.
type queries struct {
	createSchema, getVersion, setVersion string
	createTables                         []string

	insertMsg, insertBody, getMsg, list, due, update, del, body string
	lease, renew, release, finish, exists, quarantine           string
	reschedule                                                  string
}

// syncCommit makes a write transaction wait for its commit record to
// reach the disk (and the synchronous standbys, if configured) even when
// the session was set up with synchronous_commit=off: an acknowledged
// message must survive a crash of the database server.
const syncCommit = `SELECT set_config('synchronous_commit', 'on', true) WHERE current_setting('synchronous_commit') = 'off'`

func makeQueries(p string) queries {
	r := strings.NewReplacer("{p}", p)
	f := func(s string) string { return r.Replace(s) }
	const cols = `id, envelope, hold, size, next_attempt`
	return queries{
		createSchema: f(`CREATE TABLE IF NOT EXISTS {p}_schema (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	version integer NOT NULL,
	created timestamptz NOT NULL DEFAULT now())`),
		getVersion: f(`SELECT version FROM {p}_schema`),
		setVersion: f(`INSERT INTO {p}_schema (version) VALUES ($1)`),
		createTables: []string{
			f(`CREATE TABLE IF NOT EXISTS {p}_msg (
	id text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
	version integer NOT NULL,
	envelope text NOT NULL,
	hold boolean NOT NULL DEFAULT false,
	next_attempt timestamptz NOT NULL,
	size bigint NOT NULL,
	lease_owner text,
	lease_until timestamptz,
	created timestamptz NOT NULL DEFAULT now(),
	CHECK ((lease_owner IS NULL) = (lease_until IS NULL)))`),
			f(`CREATE INDEX IF NOT EXISTS {p}_msg_due ON {p}_msg (next_attempt, id) WHERE NOT hold`),
			f(`CREATE TABLE IF NOT EXISTS {p}_body (
	id text COLLATE "C" PRIMARY KEY REFERENCES {p}_msg (id) ON DELETE CASCADE,
	body bytea NOT NULL)`),
		},
		insertMsg:  f(`INSERT INTO {p}_msg (id, version, envelope, hold, next_attempt, size) VALUES ($1, $2, $3, $4, $5, $6)`),
		insertBody: f(`INSERT INTO {p}_body (id, body) VALUES ($1, $2)`),
		getMsg:     f(`SELECT ` + cols + ` FROM {p}_msg WHERE id = $1`),
		list:       f(`SELECT ` + cols + ` FROM {p}_msg ORDER BY id`),
		due: f(`SELECT ` + cols + ` FROM {p}_msg WHERE NOT hold AND version <= $3 AND next_attempt <= $1
	ORDER BY next_attempt, id LIMIT $2`),
		update:     f(`UPDATE {p}_msg SET version = $2, envelope = $3, hold = $4, next_attempt = $5 WHERE id = $1`),
		reschedule: f(`UPDATE {p}_msg SET hold = $2, next_attempt = $3 WHERE id = $1`),
		del:        f(`DELETE FROM {p}_msg WHERE id = $1`),
		body:       f(`SELECT body FROM {p}_body WHERE id = $1`),
		lease: f(`UPDATE {p}_msg SET lease_owner = $1, lease_until = now() + $4 * interval '1 microsecond'
	WHERE id IN (SELECT id FROM {p}_msg
		WHERE NOT hold AND version <= $5 AND next_attempt <= $2
			AND (lease_until IS NULL OR lease_until < now())
		ORDER BY next_attempt, id LIMIT $3 FOR UPDATE SKIP LOCKED)
	RETURNING ` + cols),
		renew: f(`UPDATE {p}_msg SET lease_until = now() + $3 * interval '1 microsecond'
	WHERE id = ANY($2) AND lease_owner = $1 AND lease_until >= now() RETURNING id`),
		release: f(`UPDATE {p}_msg SET version = $3, envelope = $4, next_attempt = $5, lease_owner = NULL, lease_until = NULL
	WHERE id = $1 AND lease_owner = $2 AND lease_until >= now()`),
		finish: f(`DELETE FROM {p}_msg WHERE id = $1 AND lease_owner = $2 AND lease_until >= now()`),
		exists: f(`SELECT EXISTS (SELECT 1 FROM {p}_msg WHERE id = $1)`),
		quarantine: f(`UPDATE {p}_msg SET hold = true, lease_owner = NULL, lease_until = NULL
	WHERE id = ANY($1) AND lease_owner = $2`),
	}
}

// write runs the queued statements of fn in one transaction (one round
// trip, plus one for COMMIT). The change is durable when write returns nil.
func (s *Store) write(ctx context.Context, fn func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(syncCommit)
	fn(b)
	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	if err := br.Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// encode returns the envelope text of m. Hold and Size are kept in
// columns (the columns are the truth), so they are left out of the text.
func encode(m *queue.Message) (string, error) {
	c := *m
	c.Version = queue.MessageVersion
	c.Hold = false
	c.Size = 0
	b, err := json.Marshal(&c)
	return string(b), err
}

// decode parses an envelope read from row id of table.
func decode(table, id, env string, hold bool, size int64, next time.Time) (*queue.Message, error) {
	var m queue.Message
	if err := json.Unmarshal([]byte(env), &m); err != nil {
		return nil, fmt.Errorf("%s row %s: %w", table, id, err)
	}
	if m.Version < 1 || m.Version > queue.MessageVersion {
		return nil, fmt.Errorf("%s row %s: unsupported envelope version %d", table, id, m.Version)
	}
	if m.ID != id {
		return nil, fmt.Errorf("%s row %s: envelope has ID %q", table, id, m.ID)
	}
	m.Hold, m.Size = hold, size
	// The column is the truth (Reschedule changes only the column); the
	// envelope keeps nanoseconds when the two agree.
	if !dbTime(m.NextAttempt).Equal(next) {
		m.NextAttempt = next.UTC()
	}
	return &m, nil
}

// dbTime converts t for a timestamptz column: PostgreSQL keeps
// microseconds, so t is truncated (a message is never due later than
// its NextAttempt says).
func dbTime(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

// row is one scanned row of P_msg.
type row struct {
	id, env string
	hold    bool
	size    int64
	next    time.Time
}

func scanRows(rows pgx.Rows) ([]row, error) {
	var rs []row
	var r row
	_, err := pgx.ForEachRow(rows, []any{&r.id, &r.env, &r.hold, &r.size, &r.next}, func() error {
		rs = append(rs, r)
		return nil
	})
	return rs, err
}

// scan decodes every row; one bad envelope fails the whole call.
func (s *Store) scan(rows pgx.Rows) ([]*queue.Message, error) {
	rs, err := scanRows(rows)
	if err != nil {
		return nil, err
	}
	out := make([]*queue.Message, 0, len(rs))
	for _, r := range rs {
		m, err := decode(s.prefix+"_msg", r.id, r.env, r.hold, r.size, r.next)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// decodeGood decodes the rows, logging and leaving out those whose
// envelope does not parse, so that one bad row cannot stop the queue.
// It returns the IDs of the bad rows.
func (s *Store) decodeGood(rs []row) (out []*queue.Message, bad []string) {
	out = make([]*queue.Message, 0, len(rs))
	for _, r := range rs {
		m, err := decode(s.prefix+"_msg", r.id, r.env, r.hold, r.size, r.next)
		if err != nil {
			s.log.Error("pgstore: skipping message with unreadable envelope", "id", r.id, "err", err)
			bad = append(bad, r.id)
			continue
		}
		out = append(out, m)
	}
	return out, bad
}

// Put implements queue.Store. The body is read into memory first; the
// envelope and the body are then inserted in one transaction, committed
// with synchronous_commit on, before Put returns nil.
func (s *Store) Put(ctx context.Context, m *queue.Message, body io.Reader) (err error) {
	if err := s.check(ctx); err != nil {
		return err
	}
	if m.ID == "" {
		m.ID = queue.NewID()
	} else if !queue.ValidID(m.ID) {
		return fmt.Errorf("pgstore: invalid message ID %q", m.ID)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("pgstore: put %s: %w", m.ID, err)
		}
	}()
	data, err := io.ReadAll(io.LimitReader(body, s.maxBody+1))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if int64(len(data)) > s.maxBody {
		return fmt.Errorf("body larger than %d bytes", s.maxBody)
	}
	m.Version = queue.MessageVersion
	m.Size = int64(len(data))
	env, err := encode(m)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.insertMsg, m.ID, queue.MessageVersion, env, m.Hold, dbTime(m.NextAttempt), m.Size)
		b.Queue(s.q.insertBody, m.ID, data)
	})
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" {
		return fmt.Errorf("message already exists: %w", err)
	}
	return err
}

// Get implements queue.Store.
func (s *Store) Get(ctx context.Context, id string) (*queue.Message, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, s.q.getMsg, id)
	ms, err := s.scan(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: get %s: %w", id, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("pgstore: get %s: %w", id, queue.ErrNotFound)
	}
	return ms[0], nil
}

// List implements queue.Store. IDs are compared bytewise (the id column
// has the "C" collation).
func (s *Store) List(ctx context.Context) ([]*queue.Message, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, s.q.list)
	ms, err := s.scan(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: list: %w", err)
	}
	return ms, nil
}

// Due implements queue.Store. Leases are not considered: Due returns
// leased messages too (use Lease to claim work). Like Lease, it leaves out
// messages written with a newer envelope version, and logs and leaves out
// those whose envelope does not parse.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]*queue.Message, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var lim *int64
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	rows, _ := s.pool.Query(ctx, s.q.due, dbTime(now), lim, queue.MessageVersion)
	rs, err := scanRows(rows)
	if err != nil {
		return nil, fmt.Errorf("pgstore: due: %w", err)
	}
	ms, _ := s.decodeGood(rs)
	return ms, nil
}

// Update implements queue.Store. It is an administrator's action: it
// ignores leases and leaves them in place.
func (s *Store) Update(ctx context.Context, m *queue.Message) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	env, err := encode(m)
	if err != nil {
		return fmt.Errorf("pgstore: update %s: %w", m.ID, err)
	}
	var n int64
	err = s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.update, m.ID, queue.MessageVersion, env, m.Hold, dbTime(m.NextAttempt)).
			Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
	})
	if err == nil && n == 0 {
		err = queue.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pgstore: update %s: %w", m.ID, err)
	}
	return nil
}

// Reschedule implements queue.Rescheduler: it changes the hold and
// next_attempt columns only, so a runner holding the message's lease
// keeps its recipient states (its Release then keeps the hold, and sets
// its own next attempt).
func (s *Store) Reschedule(ctx context.Context, id string, hold bool, next time.Time) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var n int64
	err := s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.reschedule, id, hold, dbTime(next)).
			Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
	})
	if err == nil && n == 0 {
		err = queue.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pgstore: reschedule %s: %w", id, err)
	}
	return nil
}

// Body implements queue.Store. The body is read into memory.
func (s *Store) Body(ctx context.Context, id string) (io.ReadCloser, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var data []byte
	err := s.pool.QueryRow(ctx, s.q.body, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		err = queue.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: body %s: %w", id, err)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Delete implements queue.Store. It is an administrator's action: it
// ignores leases; the lease owner's Finish or Release then fails.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var n int64
	err := s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.del, id).Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
	})
	if err == nil && n == 0 {
		err = queue.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("pgstore: delete %s: %w", id, err)
	}
	return nil
}

func checkLeaseArgs(owner string, ttl time.Duration) error {
	if owner == "" {
		return errors.New("empty lease owner")
	}
	if ttl < time.Microsecond {
		return fmt.Errorf("lease ttl %v shorter than 1µs", ttl)
	}
	return nil
}

// Lease implements queue.Leaser. Due-ness is judged by now (the caller's
// clock); lease expiry by the database server's clock. Messages whose
// envelope version is newer than this package writes are left for newer
// runners. A leased message whose envelope does not parse is logged, left
// out of the result and put on hold (quarantined) for an administrator.
func (s *Store) Lease(ctx context.Context, owner string, now time.Time, limit int, ttl time.Duration) ([]*queue.Message, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := checkLeaseArgs(owner, ttl); err != nil {
		return nil, fmt.Errorf("pgstore: lease: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("pgstore: lease: limit %d, want > 0", limit)
	}
	var rs []row
	err := s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.lease, owner, dbTime(now), limit, ttl.Microseconds(), queue.MessageVersion).
			Query(func(rows pgx.Rows) (err error) {
				rs, err = scanRows(rows)
				return err
			})
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: lease: %w", err)
	}
	// RETURNING has no order.
	slices.SortFunc(rs, func(a, b row) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	ms, bad := s.decodeGood(rs)
	if len(bad) > 0 {
		// Quarantine: hold the unreadable messages for a human, as the
		// spool moves such envelopes aside. If this fails they stay
		// leased until the lease expires.
		err := s.write(ctx, func(b *pgx.Batch) { b.Queue(s.q.quarantine, bad, owner) })
		if err != nil {
			s.log.Error("pgstore: holding messages with unreadable envelopes", "ids", bad, "err", err)
		} else {
			s.log.Warn("pgstore: messages with unreadable envelopes put on hold", "ids", bad)
		}
	}
	return ms, nil
}

// Renew implements queue.Leaser. A lease that has expired counts as lost
// even if no other owner has taken the message yet.
func (s *Store) Renew(ctx context.Context, owner string, ids []string, ttl time.Duration) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := checkLeaseArgs(owner, ttl); err != nil {
		return nil, fmt.Errorf("pgstore: renew: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	kept := map[string]bool{}
	err := s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.renew, owner, ids, ttl.Microseconds()).Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				kept[id] = true
				return nil
			})
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: renew: %w", err)
	}
	var lost []string
	for _, id := range ids {
		if !kept[id] && !slices.Contains(lost, id) {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

// leaseError explains why a conditional Release or Finish changed nothing.
func leaseError(exists bool) error {
	if exists {
		return queue.ErrLeaseLost
	}
	// The lease is lost because the message is gone.
	return fmt.Errorf("%w: %w", queue.ErrLeaseLost, queue.ErrNotFound)
}

// Release implements queue.Leaser: it stores m's envelope and NextAttempt
// (the hold column is not touched) and clears the lease, provided owner's
// lease has not expired. When the message is gone the error wraps both
// queue.ErrNotFound and queue.ErrLeaseLost.
func (s *Store) Release(ctx context.Context, owner string, m *queue.Message) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	env, err := encode(m)
	if err != nil {
		return fmt.Errorf("pgstore: release %s: %w", m.ID, err)
	}
	var n int64
	var exists bool
	err = s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.release, m.ID, owner, queue.MessageVersion, env, dbTime(m.NextAttempt)).
			Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
		b.Queue(s.q.exists, m.ID).QueryRow(func(r pgx.Row) error { return r.Scan(&exists) })
	})
	if err == nil && n == 0 {
		err = leaseError(exists)
	}
	if err != nil {
		return fmt.Errorf("pgstore: release %s: %w", m.ID, err)
	}
	return nil
}

// Finish implements queue.Leaser: it deletes the message and its body,
// provided owner's lease has not expired. When the message is already
// gone the error wraps both queue.ErrLeaseLost and queue.ErrNotFound.
func (s *Store) Finish(ctx context.Context, owner string, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var n int64
	var exists bool
	err := s.write(ctx, func(b *pgx.Batch) {
		b.Queue(s.q.finish, id, owner).Exec(func(ct pgconn.CommandTag) error { n = ct.RowsAffected(); return nil })
		b.Queue(s.q.exists, id).QueryRow(func(r pgx.Row) error { return r.Scan(&exists) })
	})
	if err == nil && n == 0 {
		err = leaseError(exists)
	}
	if err != nil {
		return fmt.Errorf("pgstore: finish %s: %w", id, err)
	}
	return nil
}
