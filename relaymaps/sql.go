package relaymaps

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// SQLDriver is what a SQL table type needs from a database driver. The
// packages relaymaps/pgsql, relaymaps/mysql and relaymaps/sqlite each
// register one with RegisterSQL when imported, as database/sql drivers
// do, so that a program that uses no SQL table links no database driver:
//
//	import _ "github.com/mxkit/mxkit/relaymaps/mysql" // mysql: tables
type SQLDriver struct {
	// Open returns the pool of one database: for pgsql and mysql one
	// entry of the file's "hosts" (see SplitSQLHost), for sqlite the
	// dbpath file. It connects to nothing: the first lookup does.
	Open func(c SQLConnect) (*sql.DB, error)
	// Permanent reports whether a database error is the query's or the
	// configuration's fault (bad SQL, a missing table or column, access
	// denied, an unknown database): the lookup error then wraps
	// ErrConfig. Other errors (connection failures, timeouts, server
	// shutdown, lock contention) wrap ErrTemporary. Nil means all are
	// temporary.
	Permanent func(err error) bool
}

// SQLConnect is what a *_table(5) file says about reaching its database.
type SQLConnect struct {
	// Host is one "hosts" entry ("unix:/path", "inet:host:port",
	// "host:port", "host", "[v6addr]:port", or for pgsql a
	// postgres:// URI); for sqlite, the dbpath, resolved.
	Host string
	// User, Password and DBName are user, password and dbname.
	User, Password, DBName string
	// Timeout is the file's timeout: connect, read and write.
	Timeout time.Duration
}

// sqlTypes are the SQL table types and the package that registers each.
var sqlTypes = map[string]struct {
	dialect sqlDialect
	pkg     string
}{
	"pgsql":  {dialectPgSQL, "github.com/mxkit/mxkit/relaymaps/pgsql"},
	"mysql":  {dialectMySQL, "github.com/mxkit/mxkit/relaymaps/mysql"},
	"sqlite": {dialectSQLite, "github.com/mxkit/mxkit/relaymaps/sqlite"},
}

var sqlDrivers = struct {
	sync.RWMutex
	m map[sqlDialect]SQLDriver
}{m: map[sqlDialect]SQLDriver{}}

// RegisterSQL makes the SQL table type typ ("pgsql", "mysql" or
// "sqlite") available to Open and OpenSQL with driver d. The file
// syntax and the query translation are this package's; d only connects
// and classifies errors. RegisterSQL panics if typ is not one of the
// three, is already registered, or d.Open is nil; call it from an init
// function.
func RegisterSQL(typ string, d SQLDriver) {
	t, ok := sqlTypes[Fold(typ)]
	if !ok || d.Open == nil {
		panic("relaymaps: RegisterSQL: unknown SQL table type " + typ + " or nil Open")
	}
	sqlDrivers.Lock()
	sqlDrivers.m[t.dialect] = d
	sqlDrivers.Unlock()
	Register(t.dialect.String(), func(name string, opts *OpenOptions) (Map, error) {
		return OpenSQL(t.dialect.String(), name, opts)
	})
}

// sqlDriverFor returns the registered driver of d, or an error naming
// the package to import.
func sqlDriverFor(typ string) (sqlDialect, SQLDriver, error) {
	t, ok := sqlTypes[Fold(typ)]
	if !ok {
		return 0, SQLDriver{}, &SyntaxError{Msg: fmt.Sprintf("unsupported SQL table type %q", typ)}
	}
	sqlDrivers.RLock()
	drv, ok := sqlDrivers.m[t.dialect]
	sqlDrivers.RUnlock()
	if !ok {
		return 0, SQLDriver{}, noDriverError(typ)
	}
	return t.dialect, drv, nil
}

func noDriverError(typ string) error {
	return &SyntaxError{Msg: fmt.Sprintf("table type %q needs its driver: import _ %q", typ, sqlTypes[Fold(typ)].pkg)}
}

// SQLTable is a pgsql:, mysql: or sqlite: table: a query run against a
// database for each lookup, configured by a file in the syntax of
// Postfix's pgsql_table(5), mysql_table(5) or sqlite_table(5). It is a
// fixed table, safe for concurrent use. Close releases its connections.
type SQLTable struct {
	name     string
	cfg      *sqlConfig
	domains  *DomainList
	backends []*sqlBackend
	log      *slog.Logger
}

