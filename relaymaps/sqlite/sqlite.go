// Package sqlite registers the sqlite: table type of package relaymaps
// (Postfix's sqlite_table(5)) with the pure-Go driver modernc.org/sqlite.
// Import it for its side effect:
//
//	import _ "github.com/mxkit/mxkit/relaymaps/sqlite"
//
// The database is opened read-only: a lookup table never writes, and a
// missing file is not created empty. The file's timeout is SQLite's
// busy_timeout.
package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"

	"modernc.org/sqlite"

	"github.com/mxkit/mxkit/relaymaps"
)

func init() {
	relaymaps.RegisterSQL("sqlite", relaymaps.SQLDriver{Open: open, Permanent: permanent})
}

func open(c relaymaps.SQLConnect) (*sql.DB, error) {
	abs, err := filepath.Abs(c.Host)
	if err != nil {
		return nil, err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: url.Values{
		"mode":    {"ro"},
		"_pragma": {fmt.Sprintf("busy_timeout(%d)", c.Timeout.Milliseconds())},
	}.Encode()}
	return sql.Open("sqlite", u.String())
}

// permanent reports the result codes that are the configuration's fault.
func permanent(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
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
		return true
	}
	return false
}
