package relaymaps

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// sqlDialect is the SQL flavour a query template is translated for.
type sqlDialect uint8

const (
	dialectPgSQL sqlDialect = iota
	dialectMySQL
	dialectSQLite
)

func (d sqlDialect) String() string {
	switch d {
	case dialectPgSQL:
		return "pgsql"
	case dialectMySQL:
		return "mysql"
	default:
		return "sqlite"
	}
}

// sqlConfig is a parsed pgsql_table(5), mysql_table(5) or sqlite_table(5)
// file.
type sqlConfig struct {
	file           string
	hosts          []string
	user, password string
	dbname         string // sqlite: dbpath
	query          *sqlQuery
	result         []tmplPiece
	flags          tmplFlags
	domain         string // the "domain" match list, unparsed
	domainLine     int
	expansionLimit int
	timeout        time.Duration
	idleInterval   time.Duration
	retryInterval  time.Duration
	maxConns       int
	requireResult  bool
}

// Defaults of the parameters Postfix does not have (timeout,
// max_connections) and of those it has.
const (
	defaultSQLTimeout    = 10 * time.Second
	defaultIdleInterval  = 60 * time.Second
	defaultRetryInterval = 60 * time.Second
	defaultMaxConns      = 16
)

// sqlParam says what a parameter of a *_table(5) file is to this package.
type sqlParam uint8

const (
	paramUsed        sqlParam = iota + 1 // understood
	paramLegacy                          // Postfix's pre-2.2 query parameters: refused
	paramUnsupported                     // a Postfix parameter this package does not implement: refused
)

var sqlParams = map[sqlDialect]map[string]sqlParam{
	dialectPgSQL: {
		"hosts": paramUsed, "user": paramUsed, "password": paramUsed, "dbname": paramUsed,
		"query": paramUsed, "result_format": paramUsed, "domain": paramUsed,
		"expansion_limit": paramUsed, "idle_interval": paramUsed, "retry_interval": paramUsed,
		"encoding": paramUsed, "timeout": paramUsed, "max_connections": paramUsed,
		"table": paramLegacy, "select_field": paramLegacy, "where_field": paramLegacy,
		"additional_conditions": paramLegacy, "select_function": paramLegacy,
	},
	dialectMySQL: {
		"hosts": paramUsed, "user": paramUsed, "password": paramUsed, "dbname": paramUsed,
		"query": paramUsed, "result_format": paramUsed, "domain": paramUsed,
		"expansion_limit": paramUsed, "idle_interval": paramUsed, "retry_interval": paramUsed,
		"require_result_set": paramUsed, "timeout": paramUsed, "max_connections": paramUsed,
		"table": paramLegacy, "select_field": paramLegacy, "where_field": paramLegacy,
		"additional_conditions": paramLegacy,
		"option_file":           paramUnsupported, "option_group": paramUnsupported,
		"tls_cert_file": paramUnsupported, "tls_key_file": paramUnsupported,
		"tls_CAfile": paramUnsupported, "tls_CApath": paramUnsupported,
		"tls_ciphers": paramUnsupported, "tls_verify_cert": paramUnsupported,
	},
	dialectSQLite: {
		"dbpath": paramUsed, "query": paramUsed, "result_format": paramUsed, "domain": paramUsed,
		"expansion_limit": paramUsed, "timeout": paramUsed, "max_connections": paramUsed,
		"table": paramLegacy, "select_field": paramLegacy, "where_field": paramLegacy,
		"additional_conditions": paramLegacy,
	},
}