// sqlBackend is one database server (one entry of "hosts") and its pool.
type sqlBackend struct {
	addr      string // for messages
	db        *sql.DB
	permanent func(error) bool // SQLDriver.Permanent
	mu        sync.Mutex
	stmt      *sql.Stmt // prepared lazily
	downUntil atomic.Int64
}

// OpenSQL opens a table of type typ ("pgsql", "mysql" or "sqlite") from
// the configuration file at path (resolved with opts.ResolvePath). No
// connection is made until the first lookup: a database that is down at
// start-up gives temporary lookup errors, not an Open error.
func OpenSQL(typ, path string, opts *OpenOptions) (*SQLTable, error) {
	d, drv, err := sqlDriverFor(typ)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, &SyntaxError{Msg: fmt.Sprintf("%s: missing configuration file name", d)}
	}
	file := opts.ResolvePath(path)
	text, err := readFile(file)
	if err != nil {
		return nil, &configError{msg: "relaymaps: " + d.String() + ":" + path, err: err}
	}
	cfg, err := parseSQLConfig(d, file, string(text))
	if err != nil {
		return nil, err
	}
	t := &SQLTable{name: d.String() + ":" + path, cfg: cfg, log: opts.logger()}
	if cfg.domain != "" {
		if t.domains, err = ParseDomainList(cfg.domain, opts); err != nil {
			return nil, &SyntaxError{File: file, Line: cfg.domainLine, Msg: "domain: " + err.Error()}
		}
		// Postfix matches "domain" as a string list: no parent domains.
		t.domains.ParentMatchesSubdomains = false
	}
	conn := SQLConnect{User: cfg.user, Password: cfg.password, DBName: cfg.dbname, Timeout: cfg.timeout}
	switch d {
	case dialectSQLite:
		conn.Host, conn.DBName = opts.ResolvePath(cfg.dbname), ""
		db, err := drv.Open(conn)
		if err != nil {
			return nil, &SyntaxError{File: file, Msg: "dbpath: " + err.Error()}
		}
		t.backends = []*sqlBackend{{addr: cfg.dbname, db: db, permanent: drv.Permanent}}
	default:
		for _, h := range cfg.hosts {
			conn.Host = h
			db, err := drv.Open(conn)
			if err != nil {
				_ = t.Close()
				return nil, &SyntaxError{File: file, Msg: "hosts: " + err.Error()}
			}
			t.backends = append(t.backends, &sqlBackend{addr: h, db: db, permanent: drv.Permanent})
		}
	}
	for _, b := range t.backends {
		b.db.SetMaxOpenConns(cfg.maxConns)
		b.db.SetMaxIdleConns(cfg.maxConns)
		b.db.SetConnMaxIdleTime(cfg.idleInterval)
	}
	return t, nil
}

// SplitSQLHost parses one "hosts" entry of a *_table(5) file:
// "unix:/path" (network "unix", addr the path, port defPort),
// "inet:host:port", "host:port", "host" or "[v6addr]:port" (network
// "tcp"; port defPort when the entry has none).
func SplitSQLHost(h string, defPort int) (network, addr string, port int, err error) {
	if p, ok := strings.CutPrefix(h, "unix:"); ok {
		if p == "" {
			return "", "", 0, fmt.Errorf("empty socket path in %q", h)
		}
		return "unix", p, defPort, nil
	}
	h = strings.TrimPrefix(h, "inet:")
	host, ps, err := net.SplitHostPort(h)
	if err != nil {
		host, ps = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ""
	}
	port = defPort
	if ps != "" {
		if port, err = strconv.Atoi(ps); err != nil || port < 1 || port > 65535 {
			return "", "", 0, fmt.Errorf("bad port in %q", h)
		}
	}
	if host == "" {
		return "", "", 0, fmt.Errorf("empty host name in %q", h)
	}
	return "tcp", host, port, nil
}

