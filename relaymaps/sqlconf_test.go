package relaymaps

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTranslateQuery(t *testing.T) {
	p := func(pieces ...tmplPiece) []tmplPiece { return pieces }
	e := func(c byte) tmplPiece { return tmplPiece{exp: c} }
	l := func(s string) tmplPiece { return tmplPiece{lit: s} }
	tests := []struct {
		d      sqlDialect
		in     string
		sql    string
		params [][]tmplPiece
	}{
		{dialectPgSQL, "SELECT v FROM t WHERE k='%s'", "SELECT v FROM t WHERE k=$1", [][]tmplPiece{p(e('s'))}},
		{dialectMySQL, "SELECT v FROM t WHERE k='%s'", "SELECT v FROM t WHERE k=?", [][]tmplPiece{p(e('s'))}},
		{dialectSQLite, "SELECT v FROM t WHERE k = %s", "SELECT v FROM t WHERE k = ?", [][]tmplPiece{p(e('s'))}},
		// A literal with expansions is one parameter, text included.
		{dialectPgSQL, "SELECT goto FROM alias WHERE address='@%d' OR address = '%u@%d'",
			"SELECT goto FROM alias WHERE address=$1 OR address = $2",
			[][]tmplPiece{p(l("@"), e('d')), p(e('u'), l("@"), e('d'))}},
		// %% is a percent sign, inside and outside literals.
		{dialectMySQL, "SELECT v FROM t WHERE k LIKE '%%%d' AND n %% 2 = 0 AND x = '100%%'",
			"SELECT v FROM t WHERE k LIKE ? AND n % 2 = 0 AND x = '100%'",
			[][]tmplPiece{p(l("%"), e('d'))}},
		// Doubled quotes and (MySQL) backslash escapes are undone.
		{dialectPgSQL, "SELECT 'it''s' WHERE k = 'o''%s'", "SELECT 'it''s' WHERE k = $1", [][]tmplPiece{p(l("o'"), e('s'))}},
		{dialectMySQL, `SELECT v FROM t WHERE k = "a\"b\\%s\n\%"`, "SELECT v FROM t WHERE k = ?", [][]tmplPiece{p(l("a\"b\\"), e('s'), l("\n\\%"))}},
		// Double quotes are identifiers in PostgreSQL and SQLite.
		{dialectPgSQL, `SELECT "v" FROM "T" WHERE "k" = %1`, `SELECT "v" FROM "T" WHERE "k" = $1`, [][]tmplPiece{p(e('1'))}},
		// Comments are copied, quotes in them do not start literals.
		{dialectMySQL, "SELECT v -- don't\nFROM t # it's\nWHERE k = '%s' /* '%s' */", "SELECT v -- don't\nFROM t # it's\nWHERE k = ? /* '%s' */", [][]tmplPiece{p(e('s'))}},
		// Casts and dollar quotes in PostgreSQL.
		{dialectPgSQL, "SELECT '%d'::text, $$a'b$$ WHERE x = %U", "SELECT $1::text, $$a'b$$ WHERE x = $2", [][]tmplPiece{p(e('d')), p(e('U'))}},
	}
	for _, tt := range tests {
		var f tmplFlags
		q, err := translateQuery(tt.d, tt.in, &f)
		if err != nil {
			t.Errorf("%v %q: %v", tt.d, tt.in, err)
			continue
		}
		if q.sql != tt.sql || !reflect.DeepEqual(q.params, tt.params) {
			t.Errorf("%v %q:\n got %q %v\nwant %q %v", tt.d, tt.in, q.sql, q.params, tt.sql, tt.params)
		}
	}
}

func TestTranslateQueryErrors(t *testing.T) {
	tests := []struct {
		d   sqlDialect
		in  string
		msg string
	}{
		{dialectPgSQL, "SELECT v FROM t WHERE k='%x'", "invalid expansion %x (want %%, %s, %u, %d, %S, %U, %D or %1..%9)"},
		{dialectPgSQL, "SELECT 5 %", "query ends with a lone %"},
		{dialectPgSQL, "SELECT v FROM t WHERE k='%s", `unterminated string literal at "'%s"`},
		{dialectPgSQL, `SELECT "%s" FROM t`, `expansion inside a quoted identifier "%s"`},
		{dialectMySQL, "SELECT v FROM `%d` WHERE 1", "expansion inside a quoted identifier `%d`"},
		{dialectPgSQL, "SELECT v FROM t WHERE k=E'%s'", `expansion inside a prefixed string literal at "E'%s'"`},
		{dialectPgSQL, "SELECT v FROM t WHERE k=$1", `placeholder "$1" in the query: use %s, %u, %d or %1..%9`},
		{dialectMySQL, "SELECT v FROM t WHERE k=?", `placeholder "?" in the query: use %s, %u, %d or %1..%9`},
		{dialectSQLite, "SELECT v FROM t WHERE k=:key", `named parameter at ":key": use %s, %u, %d or %1..%9`},
		{dialectPgSQL, "SELECT $a$%s$a$", `expansion inside a dollar-quoted string at "$a$%s$a$"`},
		{dialectSQLite, "SELECT v /* %s", `unterminated comment at "/* %s"`},
	}
	for _, tt := range tests {
		var f tmplFlags
		_, err := translateQuery(tt.d, tt.in, &f)
		if err == nil || err.Error() != tt.msg {
			t.Errorf("%v %q: error %v, want %q", tt.d, tt.in, err, tt.msg)
		}
	}
}