// parseSQLConfig parses the text of a *_table(5) file: "name = value"
// lines, with Postfix's comment and continuation-line rules.
func parseSQLConfig(d sqlDialect, file, text string) (*sqlConfig, error) {
	lines, badLine, msg := logicalLines(text)
	if msg != "" {
		return nil, &SyntaxError{File: file, Line: badLine, Msg: msg}
	}
	vals := map[string]string{}
	at := map[string]int{}
	known := sqlParams[d]
	for _, ln := range lines {
		name, value, ok := splitParam(ln.text)
		if !ok {
			return nil, &SyntaxError{File: file, Line: ln.line, Msg: fmt.Sprintf("missing \"=\" in %q", ln.text)}
		}
		switch known[name] {
		case 0:
			return nil, &SyntaxError{File: file, Line: ln.line, Msg: fmt.Sprintf("unknown %s_table(5) parameter %q", d, name)}
		case paramLegacy:
			return nil, &SyntaxError{File: file, Line: ln.line, Msg: fmt.Sprintf("legacy parameter %q is not supported: write the whole query with \"query =\"", name)}
		case paramUnsupported:
			return nil, &SyntaxError{File: file, Line: ln.line, Msg: fmt.Sprintf("parameter %q is not supported", name)}
		}
		if first, dup := at[name]; dup {
			return nil, &SyntaxError{File: file, Line: ln.line, Msg: fmt.Sprintf("parameter %q set again (first set at line %d)", name, first)}
		}
		vals[name], at[name] = value, ln.line
	}
	bad := func(name, format string, args ...any) error {
		return &SyntaxError{File: file, Line: at[name], Msg: name + ": " + fmt.Sprintf(format, args...)}
	}
	c := &sqlConfig{
		file: file, user: vals["user"], password: vals["password"],
		domain: vals["domain"], domainLine: at["domain"],
		timeout: defaultSQLTimeout, idleInterval: defaultIdleInterval,
		retryInterval: defaultRetryInterval, maxConns: defaultMaxConns, requireResult: true,
	}
	if d == dialectSQLite {
		if c.dbname = vals["dbpath"]; c.dbname == "" {
			return nil, &SyntaxError{File: file, Msg: "missing required parameter \"dbpath\""}
		}
	} else {
		if c.dbname = vals["dbname"]; c.dbname == "" {
			return nil, &SyntaxError{File: file, Msg: "missing required parameter \"dbname\""}
		}
		h := vals["hosts"]
		if h == "" {
			h = "localhost"
		}
		c.hosts = strings.FieldsFunc(h, func(r rune) bool { return r == ',' || isSpaceRune(r) })
	}
	if enc, ok := vals["encoding"]; ok && !strings.EqualFold(enc, "utf8") && !strings.EqualFold(enc, "utf-8") {
		return nil, bad("encoding", "only UTF8 is supported, not %q", enc)
	}
	q, ok := vals["query"]
	if !ok || q == "" {
		return nil, &SyntaxError{File: file, Msg: "missing required parameter \"query\""}
	}
	var err error
	if c.query, err = translateQuery(d, q, &c.flags); err != nil {
		return nil, bad("query", "%v", err)
	}
	rf := "%s"
	if v, ok := vals["result_format"]; ok {
		rf = v
	}
	if c.result, err = parseTemplate(rf, false, &c.flags); err != nil {
		return nil, bad("result_format", "%v", err)
	}
	if v, ok := vals["expansion_limit"]; ok {
		if c.expansionLimit, err = strconv.Atoi(v); err != nil || c.expansionLimit < 0 {
			return nil, bad("expansion_limit", "not a number >= 0: %q", v)
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"timeout", &c.timeout}, {"idle_interval", &c.idleInterval}, {"retry_interval", &c.retryInterval}} {
		if v, ok := vals[p.name]; ok {
			if *p.dst, err = parseSeconds(v); err != nil {
				return nil, bad(p.name, "%v", err)
			}
		}
	}
	if c.timeout <= 0 {
		return nil, bad("timeout", "must be greater than zero")
	}
	if v, ok := vals["max_connections"]; ok {
		if c.maxConns, err = strconv.Atoi(v); err != nil || c.maxConns < 1 {
			return nil, bad("max_connections", "not a number >= 1: %q", v)
		}
	}
	if v, ok := vals["require_result_set"]; ok {
		switch strings.ToLower(v) {
		case "yes", "true":
			c.requireResult = true
		case "no", "false":
			c.requireResult = false
		default:
			return nil, bad("require_result_set", "want yes or no, not %q", v)
		}
	}
	return c, nil
}

// splitParam splits "name = value", trimming blanks around both.
func splitParam(s string) (name, value string, ok bool) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return "", "", false
	}
	name = strings.TrimFunc(s[:i], isSpaceRune)
	if name == "" || strings.IndexFunc(name, isSpaceRune) >= 0 {
		return "", "", false
	}
	return name, strings.TrimFunc(s[i+1:], isSpaceRune), true
}

