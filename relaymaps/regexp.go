package relaymaps

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// RegexpTable is a Postfix regexp_table(5) table: "regexp:/path" or the
// inline form "regexp:{ {/pattern/ result}, ... }" (Postfix 3.7). It is a
// pattern table: it is asked full keys only, and keys are NOT folded to
// lower case (case sensitivity is the pattern's "i" flag).
//
// Rules, one per logical line (a line that starts with whitespace continues
// the previous one; '#' lines and blank lines are ignored):
//
//	/pattern/flags result             result when pattern matches
//	!/pattern/flags result            result when pattern does not match
//	/pattern1/!/pattern2/ result      matches pattern1 but not pattern2
//	if /pattern/flags ... endif       rules inside apply only if pattern matches
//	if !/pattern/flags ... endif      ... or does not match; blocks nest
//
// The delimiter is the first character of the pattern (usually '/'); a
// backslash escapes it. Flags toggle: "i" makes matching case-sensitive
// (the default is case-insensitive), "m" turns on multi-line mode ('^' and
// '$' match at newlines, '.' does not match a newline). The first rule in
// file order that matches wins. In the result, "$1" ... "$9", "${1}" and
// "$(1)" are replaced by the text the parenthesized subexpression matched
// (nothing if it did not take part in the match), and "$$" is a literal
// '$'. Write "${1}" when a letter, digit or '_' follows.
//
// Patterns use Go's RE2 syntax (package regexp), not POSIX regcomp(3) as
// Postfix does. Differences that matter in practice:
//   - No backreferences (\1) and no look-around; RE2 rejects them.
//   - Submatches follow leftmost-first (Perl) rules, not POSIX
//     leftmost-longest: with alternations such as /(a|ab)(c|bcd)/ the text
//     of $1 and $2 can differ from Postfix's, although whether a rule
//     matches never does.
//   - A backslash inside [...] is an escape ([\.] is a dot only); POSIX
//     takes it literally. POSIX classes such as [[:alpha:]] work.
//   - Perl extras (\d, \w, \b, non-greedy *?, (?i)) are accepted; PCRE
//     tables (pcre:) written for them mostly work here, but are not
//     registered as pcre:.
//   - Flag "x" (POSIX basic regular expressions) is rejected.
//   - Without "m", '.' and [^...] match a newline, as in POSIX.
//
// Unlike Postfix, which logs a warning and skips a bad rule, any malformed
// rule (bad regular expression, unknown flag, missing result, "$3" with
// fewer than three subexpressions, "$1" in a negated rule, unbalanced
// if/endif, text after if/endif) makes the whole table fail to load with a
// *SyntaxError naming the file and line.
//
// Inline tables are split like Postfix's: a pattern with an unbalanced
// '{' or '}' cannot be written inline.
type RegexpTable struct {
	name  string
	rules []reRule
}

type reRule struct {
	kind    cidrOpKind // opMatch, opIf, opEndif
	re      *regexp.Regexp
	neg     bool
	re2     *regexp.Regexp // "/p1/!/p2/": second pattern, or nil
	neg2    bool
	result  []reSub // result text; a literal-only result is one part
	maxSub  int
	endif   int // for opIf: index of the matching endif rule
	literal string
}

// reSub is a piece of a result: literal text, or a subexpression number
// (group > 0).
type reSub struct {
	text  string
	group int
}

func init() {
	Register("regexp", openRegexp)
}

func openRegexp(name string, opts *OpenOptions) (Map, error) {
	if strings.HasPrefix(strings.TrimLeftFunc(name, isSpaceRune), "{") {
		const file = "regexp:{...}"
		lines, err := inlineRules(name, file, nil)
		if err != nil {
			return nil, err
		}
		rules, err := parseRegexpRules(file, true, lines)
		if err != nil {
			return nil, err
		}
		return &RegexpTable{name: "regexp:" + name, rules: rules}, nil
	}
	if name == "" {
		return nil, &SyntaxError{Msg: `bad table spec "regexp:": missing file name`}
	}
	path := opts.ResolvePath(name)
	data, err := readFile(path)
	if err != nil {
		return nil, &configError{msg: "relaymaps: regexp:" + name, err: err}
	}
	t, err := ParseRegexpTable(path, string(data))
	if err != nil {
		return nil, err
	}
	t.name = "regexp:" + name
	return t, nil
}

