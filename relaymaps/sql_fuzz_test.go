package relaymaps

import (
	"errors"
	"strings"
	"testing"
)

// FuzzSQLConfig feeds *_table(5) files and keys to the parser, the query
// translator and the expansion code of every dialect: no panics, errors
// are *SyntaxError naming the file, and a translated query has one
// argument per placeholder.
func FuzzSQLConfig(f *testing.F) {
	f.Add("dbname = d\ndbpath = p\nquery = SELECT v FROM t WHERE k = '%s'\n", "user@example.com")
	f.Add("dbname = d\ndbpath = p\nquery = SELECT goto FROM alias WHERE address='%u@%d' OR address='@%d'\nresult_format = %U+%s@%D\n", "a@b.example.com")
	f.Add("dbname = d\ndbpath = p\nquery = SELECT \"v\" -- it's\n /* '%s' */ FROM t WHERE k = \"%1.%2\" AND x LIKE '%%%3'\ndomain = example.com\n", "x@mail.example.com")
	f.Add("dbname = d\ndbpath = p\nquery = SELECT $$a$$, E'\\n' WHERE k = %s\nexpansion_limit = 1\ntimeout = 1s\n", "k")
	f.Add("hosts = unix:/run/s inet:[::1]:5432\ndbname = d\ndbpath = p\nquery = SELECT '%D'::text\n", "@x")
	f.Fuzz(func(t *testing.T, text, key string) {
		for _, d := range []sqlDialect{dialectPgSQL, dialectMySQL, dialectSQLite} {
			c, err := parseSQLConfig(d, "/etc/postfix/x.cf", text)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) || se.File != "/etc/postfix/x.cf" || !strings.HasPrefix(err.Error(), "relaymaps: /etc/postfix/x.cf") {
					t.Fatalf("%v: error %q is not a SyntaxError naming the file", d, err)
				}
				continue
			}
			if d != dialectPgSQL && strings.Count(c.query.sql, "?") < len(c.query.params) {
				t.Fatalf("%v: %q has fewer placeholders than %d params", d, c.query.sql, len(c.query.params))
			}
			k, ok := splitKey(key, &c.flags)
			if !ok {
				continue
			}
			var b strings.Builder
			for _, p := range c.query.params {
				k.expand(&b, p, nil)
			}
			if v, ok := splitValue(key, &c.flags); ok {
				v.expand(&b, c.result, &k)
			}
		}
	})
}
