package relaymaps

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// CIDRTable is a Postfix cidr_table(5) table: "cidr:/path" or the inline
// form "cidr:{ {rule}, {rule} }" (Postfix 3.7). It is a pattern table: it
// is asked full keys only, and a key that is not an IP address is not
// found.
//
// Rules are "pattern result" lines. A pattern is an address or
// address/length, optionally in [] ("[2001:db8::]/32", "[2001:db8::/32]");
// "!pattern" matches addresses that do not match pattern (Postfix 3.2);
// "if [!]pattern" ... "endif" blocks nest (Postfix 3.2). The first rule in
// file order that matches wins; there is no longest-prefix logic. A rule of
// one address family never matches a key of the other, negated or not, and
// an "if" of the other family skips its block (Postfix cidr_match.c). An
// IPv4-mapped IPv6 key ("::ffff:192.0.2.1") is an IPv6 key, as in Postfix.
//
// Unlike Postfix, which logs a warning and skips a bad rule, any malformed
// rule (bad address, host bits set, missing result, unbalanced if/endif)
// makes the whole table fail to load with a *SyntaxError naming file and
// line. A leading zero in an IPv4 octet ("010.0.0.1") is an error:
// cidr_table(5) says it would mean octal, but inet_pton on Linux and BSD
// rejects it, so the pattern never worked as either.
//
// Lookups do not scan rules one by one: within each if-block, positive
// rules are indexed by prefix length, and only negated rules and nested
// if-blocks that come before the best indexed match are evaluated in
// order, so file order is respected.
type CIDRTable struct {
	name  string
	root  *cidrBlock
	rules int
}

type cidrOpKind uint8

const (
	opMatch cidrOpKind = iota
	opIf
	opEndif
)

// cidrOp is one parsed rule, in file order.
type cidrOp struct {
	kind   cidrOpKind
	neg    bool
	prefix netip.Prefix
	value  string
	line   int
}

// matches reports whether a matches op's pattern, honouring negation and
// the address family rule.
func (op *cidrOp) matches(a netip.Addr) bool {
	if op.prefix.Addr().Is4() != a.Is4() {
		return false
	}
	return op.prefix.Contains(a) != op.neg
}

// ParseCIDRTable parses cidr_table(5) text. file names the source in error
// messages; the table's Name is "cidr:" + file.
func ParseCIDRTable(file, text string) (*CIDRTable, error) {
	lines, bad, msg := logicalLines(text)
	if msg != "" {
		return nil, &SyntaxError{File: file, Line: bad, Msg: msg}
	}
	ops, err := parseCIDROps(file, false, lines)
	if err != nil {
		return nil, err
	}
	return newCIDRTable("cidr:"+file, ops), nil
}

func newCIDRTable(name string, ops []cidrOp) *CIDRTable {
	root, _ := compileCIDRBlock(ops, 0)
	n := 0
	for i := range ops {
		if ops[i].kind == opMatch {
			n++
		}
	}
	return &CIDRTable{name: name, root: root, rules: n}
}

func openCIDR(name string, opts *OpenOptions) (Map, error) {
	if strings.HasPrefix(strings.TrimLeftFunc(name, isSpaceRune), "{") {
		ops, err := parseInlineCIDR(name)
		if err != nil {
			return nil, err
		}
		return newCIDRTable("cidr:"+name, ops), nil
	}
	if name == "" {
		return nil, &SyntaxError{Msg: `bad table spec "cidr:": missing file name`}
	}
	path := opts.ResolvePath(name)
	data, err := readFile(path)
	if err != nil {
		return nil, &configError{msg: "relaymaps: cidr:" + name, err: err}
	}
	t, err := ParseCIDRTable(path, string(data))
	if err != nil {
		return nil, err
	}
	t.name = "cidr:" + name
	return t, nil
}

// parseInlineCIDR parses "{ {rule}, {rule} }": each rule is one logical
// line; errors count rules from 1.
func parseInlineCIDR(name string) ([]cidrOp, error) {
	const file = "cidr:{...}"
	lines, err := inlineRules(name, file, func(rule string) string { return strings.ReplaceAll(rule, "\n", "") })
	if err != nil {
		return nil, err
	}
	return parseCIDROps(file, true, lines)
}

