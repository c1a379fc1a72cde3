package postfixconf

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits on expansion. Postfix stops at a nesting depth of 100
// (mac_expand.c); the size cap is ours, against values that double at
// each level of reference.
const (
	maxExpandDepth = 100
	maxExpandSize  = 1 << 20
	maxExpandSteps = 100000
)

// exprSpace is the whitespace allowed around {text} operands (CHARS_SPACE).
const exprSpace = " \t\r\n"

// Get returns the value of the named parameter with all $name references
// expanded: the value main.cf (or Set) gives it, else the value in
// Defaults, else "" with a warning (see Warnings). A few parameters whose
// values hold macros for later use (default_rbl_reply,
// smtpd_reject_footer, smtpd_expansion_filter, ...) are returned
// unexpanded, as Postfix loads them.
//
// Errors name the position of the definition: "main.cf:12: name: ...".
func (c *Config) Get(name string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, _, err := c.getLocked(name)
	return v, err
}

// getLocked returns the expanded value of name, the Param it came from
// (zero when it came from a default), and an error with position.
func (c *Config) getLocked(name string) (string, Param, error) {
	raw, p, ok := c.rawLocked(name)
	if !ok {
		c.warnLocked(fmt.Sprintf("undefined parameter %q", name))
		return "", Param{}, nil
	}
	if rawParams[name] {
		return raw, p, nil
	}
	e := expander{c: c, stack: []string{name}}
	var b strings.Builder
	if err := e.expand(raw, &b); err != nil {
		return "", p, fmt.Errorf("%s: %w", c.describe(name, p), err)
	}
	return b.String(), p, nil
}

// describe names a parameter and where its value came from, for messages.
func (c *Config) describe(name string, p Param) string {
	if pos := p.position(); pos != "" {
		return pos + ": " + name
	}
	if _, set := c.params[name]; set {
		return name
	}
	if _, _, ok := c.rawLocked(name); !ok {
		return name + " (undefined)"
	}
	return name + " (default)"
}

// rawLocked returns the unexpanded value of name and whether it is
// defined at all.
func (c *Config) rawLocked(name string) (string, Param, bool) {
	if p, ok := c.params[name]; ok {
		return p.Raw, p, true
	}
	if v, ok := c.implicit[name]; ok {
		return v, Param{}, true
	}
	if v, ok := Defaults[name]; ok {
		return v, Param{}, true
	}
	return "", Param{}, false
}

// Expand expands $name references in s against the configuration, with
// the same rules as values in main.cf (postconf(5)):
//
//	$name, ${name}, $(name)   the value of name, recursively expanded;
//	                          empty (and a warning) when name is undefined
//	${name?text}              text if name's value is non-empty, else ""
//	${name:text}              text if name's value is empty, else ""
//	${name?{t1}:{t2}}         t1 if non-empty, else t2 (Postfix >= 3.0);
//	                          also ${name?{t1}:t2}, ${name?{t}}, ${name:{t}}
//	${{a} == {b} ? {t1} : {t2}}  relational test (Postfix >= 3.0) with
//	                          ==, !=, <, <=, >, >=: numeric when both sides
//	                          are all digits, else byte-wise; the suffix
//	                          "level" (<level, >=level, ...) compares
//	                          compatibility levels such as 3.6
//	$$                        a literal "$"
//
// As in Postfix, the conditional tests look at the value as written for
// parameters set in main.cf and at the expanded value for defaults, text
// without braces after "?" or ":" runs to the closing brace, and only the
// chosen branch is expanded. A reference loop, a syntax error, a nesting
// deeper than 100 or a result over 1 MiB is an error.
func (c *Config) Expand(s string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := expander{c: c}
	var b strings.Builder
	if err := e.expand(s, &b); err != nil {
		return "", err
	}
	return b.String(), nil
}

// expander carries the state of one expansion.
type expander struct {
	c     *Config
	stack []string // parameters being expanded, outermost first
	depth int
	steps int // macros evaluated, against exponential reference trees
}

