// Package pflist splits Postfix list values (restriction lists, table
// lists, domain lists) as Postfix's mystrtokq(3) does. It is a leaf shared
// by postfixconf, smtppolicy and policyproto, so that the core packages do
// not import the optional main.cf layer.
package pflist

import "strings"

// Separators are the characters that separate list elements
// (Postfix's CHARS_COMMA_SP, also used as RESTRICTION_SEPARATORS).
const Separators = ", \t\r\n"

// Split splits a list-valued parameter (restriction lists, table
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
func Split(s string) []string {
	var out []string
	i := 0
	for {
		for i < len(s) && strings.IndexByte(Separators, s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return out
		}
		start, level := i, 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '{' {
				level++
			} else if level > 0 && c == '}' {
				level--
			} else if level == 0 && strings.IndexByte(Separators, c) >= 0 {
				break
			}
		}
		out = append(out, s[start:i])
	}
}