// inlineRules splits an inline table "{ {rule}, {rule} }" into logical
// lines numbered from 1, leaving out empty rules and comments. clean, if
// not nil, rewrites each rule first. Errors name file.
func inlineRules(name, file string, clean func(string) string) ([]logicalLine, error) {
	inner, err := unbrace(strings.TrimFunc(name, isSpaceRune))
	if err != nil {
		return nil, &SyntaxError{File: file, Msg: err.Error()}
	}
	toks, err := splitTokens(inner)
	if err != nil {
		return nil, &SyntaxError{File: file, Msg: err.Error()}
	}
	lines := make([]logicalLine, 0, len(toks))
	for i, tok := range toks {
		rule, err := unbrace(tok)
		if err != nil {
			return nil, &SyntaxError{File: file, Line: i + 1, Inline: true,
				Msg: fmt.Sprintf("each rule must be enclosed in {}: %v", err)}
		}
		if clean != nil {
			rule = clean(rule)
		}
		if rule == "" || rule[0] == '#' {
			continue
		}
		lines = append(lines, logicalLine{line: i + 1, text: rule})
	}
	return lines, nil
}

// parseCIDROps turns logical lines into rules and checks if/endif nesting.
func parseCIDROps(file string, inline bool, lines []logicalLine) ([]cidrOp, error) {
	ops := make([]cidrOp, 0, len(lines))
	var open []int // lines of unclosed "if"s
	for _, ll := range lines {
		fail := func(format string, args ...any) error {
			return &SyntaxError{File: file, Line: ll.line, Inline: inline, Msg: fmt.Sprintf(format, args...)}
		}
		pat, val := splitKeyValue(ll.text)
		switch {
		case strings.EqualFold(pat, "if"):
			p, rest := splitKeyValue(val)
			if p == "" {
				return nil, fail(`no address pattern after "if"`)
			}
			if rest != "" {
				return nil, fail("text after \"if %s\": %q", p, rest)
			}
			neg, bare := stripNegation(p)
			if bare == "" {
				return nil, fail(`no address pattern after "!"`)
			}
			prefix, msg := parsePrefix(bare)
			if msg != "" {
				return nil, fail("%s", msg)
			}
			ops = append(ops, cidrOp{kind: opIf, neg: neg, prefix: prefix, line: ll.line})
			open = append(open, ll.line)
		case strings.EqualFold(pat, "endif"):
			if val != "" {
				return nil, fail("text after \"endif\": %q", val)
			}
			if len(open) == 0 {
				return nil, fail(`"endif" without matching "if"`)
			}
			open = open[:len(open)-1]
			ops = append(ops, cidrOp{kind: opEndif, line: ll.line})
		default:
			neg, bare := stripNegation(pat)
			if bare == "" {
				return nil, fail(`no address pattern after "!"`)
			}
			prefix, msg := parsePrefix(bare)
			if msg != "" {
				return nil, fail("%s", msg)
			}
			if val == "" {
				return nil, fail("no result for pattern %q", pat)
			}
			ops = append(ops, cidrOp{kind: opMatch, neg: neg, prefix: prefix, value: val, line: ll.line})
		}
	}
	if len(open) > 0 {
		return nil, &SyntaxError{File: file, Line: open[len(open)-1], Inline: inline, Msg: `"if" without matching "endif"`}
	}
	return ops, nil
}

// stripNegation removes leading '!'s; each one flips the sense.
func stripNegation(s string) (neg bool, rest string) {
	for s != "" && s[0] == '!' {
		neg = !neg
		s = s[1:]
	}
	return neg, s
}