// parseSeconds parses a Postfix time value: a number of seconds, or a
// number with a unit (s, m, h, d, w), or a Go duration ("1m30s", "500ms").
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	if n := len(v); n > 1 {
		mult := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[v[n-1]]
		if num, err := strconv.Atoi(v[:n-1]); err == nil && num >= 0 && mult != 0 {
			return time.Duration(num) * mult, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad time value %q", v)
	}
	return d, nil
}

// tmplFlags records what the query and result templates need of the key
// and the result, as Postfix's db_common context does (both templates
// share it).
type tmplFlags struct {
	keyDomain, keyUser     bool // the key must have a domain / a non-empty local part
	valueDomain, valueUser bool // the same of each result value
	nparts                 int  // highest %1..%9
}

// tmplPiece is literal text (exp == 0) or one %x expansion.
type tmplPiece struct {
	lit string
	exp byte
}

// parseTemplate parses a result_format (query false) or a query
// fragment (query true) into pieces, updating the flags as Postfix's
// db_common_parse does.
func parseTemplate(s string, query bool, f *tmplFlags) ([]tmplPiece, error) {
	var out []tmplPiece
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, tmplPiece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("%q ends with a lone %%", s)
		}
		c := s[i]
		if c == '%' {
			lit.WriteByte('%')
			continue
		}
		if err := noteExpansion(c, query, f); err != nil {
			return nil, err
		}
		flush()
		out = append(out, tmplPiece{exp: c})
	}
	flush()
	return out, nil
}

// noteExpansion validates %c and records what it needs.
func noteExpansion(c byte, query bool, f *tmplFlags) error {
	switch {
	case c == 's' || c == 'S':
	case c == 'u':
		if query {
			f.keyUser = true
		} else {
			f.valueUser = true
		}
	case c == 'd':
		if query {
			f.keyDomain = true
		} else {
			f.valueDomain = true
		}
	case c == 'U':
		f.keyUser = true
	case c == 'D':
		f.keyDomain = true
	case c >= '1' && c <= '9':
		f.keyDomain = true
		f.nparts = max(f.nparts, int(c-'0'))
	default:
		r, _ := utf8.DecodeRuneInString(string(c))
		return fmt.Errorf("invalid expansion %%%c (want %%%%, %%s, %%u, %%d, %%S, %%U, %%D or %%1..%%9)", r)
	}
	return nil
}