// ParseRegexpTable parses regexp_table(5) text. file names the source in
// error messages; the table's Name is "regexp:" + file.
func ParseRegexpTable(file, text string) (*RegexpTable, error) {
	lines, bad, msg := logicalLines(text)
	if msg != "" {
		return nil, &SyntaxError{File: file, Line: bad, Msg: msg}
	}
	rules, err := parseRegexpRules(file, false, lines)
	if err != nil {
		return nil, err
	}
	return &RegexpTable{name: "regexp:" + file, rules: rules}, nil
}

func parseRegexpRules(file string, inline bool, lines []logicalLine) ([]reRule, error) {
	rules := make([]reRule, 0, len(lines))
	var open []int // indexes of unclosed "if" rules
	for _, ll := range lines {
		fail := func(format string, args ...any) error {
			return &SyntaxError{File: file, Line: ll.line, Inline: inline, Msg: fmt.Sprintf(format, args...)}
		}
		s := ll.text
		switch {
		case s != "" && !isAlnum(s[0]):
			r, msg := parseRegexpMatch(s)
			if msg != "" {
				return nil, fail("%s", msg)
			}
			rules = append(rules, r)
		case len(s) >= 2 && strings.EqualFold(s[:2], "if") && (len(s) == 2 || !isAlnum(s[2])):
			rest := strings.TrimLeftFunc(s[2:], isSpaceRune)
			if rest == "" {
				return nil, fail(`no pattern after "if"`)
			}
			re, neg, tail, msg := parseRegexpPattern(rest)
			if msg != "" {
				return nil, fail("%s", msg)
			}
			if tail = strings.TrimLeftFunc(tail, isSpaceRune); tail != "" {
				return nil, fail("text after \"if\" pattern: %q", tail)
			}
			open = append(open, len(rules))
			rules = append(rules, reRule{kind: opIf, re: re, neg: neg})
		case len(s) >= 5 && strings.EqualFold(s[:5], "endif") && (len(s) == 5 || !isAlnum(s[5])):
			if tail := strings.TrimLeftFunc(s[5:], isSpaceRune); tail != "" {
				return nil, fail("text after \"endif\": %q", tail)
			}
			if len(open) == 0 {
				return nil, fail(`"endif" without matching "if"`)
			}
			rules[open[len(open)-1]].endif = len(rules)
			open = open[:len(open)-1]
			rules = append(rules, reRule{kind: opEndif})
		default:
			return nil, fail("unrecognized rule %q: a rule starts with a pattern delimiter, \"if\" or \"endif\"", s)
		}
	}
	if len(open) > 0 {
		// Report the line of the innermost unclosed "if".
		// Rules and logical lines correspond one to one.
		line := lines[open[len(open)-1]].line
		return nil, &SyntaxError{File: file, Line: line, Inline: inline, Msg: `"if" without matching "endif"`}
	}
	return rules, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// parseRegexpMatch parses "[!]/p1/flags[!/p2/flags] result".
func parseRegexpMatch(s string) (reRule, string) {
	re, neg, rest, msg := parseRegexpPattern(s)
	if msg != "" {
		return reRule{}, msg
	}
	r := reRule{kind: opMatch, re: re, neg: neg}
	if rest != "" && rest[0] == '!' {
		if r.re2, r.neg2, rest, msg = parseRegexpPattern(rest); msg != "" {
			return reRule{}, msg
		}
	}
	result := strings.TrimLeftFunc(rest, isSpaceRune)
	if result == "" {
		return reRule{}, fmt.Sprintf("no result for pattern %q", strings.TrimRightFunc(s, isSpaceRune))
	}
	parts, maxSub, msg := parseRegexpResult(result)
	if msg != "" {
		return reRule{}, msg
	}
	if maxSub > 0 && neg {
		return reRule{}, fmt.Sprintf("$%d in the result of a negated pattern", maxSub)
	}
	if maxSub > re.NumSubexp() {
		return reRule{}, fmt.Sprintf("result uses $%d but the pattern has %d parenthesized subexpression(s)", maxSub, re.NumSubexp())
	}
	r.result, r.maxSub = parts, maxSub
	if maxSub == 0 {
		r.literal = parts[0].text
		r.result = nil
	}
	return r, ""
}

// parseRegexpPattern parses "[!...]<delim>regexp<delim>flags" at the start
// of s and returns the compiled pattern, whether it is negated, and the
// text after the flags (which stop at whitespace or '!').
func parseRegexpPattern(s string) (re *regexp.Regexp, neg bool, rest, msg string) {
	i := 0
	for ; i < len(s); i++ {
		if s[i] == '!' {
			neg = !neg
		} else if !isSpace(s[i]) {
			break
		}
	}
	if i == len(s) {
		return nil, false, "", "no regular expression"
	}
	delim := s[i]
	i++
	start := i
	for i < len(s) && s[i] != delim {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		i++
	}
	if i >= len(s) {
		return nil, false, "", fmt.Sprintf("no closing delimiter %q in %q", delim, s)
	}
	src := s[start:i]
	i++
	icase, multi := true, false
	for ; i < len(s) && !isSpace(s[i]) && s[i] != '!'; i++ {
		switch s[i] {
		case 'i':
			icase = !icase
		case 'm':
			multi = !multi
		case 'x':
			return nil, false, "", fmt.Sprintf("flag \"x\" (POSIX basic regular expressions) is not supported in %q", s[:i+1])
		default:
			return nil, false, "", fmt.Sprintf("unknown flag %q in %q", s[i], s[:i+1])
		}
	}
	prefix := "(?s)"
	if multi {
		prefix = "(?m)"
	}
	if icase {
		prefix += "(?i)"
	}
	re, err := regexp.Compile(prefix + src)
	if err != nil {
		return nil, false, "", fmt.Sprintf("bad regular expression %q: %v", string(delim)+src+string(delim), unprefix(err))
	}
	return re, neg, s[i:], ""
}

// unprefix drops Go's "error parsing regexp: " preamble.
func unprefix(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// parseRegexpResult splits a result into literal text and $n references
// (Postfix's mac_parse: $name, ${name}, $(name), $$). Names must be
// numbers from 1.
func parseRegexpResult(s string) (parts []reSub, maxSub int, msg string) {
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, reSub{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			lit.WriteByte(c)
			i++
			continue
		}
		var name string
		switch n := s[i+1]; {
		case n == '$':
			lit.WriteByte('$')
			i += 2
			continue
		case n == '{' || n == '(':
			closer := byte('}')
			if n == '(' {
				closer = ')'
			}
			j := strings.IndexByte(s[i+2:], closer)
			if j < 0 {
				return nil, 0, fmt.Sprintf("missing %q in result %q", closer, s)
			}
			name = s[i+2 : i+2+j]
			i += 3 + j
		case isAlnum(n) || n == '_':
			j := i + 1
			for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
				j++
			}
			name = s[i+1 : j]
			i = j
		default:
			lit.WriteByte('$')
			i++
			continue
		}
		g, err := strconv.Atoi(name)
		if err != nil || name[0] == '+' || name[0] == '-' {
			return nil, 0, fmt.Sprintf("non-numeric replacement %q in result %q (write ${1} when text follows)", "$"+name, s)
		}
		if g < 1 {
			return nil, 0, fmt.Sprintf("replacement index %q out of range in result %q", "$"+name, s)
		}
		flush()
		parts = append(parts, reSub{group: g})
		maxSub = max(maxSub, g)
	}
	flush()
	if len(parts) == 0 {
		parts = []reSub{{text: ""}}
	}
	return parts, maxSub, ""
}

