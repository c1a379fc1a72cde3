package relaymaps

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
)

func init() {
	Register("pgsql", sqlOpener(dialectPgSQL))
	Register("mysql", sqlOpener(dialectMySQL))
	Register("sqlite", sqlOpener(dialectSQLite))
}

func sqlOpener(d sqlDialect) func(string, *OpenOptions) (Map, error) {
	return func(name string, opts *OpenOptions) (Map, error) {
		return OpenSQL(d.String(), name, opts)
	}
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
	dialect   sqlDialect
	mu        sync.Mutex
	stmt      *sql.Stmt // prepared lazily
	downUntil atomic.Int64
}

// OpenSQL opens a table of type typ ("pgsql", "mysql" or "sqlite") from
// the configuration file at path (resolved with opts.ResolvePath). No
// connection is made until the first lookup: a database that is down at
// start-up gives temporary lookup errors, not an Open error.
func OpenSQL(typ, path string, opts *OpenOptions) (*SQLTable, error) {
	var d sqlDialect
	switch Fold(typ) {
	case "pgsql":
		d = dialectPgSQL
	case "mysql":
		d = dialectMySQL
	case "sqlite":
		d = dialectSQLite
	default:
		return nil, &SyntaxError{Msg: fmt.Sprintf("unsupported SQL table type %q", typ)}
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
	switch d {
	case dialectSQLite:
		db, err := sqliteDB(opts.ResolvePath(cfg.dbname), cfg)
		if err != nil {
			return nil, &SyntaxError{File: file, Msg: "dbpath: " + err.Error()}
		}
		t.backends = []*sqlBackend{{addr: cfg.dbname, db: db, dialect: d}}
	default:
		for _, h := range cfg.hosts {
			db, err := serverDB(d, h, cfg)
			if err != nil {
				_ = t.Close()
				return nil, &SyntaxError{File: file, Msg: "hosts: " + err.Error()}
			}
			t.backends = append(t.backends, &sqlBackend{addr: h, db: db, dialect: d})
		}
	}
	for _, b := range t.backends {
		b.db.SetMaxOpenConns(cfg.maxConns)
		b.db.SetMaxIdleConns(cfg.maxConns)
		b.db.SetConnMaxIdleTime(cfg.idleInterval)
	}
	return t, nil
}

// splitHost parses one "hosts" entry: "unix:/path", "inet:host:port",
// "host:port", "host" or "[v6addr]:port".
func splitHost(h string, defPort int) (network, addr string, port int, err error) {
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

func serverDB(d sqlDialect, host string, cfg *sqlConfig) (*sql.DB, error) {
	if d == dialectPgSQL {
		return pgsqlDB(host, cfg)
	}
	network, addr, port, err := splitHost(host, 3306)
	if err != nil {
		return nil, err
	}
	mc := mysql.NewConfig()
	mc.Net, mc.Addr = network, addr
	if network == "tcp" {
		mc.Addr = net.JoinHostPort(addr, strconv.Itoa(port))
	}
	mc.User, mc.Passwd, mc.DBName = cfg.user, cfg.password, cfg.dbname
	mc.Timeout, mc.ReadTimeout, mc.WriteTimeout = cfg.timeout, cfg.timeout, cfg.timeout
	// utf8mb4 so that any valid UTF-8 key reaches the server intact.
	if err := mc.Apply(mysql.Charset("utf8mb4", "")); err != nil {
		return nil, err
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(conn), nil
}

func pgsqlDB(host string, cfg *sqlConfig) (*sql.DB, error) {
	var pc *pgx.ConnConfig
	if strings.HasPrefix(host, "postgres://") || strings.HasPrefix(host, "postgresql://") {
		// Postfix 3.8: a connection URI; the file's user, password
		// and dbname fill in what it leaves out.
		var err error
		if pc, err = pgx.ParseConfig(host); err != nil {
			return nil, fmt.Errorf("bad URI: %w", err)
		}
		u, _ := url.Parse(host)
		if u != nil && u.User == nil {
			pc.User, pc.Password = cfg.user, cfg.password
		}
		if u != nil && strings.Trim(u.Path, "/") == "" {
			pc.Database = cfg.dbname
		}
	} else {
		network, addr, port, err := splitHost(host, 5432)
		if err != nil {
			return nil, err
		}
		// Start from an empty keyword/value string so that only
		// libpq's defaults (and its PG* environment variables) apply,
		// then set what the file says.
		if pc, err = pgx.ParseConfig(""); err != nil {
			return nil, err
		}
		pc.Host, pc.Port = addr, uint16(port)
		if network == "unix" {
			// libpq and pgx want the socket's directory; Postfix
			// documents unix:/path as that directory too.
			if strings.Contains(filepath.Base(addr), ".s.PGSQL.") {
				if p, err := strconv.Atoi(filepath.Ext(addr)[1:]); err == nil {
					pc.Port = uint16(p)
				}
				pc.Host = filepath.Dir(addr)
			}
		}
		pc.User, pc.Password, pc.Database = cfg.user, cfg.password, cfg.dbname
		for _, fb := range pc.Fallbacks {
			fb.Host, fb.Port = pc.Host, pc.Port
		}
	}
	pc.ConnectTimeout = cfg.timeout
	return stdlib.OpenDB(*pc), nil
}

func sqliteDB(path string, cfg *sqlConfig) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	// Read-only: a lookup table never writes, and a missing file must
	// not be created empty.
	u := url.URL{Scheme: "file", Path: abs, RawQuery: url.Values{
		"mode":    {"ro"},
		"_pragma": {fmt.Sprintf("busy_timeout(%d)", cfg.timeout.Milliseconds())},
	}.Encode()}
	return sql.Open("sqlite", u.String())
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

// classify wraps a database error with ErrConfig when it is the query's
// or the configuration's fault (bad SQL, a missing table or column,
// access denied, an unknown database) and with ErrTemporary otherwise
// (connection failures, timeouts, server shutdown, lock contention).
func (b *sqlBackend) classify(err error) error {
	kind := ErrTemporary
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &pgErr):
		switch pgErr.Code[:2] {
		case "42", // syntax error or access rule violation
			"22",             // data exception (a key the query's types cannot take)
			"28",             // invalid authorization
			"3D",             // invalid catalog name
			"3F",             // invalid schema name
			"0A",             // feature not supported
			"2F", "38", "39", // routine exceptions
			"21": // cardinality violation
			kind = ErrConfig
		}
	case errors.As(err, &myErr):
		switch myErr.Number {
		case 1044, 1045, 1049, 1052, 1054, 1064, 1109, 1142, 1143, 1146, 1149,
			1210, 1222, 1241, 1242, 1267, 1270, 1271, 1305, 1370, 1698:
			kind = ErrConfig
		}
	case errors.As(err, &liteErr):
		switch liteErr.Code() & 0xff {
		case 1, // SQLITE_ERROR: syntax, no such table or column
			3,  // SQLITE_PERM
			8,  // SQLITE_READONLY
			11, // SQLITE_CORRUPT
			14, // SQLITE_CANTOPEN
			20, // SQLITE_MISMATCH
			21, // SQLITE_MISUSE
			23, // SQLITE_AUTH
			25, // SQLITE_RANGE
			26: // SQLITE_NOTADB
			kind = ErrConfig
		}
	}
	if kind == ErrConfig {
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
