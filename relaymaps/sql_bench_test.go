package relaymaps_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/mxkit/mxkit/internal/testdb"
	"github.com/mxkit/mxkit/relaymaps"
)

// BenchmarkSQLLookup measures one found lookup of a 1,000-row table
// through each driver against a real server (PostgreSQL and MariaDB on
// loopback, SQLite in-process), uncached and behind NewCache.
func BenchmarkSQLLookup(b *testing.B) {
	for _, backend := range []struct {
		name  string
		start func(*testing.B) *sqlDB
	}{
		{"sqlite", func(b *testing.B) *sqlDB { return openSQLite(b) }},
		{"pgsql", func(b *testing.B) *sqlDB {
			testdb.RequirePostgres(b)
			return startPostgresTB(b)
		}},
		{"mysql", func(b *testing.B) *sqlDB {
			testdb.RequireMariaDB(b)
			return startMariaDBTB(b)
		}},
	} {
		b.Run(backend.name, func(b *testing.B) {
			d := backend.start(b)
			d.exec(b, "CREATE TABLE maps (k VARCHAR(255) NOT NULL PRIMARY KEY, v VARCHAR(255))")
			ins := fmt.Sprintf("INSERT INTO maps (k, v) VALUES (%s, %s)", d.ph(1), d.ph(2))
			for i := range 1000 {
				d.exec(b, ins, fmt.Sprintf("user%d@example.com", i), "OK")
			}
			path := writeFile(b, d.dir, "bench.cf", d.connect+"query = SELECT v FROM maps WHERE k = '%s'\n")
			m, err := relaymaps.OpenSQL(d.typ, path, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			ctx := context.Background()
			for _, mode := range []struct {
				name string
				m    relaymaps.Map
			}{{"uncached", m}, {"cached", relaymaps.NewCache(m, relaymaps.CacheOptions{})}} {
				b.Run(mode.name, func(b *testing.B) {
					if v, found, err := mode.m.Lookup(ctx, "user500@example.com"); v != "OK" || !found || err != nil {
						b.Fatalf("Lookup = %q, %v, %v", v, found, err)
					}
					for b.Loop() {
						if _, _, err := mode.m.Lookup(ctx, "user500@example.com"); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
