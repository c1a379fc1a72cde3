package relaymaps_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for test set-up

	"github.com/mxkit/mxkit/internal/testdb"
	"github.com/mxkit/mxkit/relaymaps"
	_ "github.com/mxkit/mxkit/relaymaps/mysql"
	_ "github.com/mxkit/mxkit/relaymaps/pgsql"
	"github.com/mxkit/mxkit/relaymaps/relaymapstest"
	_ "github.com/mxkit/mxkit/relaymaps/sqlite"
)

// sqlDB is one database under test: how to reach it from a *_table(5)
// file and an administrative handle to fill it.
type sqlDB struct {
	typ     string           // "pgsql", "mysql", "sqlite"
	connect string           // the cf lines that reach the database
	admin   *sql.DB          // read-write handle for set-up
	ph      func(int) string // placeholder n (1-based)
	server  interface {
		Stop()
		Start()
	} // nil for sqlite
	dir string
}

// cf writes a configuration file with the connection lines and extra
// lines, and returns its path.
func (d *sqlDB) cf(t *testing.T, lines ...string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d.cf", d.typ, cfCount.Add(1))
	return writeFile(t, d.dir, name, d.connect+strings.Join(lines, "\n")+"\n")
}

func (d *sqlDB) exec(t testing.TB, stmt string, args ...any) {
	t.Helper()
	if _, err := d.admin.Exec(stmt, args...); err != nil {
		t.Fatalf("%s: %q: %v", d.typ, stmt, err)
	}
}