// Lookup runs the query for key (folded to lower case) and joins the
// values of all columns of all rows with ",", as Postfix does. A key
// that the "domain" list excludes, or that lacks the parts the query
// needs (%d with no domain, %u with an empty local part, %3 with two
// labels), is not found without a query. So is the empty key and a key
// that is not valid UTF-8 or contains a NUL byte: no Postfix key does.
func (t *SQLTable) Lookup(ctx context.Context, key string) (string, bool, error) {
	if key == "" || !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return "", false, nil
	}
	key = Fold(key)
	if t.domains != nil {
		at := strings.LastIndexByte(key, '@')
		if at <= 0 {
			return "", false, nil
		}
		ok, err := t.domains.Match(ctx, key[at+1:])
		if err != nil {
			return "", false, &LookupError{Table: t.name, Key: key, Kind: kindOf(err), Err: err}
		}
		if !ok {
			return "", false, nil
		}
	}
	k, ok := splitKey(key, &t.cfg.flags)
	if !ok {
		return "", false, nil
	}
	args := make([]any, len(t.cfg.query.params))
	for i, p := range t.cfg.query.params {
		var b strings.Builder
		k.expand(&b, p, nil)
		args[i] = b.String()
	}
	values, err := t.query(ctx, args)
	if err != nil {
		return "", false, &LookupError{Table: t.name, Key: key, Kind: kindOf(err), Err: err}
	}
	var out strings.Builder
	n := 0
	for _, v := range values {
		if v == "" {
			t.log.Warn("relaymaps: empty lookup result ignored", "table", t.name, "key", key)
			continue
		}
		vk, ok := splitValue(v, &t.cfg.flags)
		if !ok {
			continue
		}
		if n++; t.cfg.expansionLimit > 0 && n > t.cfg.expansionLimit {
			err := &configError{msg: fmt.Sprintf("expansion_limit %d exceeded", t.cfg.expansionLimit)}
			return "", false, &LookupError{Table: t.name, Key: key, Kind: ErrConfig, Err: err}
		}
		if out.Len() > 0 {
			out.WriteByte(',')
		}
		vk.expand(&out, t.cfg.result, &k)
	}
	if n == 0 {
		return "", false, nil
	}
	return out.String(), true, nil
}

// query runs the query on one backend after another until one answers.
// Backends that failed recently come last; every backend is tried, and a
// single backend twice (the pool drops a broken connection, so the
// second try reconnects).
func (t *SQLTable) query(ctx context.Context, args []any) ([]string, error) {
	order := make([]*sqlBackend, 0, len(t.backends)+1)
	now := time.Now().UnixNano()
	var down []*sqlBackend
	for _, i := range rand.Perm(len(t.backends)) {
		if b := t.backends[i]; b.downUntil.Load() > now {
			down = append(down, b)
		} else {
			order = append(order, b)
		}
	}
	order = append(order, down...)
	if len(order) == 1 {
		order = append(order, order[0])
	}
	var errs []error
	for _, b := range order {
		values, err := b.query(ctx, t.cfg, args)
		if err == nil {
			b.downUntil.Store(0)
			return values, nil
		}
		if !errors.Is(err, ErrTemporary) || ctx.Err() != nil {
			return nil, err
		}
		b.downUntil.Store(time.Now().Add(t.cfg.retryInterval).UnixNano())
		// The idle connections may be as dead as the one that failed
		// (a restarted server leaves each with a pending error): drop
		// them, so that the next attempt connects afresh.
		b.db.SetMaxIdleConns(0)
		b.db.SetMaxIdleConns(t.cfg.maxConns)
		errs = append(errs, err)
	}
	if len(errs) == 1 || len(t.backends) == 1 {
		return nil, errs[len(errs)-1]
	}
	return nil, errors.Join(errs...)
}

// query runs the query on b within the configured timeout. Its errors
// wrap ErrTemporary or ErrConfig.
func (b *sqlBackend) query(ctx context.Context, cfg *sqlConfig, args []any) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	stmt, err := b.prepare(ctx, cfg.query.sql)
	if err != nil {
		return nil, b.classify(err)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, b.classify(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, b.classify(err)
	}
	if len(cols) == 0 && cfg.requireResult {
		return nil, &configError{msg: b.addr + ": query returned no result set"}
	}
	cells := make([]sql.NullString, len(cols))
	dst := make([]any, len(cols))
	for i := range cells {
		dst[i] = &cells[i]
	}
	var values []string
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return nil, b.classify(err)
		}
		for _, c := range cells {
			if c.Valid {
				values = append(values, c.String)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, b.classify(err)
	}
	return values, nil
}

