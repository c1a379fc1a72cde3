// Package pgsql registers the pgsql: table type of package relaymaps
// (Postfix's pgsql_table(5)) with the driver github.com/jackc/pgx/v5.
// Import it for its side effect:
//
//	import _ "github.com/mxkit/mxkit/relaymaps/pgsql"
//
// A "hosts" entry is unix:/directory (or the socket file
// .s.PGSQL.port), inet:host:port, host:port, host, or (Postfix 3.8) a
// postgres:// URI whose missing user, password and database the file
// fills in. Only libpq's defaults and PG* environment variables apply
// besides what the file says; its timeout is the connect timeout.
package pgsql

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mxkit/mxkit/relaymaps"
)

func init() {
	relaymaps.RegisterSQL("pgsql", relaymaps.SQLDriver{Open: open, Permanent: permanent})
}

func open(c relaymaps.SQLConnect) (*sql.DB, error) {
	host := c.Host
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
			pc.User, pc.Password = c.User, c.Password
		}
		if u != nil && strings.Trim(u.Path, "/") == "" {
			pc.Database = c.DBName
		}
	} else {
		network, addr, port, err := relaymaps.SplitSQLHost(host, 5432)
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
		pc.User, pc.Password, pc.Database = c.User, c.Password, c.DBName
		for _, fb := range pc.Fallbacks {
			fb.Host, fb.Port = pc.Host, pc.Port
		}
	}
	pc.ConnectTimeout = c.Timeout
	return stdlib.OpenDB(*pc), nil
}

// permanent reports the SQLSTATE classes that are the query's or the
// configuration's fault.
func permanent(err error) bool {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code[:2] {
	case "42", // syntax error or access rule violation
		"22",             // data exception (a key the query's types cannot take)
		"28",             // invalid authorization
		"3D",             // invalid catalog name
		"3F",             // invalid schema name
		"0A",             // feature not supported
		"2F", "38", "39", // routine exceptions
		"21": // cardinality violation
		return true
	}
	return false
}