// parsePrefix parses a cidr_table(5) address pattern: addr, addr/len,
// [addr], [addr]/len or [addr/len]. It returns a message on failure.
func parsePrefix(pat string) (netip.Prefix, string) {
	s := pat
	if s != "" && s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Prefix{}, fmt.Sprintf("missing \"]\" in %q", pat)
		}
		after := s[end+1:]
		if after != "" && after[0] != '/' {
			return netip.Prefix{}, fmt.Sprintf("text after \"]\" in %q", pat)
		}
		s = s[1:end] + after
	}
	addrPart, lenPart, hasLen := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrPart)
	if err != nil || addr.Zone() != "" {
		if leadingZeroV4(addrPart) {
			return netip.Prefix{}, fmt.Sprintf("bad address pattern %q: leading zero in IPv4 octet (octal and decimal are ambiguous)", pat)
		}
		return netip.Prefix{}, fmt.Sprintf("bad address pattern %q", pat)
	}
	bits := addr.BitLen()
	if !hasLen {
		return netip.PrefixFrom(addr, bits), ""
	}
	n, err := strconv.Atoi(lenPart)
	if err != nil || lenPart == "" || lenPart[0] == '+' || lenPart[0] == '-' || len(lenPart) > 3 || n > bits {
		return netip.Prefix{}, fmt.Sprintf("bad prefix length in %q", pat)
	}
	p := netip.PrefixFrom(addr, n)
	if p.Masked().Addr() != addr {
		return netip.Prefix{}, fmt.Sprintf("host bits set in %q", pat)
	}
	return p, ""
}

// leadingZeroV4 reports whether s looks like a dotted quad with a leading
// zero in some octet.
func leadingZeroV4(s string) bool {
	if strings.Count(s, ".") != 3 {
		return false
	}
	for f := range strings.SplitSeq(s, ".") {
		if len(f) > 1 && f[0] == '0' && strings.Trim(f, "0123456789") == "" {
			return true
		}
	}
	return false
}

// cidrBlock is the compiled form of the top level or of one if-block.
type cidrBlock struct {
	simple []cidrSimple // positive rules, in file order
	idx    *cidrIndex   // index over simple; nil when simple is short
	nested []cidrNested // negated rules and if-blocks, in file order
}

type cidrSimple struct {
	pos    int
	prefix netip.Prefix
	value  string
}

type cidrNested struct {
	op    cidrOp
	pos   int
	block *cidrBlock // non-nil for an if-block
}

// compileCIDRBlock compiles ops[i:] up to the matching endif; it returns
// the block and the index after the endif.
func compileCIDRBlock(ops []cidrOp, i int) (*cidrBlock, int) {
	b := &cidrBlock{}
	for i < len(ops) {
		op := ops[i]
		switch op.kind {
		case opEndif:
			b.finish()
			return b, i + 1
		case opIf:
			sub, next := compileCIDRBlock(ops, i+1)
			if len(sub.simple)+len(sub.nested) > 0 {
				b.nested = append(b.nested, cidrNested{op: op, pos: i, block: sub})
			}
			i = next
			continue
		case opMatch:
			if op.neg {
				b.nested = append(b.nested, cidrNested{op: op, pos: i})
			} else {
				b.simple = append(b.simple, cidrSimple{pos: i, prefix: op.prefix, value: op.value})
			}
		}
		i++
	}
	b.finish()
	return b, i
}

const cidrIndexMin = 8 // below this many positive rules, scan

func (b *cidrBlock) finish() {
	if len(b.simple) >= cidrIndexMin {
		b.idx = newCIDRIndex(b.simple)
	}
}

// lookup returns the first rule in file order that matches a.
func (b *cidrBlock) lookup(a netip.Addr) (string, bool) {
	best, value, found := math.MaxInt, "", false
	if b.idx != nil {
		if i := b.idx.lookup(a); i >= 0 {
			best, value, found = b.simple[i].pos, b.simple[i].value, true
		}
	} else {
		for i := range b.simple {
			if b.simple[i].prefix.Contains(a) {
				best, value, found = b.simple[i].pos, b.simple[i].value, true
				break
			}
		}
	}
	// Negated rules and if-blocks before the best positive rule come
	// first. An if-block lies wholly before or after best, which is a rule
	// of this block.
	for i := range b.nested {
		n := &b.nested[i]
		if n.pos > best {
			break
		}
		if !n.op.matches(a) {
			continue
		}
		if n.block == nil {
			return n.op.value, true
		}
		if v, ok := n.block.lookup(a); ok {
			return v, true
		}
	}
	return value, found
}