func TestParseSQLConfig(t *testing.T) {
	c, err := parseSQLConfig(dialectMySQL, "/etc/postfix/relay.cf", `
# relay recipients
hosts = db1.example.com, inet:db2.example.com:3307
	unix:/run/mysqld/mysqld.sock
user = postfix
password = secret = yes
dbname = mail
query = SELECT 1 FROM rcpt
  WHERE address = '%s'
result_format = %u-%D
expansion_limit = 3
timeout = 3s
idle_interval = 2m
retry_interval = 30
require_result_set = no
domain = example.com
`)
	if err != nil {
		t.Fatal(err)
	}
	want := &sqlConfig{
		file: "/etc/postfix/relay.cf", hosts: []string{"db1.example.com", "inet:db2.example.com:3307", "unix:/run/mysqld/mysqld.sock"},
		user: "postfix", password: "secret = yes", dbname: "mail",
		query:  &sqlQuery{sql: "SELECT 1 FROM rcpt  WHERE address = ?", params: [][]tmplPiece{{{exp: 's'}}}},
		result: []tmplPiece{{exp: 'u'}, {lit: "-"}, {exp: 'D'}},
		flags:  tmplFlags{keyDomain: true, valueUser: true},
		domain: "example.com", domainLine: 16, expansionLimit: 3,
		timeout: 3 * time.Second, idleInterval: 2 * time.Minute, retryInterval: 30 * time.Second,
		maxConns: defaultMaxConns, requireResult: false,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}

	c, err = parseSQLConfig(dialectPgSQL, "f.cf", "dbname=d\nquery=SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.hosts, []string{"localhost"}) || c.timeout != defaultSQLTimeout || len(c.result) != 1 || c.result[0].exp != 's' {
		t.Errorf("defaults: hosts %q timeout %v result %v", c.hosts, c.timeout, c.result)
	}
}

func TestParseSQLConfigErrors(t *testing.T) {
	tests := []struct {
		d    sqlDialect
		text string
		msg  string
	}{
		{dialectMySQL, "dbname = d\nquery = SELECT 1\nhost = x", `relaymaps: f.cf:3: unknown mysql_table(5) parameter "host"`},
		{dialectPgSQL, "dbname = d\n\nquery = SELECT 1\nadditional_conditions = and 1", `relaymaps: f.cf:4: legacy parameter "additional_conditions" is not supported: write the whole query with "query ="`},
		{dialectMySQL, "tls_CAfile = /x\n", `relaymaps: f.cf:1: parameter "tls_CAfile" is not supported`},
		{dialectSQLite, "dbpath = x\nquery = SELECT 1\nquery = SELECT 2", `relaymaps: f.cf:3: parameter "query" set again (first set at line 2)`},
		{dialectSQLite, "dbpath x", `relaymaps: f.cf:1: missing "=" in "dbpath x"`},
		{dialectSQLite, "  dbpath = x", `relaymaps: f.cf:1: continuation line (starts with whitespace) has no preceding line to continue`},
		{dialectSQLite, "query = SELECT 1", `relaymaps: f.cf: missing required parameter "dbpath"`},
		{dialectPgSQL, "query = SELECT 1", `relaymaps: f.cf: missing required parameter "dbname"`},
		{dialectPgSQL, "dbname = d", `relaymaps: f.cf: missing required parameter "query"`},
		{dialectPgSQL, "dbname = d\nquery = SELECT '%z'", `relaymaps: f.cf:2: query: invalid expansion %z (want %%, %s, %u, %d, %S, %U, %D or %1..%9)`},
		{dialectPgSQL, "dbname = d\nquery = SELECT 1\nresult_format = %", `relaymaps: f.cf:3: result_format: "%" ends with a lone %`},
		{dialectPgSQL, "dbname = d\nquery = SELECT 1\nexpansion_limit = -1", `relaymaps: f.cf:3: expansion_limit: not a number >= 0: "-1"`},
		{dialectPgSQL, "dbname = d\nquery = SELECT 1\ntimeout = soon", `relaymaps: f.cf:3: timeout: bad time value "soon"`},
		{dialectPgSQL, "dbname = d\nquery = SELECT 1\ntimeout = 0", `relaymaps: f.cf:3: timeout: must be greater than zero`},
		{dialectPgSQL, "dbname = d\nquery = SELECT 1\nencoding = LATIN1", `relaymaps: f.cf:3: encoding: only UTF8 is supported, not "LATIN1"`},
		{dialectMySQL, "dbname = d\nquery = SELECT 1\nrequire_result_set = maybe", `relaymaps: f.cf:3: require_result_set: want yes or no, not "maybe"`},
		{dialectMySQL, "dbname = d\nquery = SELECT 1\nmax_connections = 0", `relaymaps: f.cf:3: max_connections: not a number >= 1: "0"`},
	}
	for _, tt := range tests {
		_, err := parseSQLConfig(tt.d, "f.cf", tt.text)
		if err == nil || err.Error() != tt.msg {
			t.Errorf("%v %q:\n got %v\nwant %s", tt.d, tt.text, err, tt.msg)
			continue
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%q: error does not wrap ErrConfig", tt.text)
		}
	}
}