// expand appends the expansion of s to out (mac_parse(3)).
func (e *expander) expand(s string, out *strings.Builder) error {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > maxExpandDepth {
		return fmt.Errorf("unreasonable macro nesting (more than %d levels): %q", maxExpandDepth, shorten(s))
	}
	for i := 0; i < len(s); {
		if s[i] != '$' {
			j := strings.IndexByte(s[i:], '$')
			if j < 0 {
				j = len(s) - i
			}
			out.WriteString(s[i : i+j])
			i += j
		} else if i+1 < len(s) && s[i+1] == '$' {
			out.WriteByte('$')
			i += 2
		} else {
			i++
			var inner string
			if i < len(s) && (s[i] == '{' || s[i] == '(') {
				open, closer := s[i], byte('}')
				if open == '(' {
					closer = ')'
				}
				level, j := 1, i+1
				for ; j < len(s); j++ {
					if s[j] == open {
						level++
					} else if s[j] == closer {
						if level--; level == 0 {
							break
						}
					}
				}
				if level > 0 {
					return fmt.Errorf("truncated macro reference: %q", shorten(s))
				}
				inner = s[i+1 : j]
				i = j + 1
			} else {
				j := i
				for j < len(s) && isNameChar(s[j]) {
					j++
				}
				inner = s[i:j]
				i = j
			}
			if inner == "" {
				return fmt.Errorf("empty macro name: %q", shorten(s))
			}
			if err := e.macro(inner, out); err != nil {
				return err
			}
		}
		if out.Len() > maxExpandSize {
			return fmt.Errorf("expansion longer than %d bytes", maxExpandSize)
		}
	}
	return nil
}

// macro evaluates the text inside one ${...} (mac_expand_callback).
func (e *expander) macro(inner string, out *strings.Builder) error {
	if e.steps++; e.steps > maxExpandSteps {
		return fmt.Errorf("expansion needs more than %d macro evaluations", maxExpandSteps)
	}
	var (
		value   string // the tested or used value
		defined bool
		op      byte   // 0, '?' or ':'
		rest    string // text after the operator
	)
	p := strings.TrimLeft(inner, exprSpace)
	if strings.HasPrefix(p, "{") {
		// Relational expression: {a} op {b} [?|: ...]
		var err error
		value, p, err = e.relational(p)
		if err != nil {
			return err
		}
		defined = true
		if p != "" {
			if p[0] != '?' && p[0] != ':' {
				return fmt.Errorf("\"?\" or \":\" expected at: \"...}>>>%s\"", shorten(p))
			}
			op, rest = p[0], p[1:]
		}
		if op == 0 {
			out.WriteString(value)
			return nil
		}
	} else {
		// Named parameter: name [?|: ...]
		j := 0
		for j < len(p) && isNameChar(p[j]) {
			j++
		}
		name := p[:j]
		after := strings.TrimLeft(p[j:], exprSpace)
		switch {
		case after == "":
			return e.use(name, out)
		case after[0] == '?' || after[0] == ':':
			op, rest = after[0], after[1:]
		default:
			return fmt.Errorf("attribute name syntax error at: \"...%s>>>%s\"", name, shorten(p[j:]))
		}
		var err error
		value, defined, err = e.test(name)
		if err != nil {
			return err
		}
	}
	nonEmpty := defined && value != ""

	if op == '?' {
		text, after, err := operand(rest)
		if err != nil {
			return err
		}
		if nonEmpty {
			if err := e.expand(text, out); err != nil {
				return err
			}
		}
		if after == "" {
			return nil
		}
		if after[0] != ':' {
			return fmt.Errorf("\":\" expected at: \"...%s}>>>%s\"", shorten(text), shorten(after))
		}
		rest = after[1:]
	}
	// op == ':' or the second half of ?:
	text, after, err := operand(rest)
	if err != nil {
		return err
	}
	if !nonEmpty {
		if err := e.expand(text, out); err != nil {
			return err
		}
	}
	if after != "" {
		return fmt.Errorf("unexpected input at: \"...%s}>>>%s\"", shorten(text), shorten(after))
	}
	return nil
}

// operand splits the text after "?" or ":". A {text} operand (after
// optional whitespace) ends at its balanced "}" and whitespace after it
// is skipped; any other operand is the whole rest.
func operand(s string) (text, after string, err error) {
	if t := strings.TrimLeft(s, exprSpace); strings.HasPrefix(t, "{") {
		return curly(t)
	}
	return s, "", nil
}

// curly extracts the payload of the {...} at the start of s and returns it
// with the text after the closing brace, leading whitespace removed.
func curly(s string) (payload, after string, err error) {
	level := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			level++
		case '}':
			if level--; level == 0 {
				return s[1:i], strings.TrimLeft(s[i+1:], exprSpace), nil
			}
		}
	}
	return "", "", fmt.Errorf("unbalanced {} in attribute expression: %q", shorten(s))
}