// cidrIndex maps masked addresses to the first rule (index into
// cidrBlock.simple) with that prefix, one map per prefix length present.
type cidrIndex struct {
	lens4 []int
	maps4 []map[uint32]int32
	lens6 []int
	maps6 []map[[2]uint64]int32
}

func mask4(a uint32, n int) uint32 {
	if n == 0 {
		return 0
	}
	return a &^ (1<<(32-n) - 1)
}

func mask6(a [2]uint64, n int) [2]uint64 {
	switch {
	case n == 0:
		return [2]uint64{}
	case n < 64:
		return [2]uint64{a[0] &^ (1<<(64-n) - 1), 0}
	case n == 64:
		return [2]uint64{a[0], 0}
	case n < 128:
		return [2]uint64{a[0], a[1] &^ (1<<(128-n) - 1)}
	}
	return a
}

func addr4(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr6(a netip.Addr) [2]uint64 {
	b := a.As16()
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func newCIDRIndex(rules []cidrSimple) *cidrIndex {
	x := &cidrIndex{}
	m4 := map[int]map[uint32]int32{}
	m6 := map[int]map[[2]uint64]int32{}
	for i, r := range rules {
		n, a := r.prefix.Bits(), r.prefix.Addr()
		if a.Is4() {
			m := m4[n]
			if m == nil {
				m = map[uint32]int32{}
				m4[n] = m
			}
			k := addr4(a)
			if _, dup := m[k]; !dup {
				m[k] = int32(i)
			}
		} else {
			m := m6[n]
			if m == nil {
				m = map[[2]uint64]int32{}
				m6[n] = m
			}
			k := addr6(a)
			if _, dup := m[k]; !dup {
				m[k] = int32(i)
			}
		}
	}
	for n := range m4 {
		x.lens4 = append(x.lens4, n)
	}
	slices.Sort(x.lens4)
	for _, n := range x.lens4 {
		x.maps4 = append(x.maps4, m4[n])
	}
	for n := range m6 {
		x.lens6 = append(x.lens6, n)
	}
	slices.Sort(x.lens6)
	for _, n := range x.lens6 {
		x.maps6 = append(x.maps6, m6[n])
	}
	return x
}

// lookup returns the index of the first rule containing a, or -1.
func (x *cidrIndex) lookup(a netip.Addr) int {
	best := int32(math.MaxInt32)
	if a.Is4() {
		k := addr4(a)
		for i, n := range x.lens4 {
			if j, ok := x.maps4[i][mask4(k, n)]; ok && j < best {
				best = j
			}
		}
	} else {
		k := addr6(a)
		for i, n := range x.lens6 {
			if j, ok := x.maps6[i][mask6(k, n)]; ok && j < best {
				best = j
			}
		}
	}
	if best == math.MaxInt32 {
		return -1
	}
	return int(best)
}

// Lookup returns the result of the first rule that matches key, which
// must be an IP address in text form; anything else is not found.
func (t *CIDRTable) Lookup(_ context.Context, key string) (string, bool, error) {
	if !maybeAddr(key) {
		return "", false, nil
	}
	a, err := netip.ParseAddr(key)
	if err != nil || a.Zone() != "" {
		return "", false, nil
	}
	v, ok := t.root.lookup(a)
	return v, ok, nil
}

// FixedKeys reports false: cidr is a pattern table.
func (*CIDRTable) FixedKeys() bool { return false }

// Name returns the table's spec, e.g. "cidr:/etc/postfix/client.cidr".
func (t *CIDRTable) Name() string { return t.name }

// Len returns the number of result rules (not counting if/endif).
func (t *CIDRTable) Len() int { return t.rules }

// maybeAddr is a cheap filter: it reports false for strings that cannot be
// an IP address (hostnames, mostly), saving netip's error allocation.
func maybeAddr(s string) bool {
	if len(s) < 2 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}