// prepare returns the backend's prepared statement, preparing it on
// first use. A failed preparation is retried by the next lookup.
func (b *sqlBackend) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stmt != nil {
		return b.stmt, nil
	}
	s, err := b.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	b.stmt = s
	return s, nil
}

// classify wraps a database error with ErrConfig when the driver says
// it is the query's or the configuration's fault and with ErrTemporary
// otherwise.
func (b *sqlBackend) classify(err error) error {
	if b.permanent != nil && b.permanent(err) {
		return &configError{msg: b.addr, err: err}
	}
	return &tempError{msg: b.addr, err: err}
}

// tempError is a temporary failure with an underlying cause.
type tempError struct {
	msg string
	err error
}

func (e *tempError) Error() string { return e.msg + ": " + e.err.Error() }

func (e *tempError) Unwrap() []error { return []error{ErrTemporary, e.err} }

// FixedKeys reports true: SQL tables get Postfix's partial keys.
func (*SQLTable) FixedKeys() bool { return true }

// Name returns the table's spec, e.g. "mysql:/etc/postfix/relay.cf".
func (t *SQLTable) Name() string { return t.name }

// Close closes the table's connection pools and the tables its "domain"
// list opened.
func (t *SQLTable) Close() error {
	var errs []error
	for _, b := range t.backends {
		b.mu.Lock()
		if b.stmt != nil {
			errs = append(errs, b.stmt.Close())
			b.stmt = nil
		}
		b.mu.Unlock()
		errs = append(errs, b.db.Close())
	}
	errs = append(errs, t.domains.Close())
	return errors.Join(errs...)
}

// keyParts is a key or a result value split as Postfix's db_common_expand
// splits it.
type keyParts struct {
	full, user, domain string
	hasDomain          bool
	labels             []string // the domain's labels, empty ones dropped
}

func split(s string) keyParts {
	k := keyParts{full: s, user: s}
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		k.user, k.domain, k.hasDomain = s[:at], s[at+1:], true
	}
	return k
}

// splitKey splits the lookup key; ok is false when the templates need a
// part the key lacks (Postfix then suppresses the query).
func splitKey(key string, f *tmplFlags) (keyParts, bool) {
	k := split(key)
	if f.keyDomain && (!k.hasDomain || k.domain == "") || f.keyUser && k.hasDomain && k.user == "" {
		return k, false
	}
	if f.nparts > 0 {
		k.labels = strings.FieldsFunc(k.domain, func(r rune) bool { return r == '.' })
		if len(k.labels) < f.nparts {
			return k, false
		}
	}
	return k, true
}

// splitValue splits a result value; ok is false when result_format needs
// a part the value lacks (the value is then skipped).
func splitValue(v string, f *tmplFlags) (keyParts, bool) {
	k := split(v)
	if f.valueDomain && (!k.hasDomain || k.domain == "") || f.valueUser && k.hasDomain && k.user == "" {
		return k, false
	}
	return k, true
}

// expand appends the template to b. k is what the lower-case expansions
// refer to; key (nil in queries) is the lookup key that the upper-case
// expansions and %1..%9 refer to in a result_format.
func (k *keyParts) expand(b *strings.Builder, tmpl []tmplPiece, key *keyParts) {
	if key == nil {
		key = k
	}
	for _, p := range tmpl {
		switch p.exp {
		case 0:
			b.WriteString(p.lit)
		case 's':
			b.WriteString(k.full)
		case 'u':
			b.WriteString(k.user)
		case 'd':
			b.WriteString(k.domain)
		case 'S':
			b.WriteString(key.full)
		case 'U':
			b.WriteString(key.user)
		case 'D':
			b.WriteString(key.domain)
		default: // '1'..'9', checked by splitKey
			b.WriteString(key.labels[len(key.labels)-int(p.exp-'0')])
		}
	}
}
