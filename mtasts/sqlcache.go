package mtasts

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SQLCache is a Cache in an SQL table through database/sql:
//
//	CREATE TABLE IF NOT EXISTS mtasts_policy (
//		domain  VARCHAR(255) PRIMARY KEY,
//		id      VARCHAR(32) NOT NULL,
//		fetched BIGINT NOT NULL,  -- Unix time, seconds
//		policy  TEXT NOT NULL     -- the canonical policy text
//	)
//
// It works with the drivers relaymaps uses: "sqlite" (modernc.org/sqlite),
// "mysql" (go-sql-driver/mysql) and "pgx" or "postgres" (PostgreSQL, with
// $1 placeholders).
type SQLCache struct {
	db                  *sql.DB
	get, del, ins, list string
}

// OpenSQLCache opens the database with sql.Open(driver, dsn) and calls
// NewSQLCache. Close closes the database.
func OpenSQLCache(ctx context.Context, driver, dsn string) (*SQLCache, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("mtasts: cache: %w", err)
	}
	c, err := NewSQLCache(ctx, db, driver)
	if err != nil {
		db.Close()
		return nil, err
	}
	return c, nil
}

// NewSQLCache uses db, opened with driver, and creates the table
// mtasts_policy if it does not exist.
func NewSQLCache(ctx context.Context, db *sql.DB, driver string) (*SQLCache, error) {
	const table = "mtasts_policy"
	ph := func(int) string { return "?" }
	if driver == "pgx" || driver == "postgres" || strings.HasPrefix(driver, "pgx/") {
		ph = func(i int) string { return "$" + strconv.Itoa(i) }
	}
	c := &SQLCache{
		db:   db,
		get:  "SELECT id, fetched, policy FROM " + table + " WHERE domain = " + ph(1),
		del:  "DELETE FROM " + table + " WHERE domain = " + ph(1),
		ins:  "INSERT INTO " + table + " (domain, id, fetched, policy) VALUES (" + ph(1) + ", " + ph(2) + ", " + ph(3) + ", " + ph(4) + ")",
		list: "SELECT domain, id, fetched, policy FROM " + table,
	}
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+
		" (domain VARCHAR(255) PRIMARY KEY, id VARCHAR(32) NOT NULL, fetched BIGINT NOT NULL, policy TEXT NOT NULL)")
	if err != nil {
		return nil, fmt.Errorf("mtasts: cache: create table: %w", err)
	}
	return c, nil
}

// Close closes the database.
func (c *SQLCache) Close() error { return c.db.Close() }

func row(domain, id string, fetched int64, policy string) (*Entry, error) {
	fe := fileEntry{Domain: domain, ID: id, Fetched: time.Unix(fetched, 0), Policy: policy}
	e, err := fe.entry()
	if err != nil {
		return nil, fmt.Errorf("mtasts: cache: row %q: %w", domain, err)
	}
	return e, nil
}

// Get implements Cache.
func (c *SQLCache) Get(ctx context.Context, domain string) (*Entry, error) {
	var id, policy string
	var fetched int64
	err := c.db.QueryRowContext(ctx, c.get, domain).Scan(&id, &fetched, &policy)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mtasts: cache: %w", err)
	}
	return row(domain, id, fetched, policy)
}

// Put implements Cache. It replaces the row in a transaction (DELETE,
// INSERT), which every SQL dialect understands.
func (c *SQLCache) Put(ctx context.Context, e *Entry) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mtasts: cache: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, c.del, e.Domain); err != nil {
		return fmt.Errorf("mtasts: cache: %w", err)
	}
	if _, err := tx.ExecContext(ctx, c.ins, e.Domain, e.ID, e.Fetched.Unix(), e.Policy.String()); err != nil {
		return fmt.Errorf("mtasts: cache: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mtasts: cache: %w", err)
	}
	return nil
}

// Delete implements Cache.
func (c *SQLCache) Delete(ctx context.Context, domain string) error {
	if _, err := c.db.ExecContext(ctx, c.del, domain); err != nil {
		return fmt.Errorf("mtasts: cache: %w", err)
	}
	return nil
}

// List implements Cache.
func (c *SQLCache) List(ctx context.Context) ([]*Entry, error) {
	rows, err := c.db.QueryContext(ctx, c.list)
	if err != nil {
		return nil, fmt.Errorf("mtasts: cache: %w", err)
	}
	defer rows.Close()
	var l []*Entry
	for rows.Next() {
		var domain, id, policy string
		var fetched int64
		if err := rows.Scan(&domain, &id, &fetched, &policy); err != nil {
			return nil, fmt.Errorf("mtasts: cache: %w", err)
		}
		e, err := row(domain, id, fetched, policy)
		if err != nil {
			return nil, err
		}
		l = append(l, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mtasts: cache: %w", err)
	}
	return l, nil
}
