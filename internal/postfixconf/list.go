package postfixconf

import (
	"fmt"
	"strings"

	"github.com/mxkit/mxkit/internal/pflist"
)

// listSeparators are the characters that separate list elements.
const listSeparators = pflist.Separators

// SplitList splits a list-valued parameter (restriction lists, table
// lists, domain lists, ...) into elements, the way Postfix's
// mystrtokq(3) does with the separators comma, space, tab, CR and LF.
// Separators inside a balanced "{ ... }" do not split, so a brace group
// stays part of the element it belongs to:
//
//	check_policy_service { inet:host:port, timeout=10s }
//	  → "check_policy_service", "{ inet:host:port, timeout=10s }"
//	inline:{ a=1, b=2 }
//	  → "inline:{ a=1, b=2 }"
//
// An unbalanced "{" takes the rest of the string into its element. The
// result is nil for an empty or all-separator string.
func SplitList(s string) []string { return pflist.Split(s) }

// IsTableSpec reports whether s looks like a "type:name" lookup table: it
// has a ":" and the text before it is a table type, one or more of
// [a-z0-9_]. "cidr:/etc/x" and "inline:{...}" are table specs;
// "[::1]/128", "/file/name" and "permit_mynetworks" are not. As in
// Postfix, an unbracketed IPv6 address such as "2001:db8::1" looks like a
// table; write IPv6 addresses in lists as "[2001:db8::1]". A leading "!"
// (negation in match lists) is not accepted: strip it first.
func IsTableSpec(s string) bool {
	typ, _, ok := strings.Cut(s, ":")
	return ok && isTableType(typ)
}

func isTableType(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseTableSpec splits a "type:name" lookup table specification at its
// first ":". The name keeps any further colons, so
// "socketmap:inet:127.0.0.1:8461:postfix" is type "socketmap" with name
// "inet:127.0.0.1:8461:postfix" and "proxy:unix:passwd.byname" is type
// "proxy"; for "inline:{ a=1, b=2 }" the name is "{ a=1, b=2 }". The type
// must be [a-z0-9_]+ and the name must not be empty. The type is not
// checked against a list of known table types.
func ParseTableSpec(s string) (typ, name string, err error) {
	typ, name, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "", "", fmt.Errorf("table %q: want type:name", s)
	case !isTableType(typ):
		return "", "", fmt.Errorf("table %q: bad table type %q (want [a-z0-9_]+)", s, typ)
	case name == "":
		return "", "", fmt.Errorf("table %q: empty table name", s)
	}
	return typ, name, nil
}