func (d *sqlDB) open(t *testing.T, lines ...string) *relaymaps.SQLTable {
	t.Helper()
	m, err := relaymaps.OpenSQL(d.typ, d.cf(t, lines...), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func startPostgres(t *testing.T) *sqlDB { return startPostgresTB(t) }

func startMariaDB(t *testing.T) *sqlDB { return startMariaDBTB(t) }

func startPostgresTB(t testing.TB) *sqlDB {
	p := testdb.StartPostgres(t)
	t.Logf("PostgreSQL started in %v", p.StartupTime())
	db, err := sql.Open("pgx", p.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &sqlDB{
		typ: "pgsql", admin: db, server: p, dir: t.TempDir(),
		connect: fmt.Sprintf("hosts = inet:%s:%d\nuser = %s\npassword = %s\ndbname = %s\n", p.Host, p.Port, p.User, p.Password, p.DBName),
		ph:      func(n int) string { return "$" + strconv.Itoa(n) },
	}
}

func startMariaDBTB(t testing.TB) *sqlDB {
	m := testdb.StartMariaDB(t)
	t.Logf("MariaDB started in %v", m.StartupTime())
	db, err := sql.Open("mysql", m.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &sqlDB{
		typ: "mysql", admin: db, server: m, dir: t.TempDir(),
		connect: fmt.Sprintf("hosts = %s:%d\nuser = %s\npassword = %s\ndbname = %s\n", m.Host, m.Port, m.User, m.Password, m.DBName),
		ph:      func(int) string { return "?" },
	}
}

func openSQLite(t testing.TB) *sqlDB {
	dir := t.TempDir()
	path := filepath.Join(dir, "maps.sqlite")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &sqlDB{
		typ: "sqlite", admin: db, dir: dir,
		connect: "dbpath = " + path + "\n",
		ph:      func(int) string { return "?" },
	}
}

var cfCount atomic.Int64

// freeTCPPort returns a port on 127.0.0.1 that nothing listens on.
func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hostileKeys are stored in the table (value "v:" + key) and looked up:
// nothing in them may change the query.
var hostileKeys = []string{
	"o'brien@example.com",
	`x' or '1'='1`,
	`'; drop table maps; --`,
	`"; drop table maps; --`,
	"100%", "%s", "%%", "%u@%d", "_", "semi;colon", "back\\slash", `back\\slash\'`, `\'`, `\`,
	"$1", "?", ":name", "@x", "`tick`", "/* c */", "-- c", "# c",
	"müller@例え.jp", "tab\there", "line\nbreak",
}

// hostileMissing are not stored; each must be not found, without error.
var hostileMissing = []string{
	`' or '1'='1`, `x' or 'a'='a`, `' OR 1=1 --`, "%", "%%%", "o'brien@example.com' --",
	"nul\x00byte", "o'brien@example.com\x00", "\x00", "bad utf8 \xff", `\\`, "'", "''", `"`,
}

// fill creates the table maps(k, v) with the common test contents.
func fill(t testing.TB, d *sqlDB) {
	d.exec(t, "CREATE TABLE maps (k VARCHAR(255) NOT NULL, v VARCHAR(255))")
	ins := fmt.Sprintf("INSERT INTO maps (k, v) VALUES (%s, %s)", d.ph(1), d.ph(2))
	rows := [][2]any{
		{"user@example.com", "OK"},
		{"example.com", "relay:[mx.example.net]"},
		{"multi@example.com", "b"}, {"multi@example.com", "a"}, {"multi@example.com", "c"},
		{"null@example.com", nil}, {"null@example.com", "not null"},
		{"empty@example.com", ""},
		{"@example.org", "catchall@example.net"},
	}
	for _, k := range hostileKeys {
		rows = append(rows, [2]any{k, "v:" + k})
	}
	for _, r := range rows {
		d.exec(t, ins, r[0], r[1])
	}
}

func TestSQLPostgres(t *testing.T) { testSQL(t, startPostgres(t)) }

func TestSQLMariaDB(t *testing.T) { testSQL(t, startMariaDB(t)) }

func TestSQLSQLite(t *testing.T) { testSQL(t, openSQLite(t)) }

func testSQL(t *testing.T, d *sqlDB) {
	fill(t, d)
	ctx := context.Background()

	t.Run("conformance", func(t *testing.T) {
		m := d.open(t, "query = SELECT v FROM maps WHERE k = '%s' ORDER BY v")
		want := map[string]string{
			"user@example.com":  "OK",
			"USER@Example.COM":  "OK",
			"example.com":       "relay:[mx.example.net]",
			"multi@example.com": "a,b,c",
			"null@example.com":  "not null",
		}
		for _, k := range hostileKeys {
			want[k] = "v:" + relaymaps.Fold(k)
		}
		missing := append([]string{"nobody@example.com", "", "empty@example.com", "example.org"}, hostileMissing...)
		relaymapstest.TestMap(t, m, want, missing)
		if name := relaymaps.NameOf(m); !relaymaps.IsFixed(m) || !strings.HasPrefix(name, d.typ+":"+d.dir+"/") || !strings.HasSuffix(name, ".cf") {
			t.Errorf("IsFixed %v, Name %q", relaymaps.IsFixed(m), relaymaps.NameOf(m))
		}
		var n int
		if err := d.admin.QueryRow("SELECT COUNT(*) FROM maps").Scan(&n); err != nil || n != 9+len(hostileKeys) {
			t.Errorf("after hostile lookups: %d rows, %v; want %d", n, err, 9+len(hostileKeys))
		}
	})

	t.Run("expansions", func(t *testing.T) {
		// virtual(5)-style: the address, then the @domain catch-all.
		m := d.open(t, "query = SELECT v FROM maps WHERE k = '%u@%d' OR k = '@%d' ORDER BY v",
			"result_format = <%s> for %U")
		check := func(key, want string, wantFound bool) {
			t.Helper()
			v, found, err := m.Lookup(ctx, key)
			if err != nil || found != wantFound || v != want {
				t.Errorf("Lookup(%q) = %q, %v, %v; want %q, %v", key, v, found, err, want, wantFound)
			}
		}
		check("user@example.com", "<OK> for user", true)
		check("anyone@example.org", "<catchall@example.net> for anyone", true)
		check("example.com", "", false) // no domain: suppressed
	})

	t.Run("domain", func(t *testing.T) {
		m := d.open(t, "query = SELECT v FROM maps WHERE k = '%s'", "domain = example.com, !other.example")
		for key, want := range map[string]string{"user@example.com": "OK", "user@sub.example.com": "", "example.com": "", "@example.com": ""} {
			v, found, err := m.Lookup(ctx, key)
			if err != nil || v != want || found != (want != "") {
				t.Errorf("Lookup(%q) = %q, %v, %v; want %q", key, v, found, err, want)
			}
		}
	})

	t.Run("expansion_limit", func(t *testing.T) {
		m := d.open(t, "query = SELECT v FROM maps WHERE k = '%s'", "expansion_limit = 2")
		_, found, err := m.Lookup(ctx, "multi@example.com")
		var le *relaymaps.LookupError
		if found || !errors.As(err, &le) || !relaymaps.IsConfig(err) || !strings.HasSuffix(err.Error(), "expansion_limit 2 exceeded") {
			t.Errorf("Lookup over the limit: found %v, err %v; want a configuration error", found, err)
		}
		if v, found, err := m.Lookup(ctx, "user@example.com"); v != "OK" || !found || err != nil {
			t.Errorf("Lookup under the limit = %q, %v, %v", v, found, err)
		}
	})

	t.Run("config errors", func(t *testing.T) {
		for _, q := range []string{
			"SELECT v FROM no_such_table WHERE k = '%s'",
			"SELECT no_such_column FROM maps WHERE k = '%s'",
			"SELEC v FROM maps WHERE k = '%s'",
		} {
			m := d.open(t, "query = "+q)
			_, found, err := m.Lookup(ctx, "user@example.com")
			if found || !relaymaps.IsConfig(err) || errors.Is(err, relaymaps.ErrTemporary) {
				t.Errorf("%s: found %v, err %v; want ErrConfig only", q, found, err)
			}
		}
	})

	if d.server == nil {
		return
	}

	t.Run("failover", func(t *testing.T) {
		dead, err := freeTCPPort()
		if err != nil {
			t.Fatal(err)
		}
		// The dead host first: the lookup must go on to the live one.
		cf := strings.Replace(d.connect, "hosts = ", fmt.Sprintf("hosts = 127.0.0.1:%d ", dead), 1)
		m, err := relaymaps.OpenSQL(d.typ, writeFile(t, d.dir, "failover.cf", cf+"query = SELECT v FROM maps WHERE k = '%s'\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for range 4 {
			if v, found, err := m.Lookup(ctx, "user@example.com"); v != "OK" || !found || err != nil {
				t.Fatalf("Lookup = %q, %v, %v", v, found, err)
			}
		}
	})

	t.Run("timeout", func(t *testing.T) {
		sleep := "SELECT v FROM maps WHERE k = '%s' AND SLEEP(5) = 0"
		if d.typ == "pgsql" {
			sleep = "SELECT v FROM maps, pg_sleep(5) WHERE k = '%s'"
		}
		m := d.open(t, "query = "+sleep, "timeout = 200ms")
		_, found, err := m.Lookup(ctx, "user@example.com")
		if found || !errors.Is(err, relaymaps.ErrTemporary) || relaymaps.IsConfig(err) {
			t.Errorf("slow query: found %v, err %v; want ErrTemporary", found, err)
		}
		// The table still works.
		m2 := d.open(t, "query = SELECT v FROM maps WHERE k = '%s'", "timeout = 200ms")
		if v, found, err := m2.Lookup(ctx, "user@example.com"); v != "OK" || !found || err != nil {
			t.Errorf("Lookup after a timeout = %q, %v, %v", v, found, err)
		}
	})

	t.Run("outage", func(t *testing.T) {
		m := d.open(t, "query = SELECT v FROM maps WHERE k = '%s'", "timeout = 5s")
		// Fill the pool with several connections.
		relaymapstest.TestMap(t, m, map[string]string{"user@example.com": "OK"}, []string{"x@example.com"})
		d.server.Stop()
		for _, key := range []string{"user@example.com", "x@example.com"} {
			v, found, err := m.Lookup(ctx, key)
			var le *relaymaps.LookupError
			if found || v != "" || !errors.As(err, &le) || le.Kind != relaymaps.ErrTemporary || relaymaps.IsConfig(err) {
				t.Errorf("database down: Lookup(%q) = %q, %v, %v; want ErrTemporary", key, v, found, err)
			}
		}
		d.server.Start()
		for range 3 {
			if v, found, err := m.Lookup(ctx, "user@example.com"); v != "OK" || !found || err != nil {
				t.Errorf("database back: Lookup = %q, %v, %v; want \"OK\"", v, found, err)
			}
		}
		relaymapstest.TestMap(t, m, map[string]string{"user@example.com": "OK"}, []string{"x@example.com"})
	})
}