// reMatches reports whether rule pattern re (negated or not) matches key.
func reMatches(re *regexp.Regexp, neg bool, key string) bool {
	return re.MatchString(key) != neg
}

// Lookup returns the result of the first rule that matches key, with $n
// substituted. The key is used as given (not folded).
func (t *RegexpTable) Lookup(_ context.Context, key string) (string, bool, error) {
	for i := 0; i < len(t.rules); i++ {
		r := &t.rules[i]
		switch r.kind {
		case opIf:
			if !reMatches(r.re, r.neg, key) {
				i = r.endif
			}
		case opMatch:
			if r.maxSub == 0 || r.neg {
				if !reMatches(r.re, r.neg, key) || (r.re2 != nil && !reMatches(r.re2, r.neg2, key)) {
					continue
				}
				return r.literal, true, nil
			}
			loc := r.re.FindStringSubmatchIndex(key)
			if loc == nil || (r.re2 != nil && !reMatches(r.re2, r.neg2, key)) {
				continue
			}
			var b strings.Builder
			for _, p := range r.result {
				if p.group == 0 {
					b.WriteString(p.text)
				} else if s, e := loc[2*p.group], loc[2*p.group+1]; s >= 0 {
					b.WriteString(key[s:e])
				}
			}
			return b.String(), true, nil
		}
	}
	return "", false, nil
}

// FixedKeys reports false: a regexp table is asked full keys only.
func (*RegexpTable) FixedKeys() bool { return false }

// Name returns the table's spec, e.g. "regexp:/etc/postfix/header_checks".
func (t *RegexpTable) Name() string { return t.name }

// Len returns the number of rules, including if and endif.
func (t *RegexpTable) Len() int { return len(t.rules) }