// sqlQuery is a query template translated into SQL with placeholders;
// params[i] builds the value of the i-th placeholder.
type sqlQuery struct {
	sql    string
	params [][]tmplPiece
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// translateQuery turns a Postfix query template into a parameterized
// query. An expansion outside quotes becomes a placeholder; a quoted
// string literal that contains expansions becomes one placeholder whose
// value is the literal's text with the expansions filled in ('%u@%d' is
// one parameter "user@domain"), so the database sees the same string
// Postfix would have quoted into the query. "%%" becomes "%" everywhere
// except in comments. Expansions inside quoted identifiers, comments,
// prefixed literals (E'x', N'x', _utf8'x') and dollar-quoted strings are
// refused, and so are placeholders written into the template.
func translateQuery(d sqlDialect, q string, f *tmplFlags) (*sqlQuery, error) {
	var b strings.Builder
	out := &sqlQuery{}
	placeholder := func(p []tmplPiece) {
		out.params = append(out.params, p)
		if d == dialectPgSQL {
			fmt.Fprintf(&b, "$%d", len(out.params))
		} else {
			b.WriteByte('?')
		}
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '%':
			if i+1 == len(q) {
				return nil, fmt.Errorf("query ends with a lone %%")
			}
			e := q[i+1]
			i += 2
			if e == '%' {
				b.WriteByte('%')
				continue
			}
			if err := noteExpansion(e, true, f); err != nil {
				return nil, err
			}
			placeholder([]tmplPiece{{exp: e}})
		case c == '\'' || c == '"' && d == dialectMySQL:
			end, pieces, hasExp, err := scanLiteral(d, q, i, f)
			if err != nil {
				return nil, err
			}
			prefixed := i > 0 && isIdentByte(q[i-1])
			switch {
			case !hasExp:
				b.WriteString(strings.ReplaceAll(q[i:end], "%%", "%"))
			case prefixed:
				return nil, fmt.Errorf("expansion inside a prefixed string literal at %q", clip(q[i-1:]))
			default:
				placeholder(pieces)
			}
			i = end
		case c == '"' || c == '`' || c == '[' && d == dialectSQLite:
			closer := c
			if c == '[' {
				closer = ']'
			}
			end := strings.IndexByte(q[i+1:], closer)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quoted identifier at %q", clip(q[i:]))
			}
			ident := q[i : i+end+2]
			if strings.Contains(strings.ReplaceAll(ident, "%%", ""), "%") {
				return nil, fmt.Errorf("expansion inside a quoted identifier %s", ident)
			}
			b.WriteString(strings.ReplaceAll(ident, "%%", "%"))
			i += end + 2
		case c == '-' && strings.HasPrefix(q[i:], "--"), c == '#' && d == dialectMySQL:
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment at %q", clip(q[i:]))
			}
			b.WriteString(q[i : i+end+4])
			i += end + 4
		case c == '?' && d != dialectPgSQL:
			return nil, fmt.Errorf("placeholder \"?\" in the query: use %%s, %%u, %%d or %%1..%%9")
		case (c == ':' || c == '@' || c == '$') && d == dialectSQLite && i+1 < len(q) && isIdentByte(q[i+1]) && (i == 0 || !isIdentByte(q[i-1]) && q[i-1] != ':'):
			return nil, fmt.Errorf("named parameter at %q: use %%s, %%u, %%d or %%1..%%9", clip(q[i:]))
		case c == '$' && d == dialectPgSQL && (i == 0 || !isIdentByte(q[i-1])):
			j := i + 1
			for j < len(q) && isIdentByte(q[j]) && q[j] != '$' {
				j++
			}
			if j > i+1 && q[i+1] >= '0' && q[i+1] <= '9' {
				return nil, fmt.Errorf("placeholder %q in the query: use %%s, %%u, %%d or %%1..%%9", q[i:j])
			}
			if j < len(q) && q[j] == '$' { // dollar-quoted string $tag$...$tag$
				tag := q[i : j+1]
				end := strings.Index(q[j+1:], tag)
				if end < 0 {
					return nil, fmt.Errorf("unterminated dollar-quoted string at %q", clip(q[i:]))
				}
				body := q[i : j+1+end+len(tag)]
				if strings.Contains(strings.ReplaceAll(body, "%%", ""), "%") {
					return nil, fmt.Errorf("expansion inside a dollar-quoted string at %q", clip(body))
				}
				b.WriteString(strings.ReplaceAll(body, "%%", "%"))
				i += len(body)
				continue
			}
			b.WriteString(q[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	out.sql = b.String()
	return out, nil
}

// scanLiteral scans the string literal that starts with the quote at
// q[start]. It returns the index after the closing quote, the literal's
// value as template pieces (escapes undone, %x expansions separate) and
// whether it has expansions.
func scanLiteral(d sqlDialect, q string, start int, f *tmplFlags) (end int, pieces []tmplPiece, hasExp bool, err error) {
	quote := q[start]
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			pieces = append(pieces, tmplPiece{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := start + 1; i < len(q); i++ {
		c := q[i]
		switch {
		case c == quote:
			if i+1 < len(q) && q[i+1] == quote {
				lit.WriteByte(quote)
				i++
				continue
			}
			flush()
			return i + 1, pieces, hasExp, nil
		case c == '\\' && d == dialectMySQL:
			if i+1 == len(q) {
				break
			}
			i++
			switch e := q[i]; e {
			case '0':
				lit.WriteByte(0)
			case 'b':
				lit.WriteByte('\b')
			case 'n':
				lit.WriteByte('\n')
			case 'r':
				lit.WriteByte('\r')
			case 't':
				lit.WriteByte('\t')
			case 'Z':
				lit.WriteByte(0x1a)
			case '%', '_': // MySQL keeps the backslash for LIKE
				lit.WriteByte('\\')
				lit.WriteByte(e)
			default:
				lit.WriteByte(e)
			}
		case c == '%':
			if i+1 == len(q) {
				return 0, nil, false, fmt.Errorf("query ends with a lone %%")
			}
			i++
			if q[i] == '%' {
				lit.WriteByte('%')
				continue
			}
			if err := noteExpansion(q[i], true, f); err != nil {
				return 0, nil, false, err
			}
			flush()
			pieces = append(pieces, tmplPiece{exp: q[i]})
			hasExp = true
		default:
			lit.WriteByte(c)
		}
	}
	return 0, nil, false, fmt.Errorf("unterminated string literal at %q", clip(q[start:]))
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