// TestSQLExpansion checks Postfix's db_common_expand rules: which keys
// suppress the query, and what each expansion gives.
func TestSQLExpansion(t *testing.T) {
	tests := []struct {
		query, result string
		key, value    string
		args          []string // nil: query suppressed
		out           string   // "" with args: value skipped
	}{
		{"%s", "%s", "User@Example.com", "v", []string{"User@Example.com"}, "v"},
		{"%u|%d", "%s", "user@example.com", "v", []string{"user|example.com"}, "v"},
		{"%u", "%s", "user", "v", []string{"user"}, "v"},
		{"%u", "%s", "@example.com", "v", nil, ""},
		{"%d", "%s", "user", "v", nil, ""},
		{"%d", "%s", "user@", "v", nil, ""},
		{"%s", "%s", "a@b@example.com", "v", []string{"a@b@example.com"}, "v"},
		{"%u/%d", "%s", "a@b@example.com", "v", []string{"a@b/example.com"}, "v"},
		{"%1.%2.%3", "%s", "u@mail.example.com", "v", []string{"com.example.mail"}, "v"},
		{"%3", "%s", "u@example.com", "v", nil, ""},
		{"%2", "%s", "u@a..example.com", "v", []string{"example"}, "v"},
		// result_format: lower case is the value, upper case the key.
		{"%s", "%u at %d for %U at %D (%S) %1", "joe@example.com", "smtp:[relay.example.net]", []string{"joe@example.com"}, ""},
		{"%s", "%u for %U at %D (%S) %1", "joe@example.com", "relay", []string{"joe@example.com"}, "relay for joe at example.com (joe@example.com) com"},
		{"%s", "[%d]", "joe@example.com", "x@relay.example.net", []string{"joe@example.com"}, "[relay.example.net]"},
		{"%s", "%u", "joe@example.com", "@relay", []string{"joe@example.com"}, ""},
		// A result_format that needs the key's domain suppresses the query.
		{"%s", "%D", "joe", "v", nil, ""},
	}
	for _, tt := range tests {
		var f tmplFlags
		// Quoted, the whole template is one parameter.
		q, err := translateQuery(dialectSQLite, "SELECT v WHERE k = '"+tt.query+"'", &f)
		if err != nil {
			t.Fatal(err)
		}
		rf, err := parseTemplate(tt.result, false, &f)
		if err != nil {
			t.Fatal(err)
		}
		k, ok := splitKey(tt.key, &f)
		if !ok {
			if tt.args != nil {
				t.Errorf("%q/%q key %q: query suppressed", tt.query, tt.result, tt.key)
			}
			continue
		}
		if tt.args == nil {
			t.Errorf("%q/%q key %q: query not suppressed", tt.query, tt.result, tt.key)
			continue
		}
		var args []string
		for _, p := range q.params {
			var b strings.Builder
			k.expand(&b, p, nil)
			args = append(args, b.String())
		}
		if !reflect.DeepEqual(args, tt.args) {
			t.Errorf("%q key %q: args %q, want %q", tt.query, tt.key, args, tt.args)
		}
		var out strings.Builder
		if vk, ok := splitValue(tt.value, &f); ok {
			vk.expand(&out, rf, &k)
		}
		if out.String() != tt.out {
			t.Errorf("result %q key %q value %q: %q, want %q", tt.result, tt.key, tt.value, out.String(), tt.out)
		}
	}
}
