// Package pgschema creates and checks the versioned tables of mxkit's
// PostgreSQL stores (queue/pgstore, tlspolicy/tlsrpt/tlsrptpg): table-name
// prefixes, and a migration that runs once under an advisory lock however
// many processes start at the same time. It is a leaf; pgx is its only
// dependency.
package pgschema

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxPrefixLen bounds a table-name prefix, so that prefix_suffix stays
// within PostgreSQL's 63-byte identifiers.
const MaxPrefixLen = 48

// ValidPrefix reports whether p can prefix table names: lower-case
// letters, '_' and (after the first byte) digits, at most MaxPrefixLen.
func ValidPrefix(p string) bool {
	if p == "" || len(p) > MaxPrefixLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Schema is a store's versioned tables.
type Schema struct {
	// Lock names the advisory lock (with the prefix, it is hashed into the
	// lock key): "mxkit/queue/pgstore".
	Lock, Prefix string
	// CreateSchema creates the version table if missing; GetVersion
	// selects its one row; SetVersion ($1) inserts it.
	CreateSchema, GetVersion, SetVersion string
	// CreateTables create the tables of Version.
	CreateTables []string
	Version      int
}

// Migrate creates the tables when the version row is missing, under a
// transaction-scoped advisory lock, and refuses tables of a newer or an
// invalid version. created says whether it created them.
func Migrate(ctx context.Context, pool *pgxpool.Pool, s Schema) (created bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit
	h := fnv.New64a()
	h.Write([]byte(s.Lock + ":" + s.Prefix))
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64())); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, s.CreateSchema); err != nil {
		return false, err
	}
	var version int
	err = tx.QueryRow(ctx, s.GetVersion).Scan(&version)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		for _, stmt := range s.CreateTables {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return false, err
			}
		}
		if _, err := tx.Exec(ctx, s.SetVersion, s.Version); err != nil {
			return false, err
		}
		created = true
	case err != nil:
		return false, err
	case version > s.Version:
		return false, fmt.Errorf("tables have schema version %d, this program supports up to %d", version, s.Version)
	case version < 1:
		return false, fmt.Errorf("invalid schema version %d in %s_schema", version, s.Prefix)
	}
	return created, tx.Commit(ctx)
}