// relational evaluates "{a} op {b}" at the start of s and returns "true"
// or "" and the text after it.
func (e *expander) relational(s string) (string, string, error) {
	left, p, err := curly(s)
	if err != nil {
		return "", "", err
	}
	n := 0
	for n < len(p) && strings.IndexByte("<>!=?+-*/~&|%", p[n]) >= 0 {
		n++
	}
	op := p[:n]
	switch op {
	case "==", "!=", "<", "<=", ">=", ">":
	default:
		return "", "", fmt.Errorf(`"==" or "!=" or "<" or "<=" or ">=" or ">" expected at: "...%s}>>>%s"`, shorten(left), shorten(p))
	}
	p = p[n:]
	suffix := ""
	if p != "" && isAlnum(p[0]) {
		k := 0
		for k < len(p) && isAlnum(p[k]) {
			k++
		}
		suffix, p = p[:k], p[k:]
		if suffix != "level" {
			return "", "", fmt.Errorf("bad operator suffix at: \"...%s>>>%s\"", op, suffix)
		}
	}
	t := strings.TrimLeft(p, exprSpace)
	if !strings.HasPrefix(t, "{") {
		return "", "", fmt.Errorf("\"{expression}\" expected at: \"...{%s} %s>>>%s\"", shorten(left), op+suffix, shorten(p))
	}
	right, after, err := curly(t)
	if err != nil {
		return "", "", err
	}
	var lb, rb strings.Builder
	if err := e.expand(left, &lb); err != nil {
		return "", "", err
	}
	if err := e.expand(right, &rb); err != nil {
		return "", "", err
	}
	var cmp int
	if suffix == "level" {
		l, err := parseCompatLevel(lb.String())
		if err != nil {
			return "", "", err
		}
		r, err := parseCompatLevel(rb.String())
		if err != nil {
			return "", "", err
		}
		cmp = compareLevels(l, r)
	} else {
		cmp = compareValues(lb.String(), rb.String())
	}
	var ok bool
	switch op {
	case "==":
		ok = cmp == 0
	case "!=":
		ok = cmp != 0
	case "<":
		ok = cmp < 0
	case "<=":
		ok = cmp <= 0
	case ">=":
		ok = cmp >= 0
	case ">":
		ok = cmp > 0
	}
	if ok {
		return "true", after, nil
	}
	return "", after, nil
}

func isAlnum(b byte) bool { return isNameChar(b) && b != '_' }

// compareValues compares numerically when both strings are all digits
// (of any length), else byte-wise.
func compareValues(a, b string) int {
	if allDigits(a) && allDigits(b) {
		a = strings.TrimLeft(a, "0")
		b = strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			if len(a) < len(b) {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseCompatLevel parses "major[.minor[.patch]]" (compat_level.c);
// minor and patch are at most 1023.
func parseCompatLevel(s string) ([3]int, error) {
	var lv [3]int
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return lv, fmt.Errorf("malformed compatibility level syntax: %q", shorten(s))
	}
	for i, part := range parts {
		n, err := strconv.Atoi(part)
		if err != nil || !allDigits(part) || (i > 0 && n > 1023) || n > 1<<20 {
			return lv, fmt.Errorf("malformed compatibility level syntax: %q", shorten(s))
		}
		lv[i] = n
	}
	return lv, nil
}

func compareLevels(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// push enters the expansion of name, or reports a reference loop.
func (e *expander) push(name string) error {
	for i, n := range e.stack {
		if n == name {
			loop := append(append([]string(nil), e.stack[i:]...), name)
			return fmt.Errorf("parameter expansion loop: %s", strings.Join(loop, " -> "))
		}
	}
	e.stack = append(e.stack, name)
	return nil
}

func (e *expander) pop() { e.stack = e.stack[:len(e.stack)-1] }

// undefined records a warning about a reference to an undefined name.
func (e *expander) undefined(name string) {
	msg := fmt.Sprintf("undefined parameter $%s expands to empty", name)
	if len(e.stack) > 0 {
		ref := e.stack[len(e.stack)-1]
		p := e.c.params[ref]
		msg = fmt.Sprintf("%s: %s", e.c.describe(ref, p), msg)
	}
	e.c.warnLocked(msg)
}

// use writes the recursively expanded value of name.
func (e *expander) use(name string, out *strings.Builder) error {
	raw, _, ok := e.c.rawLocked(name)
	if !ok {
		e.undefined(name)
		return nil
	}
	if err := e.push(name); err != nil {
		return err
	}
	defer e.pop()
	return e.expand(raw, out)
}

// test returns the value that ${name?...} and ${name:...} look at: the
// value as written when main.cf or Set defines name (Postfix keeps those
// unexpanded in its parameter dictionary), else the expanded default.
func (e *expander) test(name string) (string, bool, error) {
	if p, ok := e.c.params[name]; ok {
		return p.Raw, true, nil
	}
	raw, _, ok := e.c.rawLocked(name)
	if !ok {
		e.undefined(name)
		return "", false, nil
	}
	if err := e.push(name); err != nil {
		return "", false, err
	}
	defer e.pop()
	var b strings.Builder
	if err := e.expand(raw, &b); err != nil {
		return "", false, err
	}
	return b.String(), true, nil
}
