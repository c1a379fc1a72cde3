package relaymaps

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Postfix match lists (match_list.c, match_ops.c, domain_list.c,
// namadr_list.c).

const maxListDepth = 8 // "/file" entries nested in files

// listItem is one pattern of a match list after "/file" expansion.
type listItem struct {
	neg  bool
	pat  string
	file string // file the pattern came from; "" for the spec itself
	line int
}

// expandList splits a match list into patterns, inlining "/file/name"
// entries (a "!" before "/file" negates every pattern in the file, as in
// Postfix 3.x).
func expandList(spec string) ([]listItem, error) {
	var out []listItem
	err := expandText(spec, false, "", 0, &out)
	return out, err
}

func expandText(text string, neg bool, file string, depth int, out *[]listItem) error {
	line, counted := 1, 0
	for i := 0; ; {
		tok, start, end, err := nextToken(text, i)
		if start >= 0 && file != "" {
			line += strings.Count(text[counted:start], "\n")
			counted = start
		}
		if err != nil {
			return &SyntaxError{File: file, Line: line, Msg: err.Error()}
		}
		if start < 0 {
			return nil
		}
		i = end
		if tok[0] == '#' {
			// Postfix warns "comment at end of line is not supported" and
			// ignores the rest; here a comment runs to the end of the line.
			if nl := strings.IndexByte(text[start:], '\n'); nl >= 0 {
				i = start + nl
			} else {
				return nil
			}
			continue
		}
		n, pat := stripNegation(tok)
		n = n != neg
		if pat == "" {
			return &SyntaxError{File: file, Line: line, Msg: `no pattern after "!"`}
		}
		if pat[0] != '/' {
			*out = append(*out, listItem{neg: n, pat: pat, file: file, line: line})
			continue
		}
		if depth >= maxListDepth {
			return &SyntaxError{File: file, Line: line, Msg: fmt.Sprintf("list files nested more than %d deep at %q", maxListDepth, pat)}
		}
		data, err := readFile(pat)
		if err != nil {
			where := "relaymaps: match list"
			if file != "" {
				where = fmt.Sprintf("relaymaps: %s:%d", file, line)
			}
			return &configError{msg: where, err: err}
		}
		if err := expandText(string(data), n, pat, depth+1, out); err != nil {
			return err
		}
	}
}

// isTableSpec reports whether a match-list pattern names a table
// (Postfix's MATCH_DICTIONARY: not "[...", and contains ':').
func isTableSpec(pat string) bool {
	return pat != "" && pat[0] != '[' && strings.IndexByte(pat, ':') >= 0
}

// openListTable opens a "type:name" pattern, adding it to closers.
func openListTable(pat string, opts *OpenOptions, closers *[]Closer) (Map, error) {
	m, err := Open(pat, opts)
	if err != nil {
		return nil, err
	}
	if c, ok := m.(Closer); ok {
		*closers = append(*closers, c)
	}
	return m, nil
}

func closeAll(cs []Closer) error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// foldDomain folds d and strips one trailing dot.
func foldDomain(d string) string {
	d = Fold(d)
	if len(d) > 1 && d[len(d)-1] == '.' {
		d = d[:len(d)-1]
	}
	return d
}

// matchHostname matches a folded name against a folded literal pattern
// like Postfix's match_hostname: equal, or (parent style) name is below
// pattern, or pattern is ".domain" and name is below domain. Unlike
// Postfix, ".domain" matches subdomains in parent style too.
func matchHostname(name, pat string, parent bool) bool {
	if name == pat {
		return true
	}
	if len(name) <= len(pat) || !strings.HasSuffix(name, pat) {
		return false
	}
	return pat[0] == '.' || parent && name[len(name)-len(pat)-1] == '.'
}

// lookupName asks table m for name and, when m is fixed, its parent
// domains (with a leading dot unless parent style).
func lookupName(ctx context.Context, m Map, fixed bool, name string, parent bool) (bool, error) {
	_, ok, err := m.Lookup(ctx, name)
	if err != nil {
		return false, wrapLookupError(m, name, err)
	}
	if ok || !fixed {
		return ok, nil
	}
	for p := range parentNames(name, parent) {
		_, ok, err := m.Lookup(ctx, p)
		if err != nil {
			return false, wrapLookupError(m, p, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// DomainList is a Postfix domain match list: relay_domains, mydestination,
// virtual_alias_domains, virtual_mailbox_domains, ... Entries are
// separated by commas or whitespace and tried left to right; the first
// entry that matches decides. An entry is:
//
//	example.com      the domain itself and, when ParentMatchesSubdomains, its subdomains
//	.example.com     subdomains of example.com
//	!pattern         a match means "no"
//	/file/name       the file's entries, inlined ("!/file" negates each)
//	type:table       matches when the table finds the domain (the value is
//	                 ignored); a fixed table is also asked for each parent
//	                 domain ("example.com", "com", or ".example.com",
//	                 ".com" when ParentMatchesSubdomains is false)
//
// A table error makes Match return the error, never a silent false. A nil
// or empty DomainList matches nothing. Close closes the tables it opened.
type DomainList struct {
	// ParentMatchesSubdomains is Postfix's parent_domain_matches_subdomains
	// for this list: true (what ParseDomainList sets) for relay_domains,
	// false for mydestination and the virtual domain lists. Set it before
	// the list is shared.
	ParentMatchesSubdomains bool

	entries []domainEntry
	closers []Closer
}

type domainEntry struct {
	neg    bool
	table  Map
	fixed  bool
	exact  map[string]struct{} // literal patterns
	dotted map[string]struct{} // ".example.com" patterns, without the dot
}

// ParseDomainList parses a domain match list. Tables named in it are
// opened with Open(spec, opts).
func ParseDomainList(spec string, opts *OpenOptions) (*DomainList, error) {
	items, err := expandList(spec)
	if err != nil {
		return nil, err
	}
	l := &DomainList{ParentMatchesSubdomains: true}
	for _, it := range items {
		if isTableSpec(it.pat) {
			m, err := openListTable(it.pat, opts, &l.closers)
			if err != nil {
				_ = l.Close()
				return nil, err
			}
			l.entries = append(l.entries, domainEntry{neg: it.neg, table: m, fixed: IsFixed(m)})
			continue
		}
		// Consecutive literal patterns of the same sign form one set:
		// within such a run, which one matches first does not matter.
		n := len(l.entries)
		if n == 0 || l.entries[n-1].table != nil || l.entries[n-1].neg != it.neg {
			l.entries = append(l.entries, domainEntry{neg: it.neg, exact: map[string]struct{}{}, dotted: map[string]struct{}{}})
			n++
		}
		e := &l.entries[n-1]
		if pat := foldDomain(it.pat); len(pat) > 1 && pat[0] == '.' {
			e.dotted[pat[1:]] = struct{}{}
		} else {
			e.exact[pat] = struct{}{}
		}
	}
	return l, nil
}

// matchLiteral reports whether d matches any literal pattern of e.
func (e *domainEntry) matchLiteral(d string, parent bool) bool {
	if _, ok := e.exact[d]; ok {
		return true
	}
	for i := 0; i < len(d); i++ {
		if d[i] != '.' {
			continue
		}
		p := d[i+1:]
		if _, ok := e.dotted[p]; ok {
			return true
		}
		if parent {
			if _, ok := e.exact[p]; ok {
				return true
			}
		}
	}
	return false
}

// Match reports whether domain is in the list. It is case-insensitive and
// ignores one trailing dot.
func (l *DomainList) Match(ctx context.Context, domain string) (bool, error) {
	if l == nil {
		return false, nil
	}
	d := foldDomain(domain)
	if d == "" {
		return false, nil
	}
	for i := range l.entries {
		e := &l.entries[i]
		var hit bool
		if e.table != nil {
			var err error
			if hit, err = lookupName(ctx, e.table, e.fixed, d, l.ParentMatchesSubdomains); err != nil {
				return false, err
			}
		} else {
			hit = e.matchLiteral(d, l.ParentMatchesSubdomains)
		}
		if hit {
			return !e.neg, nil
		}
	}
	return false, nil
}

// Close closes the tables the list opened.
func (l *DomainList) Close() error {
	if l == nil {
		return nil
	}
	return closeAll(l.closers)
}

// HostList is a Postfix host match list (namadr_list): mynetworks,
// permit_mx_backup_networks, debug_peer_list, ... It matches a client by
// verified hostname and by IP address. Entries, tried left to right (the
// first match decides), are:
//
//	192.0.2.1, 2001:db8::1           an address ("[2001:db8::1]" too)
//	192.0.2.0/24, [2001:db8::]/32    a network; host bits set is an error
//	example.com, .example.com        hostnames, matched like DomainList entries
//	!pattern                         a match means "no"
//	/file/name                       the file's entries, inlined
//	type:table                       matches when the table finds the
//	                                 hostname (a fixed table: also its parent
//	                                 domains) or the address string
//
// IPv6 entries should be written in [] as Postfix requires; an unbracketed
// entry that parses as an IPv6 address or network is accepted too (Postfix
// would take it for a table). A nil or empty HostList matches nothing.
type HostList struct {
	// ParentMatchesSubdomains is true (what ParseHostList sets, and the
	// Postfix default for mynetworks): "example.com" also matches
	// "host.example.com".
	ParentMatchesSubdomains bool

	entries []hostEntry
	closers []Closer
}

type hostEntryKind uint8

const (
	hostPrefix hostEntryKind = iota
	hostName
	hostTable
)

type hostEntry struct {
	kind   hostEntryKind
	neg    bool
	prefix netip.Prefix
	name   string
	table  Map
	fixed  bool
}

// ParseHostList parses a host match list. Tables named in it are opened
// with Open(spec, opts).
func ParseHostList(spec string, opts *OpenOptions) (*HostList, error) {
	items, err := expandList(spec)
	if err != nil {
		return nil, err
	}
	l := &HostList{ParentMatchesSubdomains: true}
	for _, it := range items {
		p := it.pat
		isTable := isTableSpec(p) && !isAddrOrPrefix(p)
		switch {
		case !isTable && (p[0] == '[' || strings.IndexByte(p, '/') >= 0 || isAddrOrPrefix(p)):
			prefix, msg := parsePrefix(p)
			if msg != "" {
				_ = l.Close()
				return nil, &SyntaxError{File: it.file, Line: it.line, Msg: msg}
			}
			l.entries = append(l.entries, hostEntry{kind: hostPrefix, neg: it.neg, prefix: prefix})
		case isTable:
			m, err := openListTable(p, opts, &l.closers)
			if err != nil {
				_ = l.Close()
				return nil, err
			}
			l.entries = append(l.entries, hostEntry{kind: hostTable, neg: it.neg, table: m, fixed: IsFixed(m)})
		default:
			l.entries = append(l.entries, hostEntry{kind: hostName, neg: it.neg, name: foldDomain(p)})
		}
	}
	return l, nil
}

// isAddrOrPrefix reports whether s is an IP address or address/length
// without brackets.
func isAddrOrPrefix(s string) bool {
	a, n, _ := strings.Cut(s, "/")
	if !maybeAddr(a) || strings.Trim(n, "0123456789") != "" {
		return false
	}
	_, msg := parsePrefix(s)
	return msg == ""
}

// Match reports whether the client is in the list. hostname is the
// client's verified hostname ("" or "unknown" when it has none); it is
// case-insensitive and one trailing dot is ignored. An IPv4-mapped IPv6
// address is matched as IPv4, as Postfix does.
func (l *HostList) Match(ctx context.Context, hostname string, addr netip.Addr) (bool, error) {
	if l == nil {
		return false, nil
	}
	h := foldDomain(hostname)
	if addr.Is4In6() {
		addr = addr.Unmap()
	}
	addr = addr.WithZone("")
	var addrText string
	for i := range l.entries {
		e := &l.entries[i]
		var hit bool
		switch e.kind {
		case hostPrefix:
			hit = addr.IsValid() && e.prefix.Contains(addr)
		case hostName:
			hit = h != "" && matchHostname(h, e.name, l.ParentMatchesSubdomains)
		case hostTable:
			var err error
			if h != "" {
				if hit, err = lookupName(ctx, e.table, e.fixed, h, l.ParentMatchesSubdomains); err != nil {
					return false, err
				}
			}
			if !hit && addr.IsValid() {
				if addrText == "" {
					addrText = addr.String()
				}
				_, ok, err := e.table.Lookup(ctx, addrText)
				if err != nil {
					return false, wrapLookupError(e.table, addrText, err)
				}
				hit = ok
			}
		}
		if hit {
			return !e.neg, nil
		}
	}
	return false, nil
}

// Close closes the tables the list opened.
func (l *HostList) Close() error {
	if l == nil {
		return nil
	}
	return closeAll(l.closers)
}
