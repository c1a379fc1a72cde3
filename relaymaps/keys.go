package relaymaps

import (
	"context"
	"iter"
	"net/netip"
	"strings"
)

// Key is one lookup key derived from a name or address. Partial keys
// (parent domains, shorter network prefixes, user@) go to fixed tables only;
// see IsFixed.
type Key struct {
	Key     string
	Partial bool
}

// HostKeys returns the access(5) keys for a host or domain name: the name
// in lower case (full), then its parent domains ("example.com", "com",
// partial), as Postfix's check_domain_access does with smtpd_access_maps in
// parent_domain_matches_subdomains (the default). Numeric names (IP
// addresses) and address literals ("[192.0.2.1]") get no parents. An empty
// name yields nothing. The keys are substrings of the folded name.
func HostKeys(name string) iter.Seq[Key] {
	return func(yield func(Key) bool) {
		if name == "" {
			return
		}
		n := Fold(name)
		if !yield(Key{Key: n}) || numericHost(n) {
			return
		}
		for p := range parentNames(n, true) {
			if !yield(Key{Key: p, Partial: true}) {
				return
			}
		}
	}
}

// parentNames yields the parent domains of name after name itself, as
// Postfix's match_hostname and check_domain_access walk them: "example.com"
// and "com" for "a.example.com", or ".example.com" and ".com" when dotted.
func parentNames(name string, parentStyle bool) iter.Seq[string] {
	return func(yield func(string) bool) {
		pos := 0
		for pos+1 < len(name) {
			j := strings.IndexByte(name[pos+1:], '.')
			if j < 0 {
				return
			}
			pos += 1 + j
			if parentStyle {
				pos++
			}
			if pos >= len(name) || !yield(name[pos:]) {
				return
			}
		}
	}
}

// numericHost reports whether name is an IP address (or an address
// literal), which gets no parent-domain lookups.
func numericHost(name string) bool {
	if name != "" && name[0] == '[' {
		return true
	}
	if !maybeAddr(name) {
		return false
	}
	_, err := netip.ParseAddr(name)
	return err == nil
}

// AddrKeys returns the access(5) keys for a client IP address in text form:
// the address (full), then shorter forms made by dropping the last octet
// ("192.0.2.1", "192.0.2", "192.0", "192") or, for IPv6, the last ":"
// group of the text form as given ("2001:db8::1", "2001:db8:", "2001:db8",
// "2001"), all partial. Keys are substrings of the (folded) input; no key
// is empty.
func AddrKeys(addr string) iter.Seq[Key] {
	return func(yield func(Key) bool) {
		if addr == "" {
			return
		}
		a := Fold(addr)
		delim := byte('.')
		if strings.IndexByte(a, ':') >= 0 {
			delim = ':'
		}
		if !yield(Key{Key: a}) {
			return
		}
		for {
			i := strings.LastIndexByte(a, delim)
			if i <= 0 {
				return
			}
			a = a[:i]
			if !yield(Key{Key: a, Partial: true}) {
				return
			}
		}
	}
}

// splitAddr splits a folded address at its last '@' and finds where the
// address extension starts: the index in local of the first character that
// is in the delimiter set, or -1. Like Postfix's split_addr, it never splits
// postmaster, mailer-daemon or double-bounce, nor (when '-' is a delimiter,
// owner_request_special=yes) owner-* and *-request, and never leaves an
// empty local part.
func splitAddr(a, delimiters string) (local, domain string, at, ext int) {
	at = strings.LastIndexByte(a, '@')
	if at >= 0 {
		local, domain = a[:at], a[at+1:]
	} else {
		local = a
	}
	return local, domain, at, extIndex(local, delimiters)
}

func extIndex(local, delimiters string) int {
	if delimiters == "" || local == "" {
		return -1
	}
	switch local {
	case "postmaster", "mailer-daemon", "double-bounce":
		return -1
	}
	if strings.IndexByte(delimiters, '-') >= 0 {
		if strings.HasPrefix(local, "owner-") || len(local) > 8 && strings.HasSuffix(local, "-request") {
			return -1
		}
	}
	i := strings.IndexAny(local, delimiters)
	if i <= 0 {
		return -1
	}
	return i
}

// AccessAddressKeys returns the access(5) keys for a sender or recipient
// address, in Postfix's check_mail_access order:
//
//	user+ext@example.com   full
//	user@example.com       partial, only when there is an extension
//	example.com, com       partial (the domain and its parents)
//	user+ext@              partial
//	user@                  partial, only when there is an extension
//
// The address is folded to lower case. The extension starts at the first
// character of the local part that is in the delimiter set
// (recipient_delimiter; "+-" means '+' or '-'); see splitAddr for the local
// parts that are never split. An address without '@' is treated as a local
// part with no domain: the keys are the address, the address without its
// extension, then "local@" forms. An empty address yields nothing (look up
// smtpd_null_access_lookup_key, "<>", yourself).
func AccessAddressKeys(addr, delimiters string) iter.Seq[Key] {
	return func(yield func(Key) bool) {
		if addr == "" {
			return
		}
		a := Fold(addr)
		local, domain, at, ext := splitAddr(a, delimiters)
		if !yield(Key{Key: a}) {
			return
		}
		var bare string // user@domain, or user without '@'
		if ext >= 0 {
			if at >= 0 {
				bare = local[:ext] + a[at:]
			} else {
				bare = local[:ext]
			}
			if !yield(Key{Key: bare, Partial: true}) {
				return
			}
		}
		if domain != "" {
			for k := range HostKeys(domain) {
				k.Partial = true
				if !yield(k) {
					return
				}
			}
		}
		if at >= 0 {
			if !yield(Key{Key: a[:at+1], Partial: true}) {
				return
			}
			if ext >= 0 {
				yield(Key{Key: bare[:ext+1], Partial: true})
			}
			return
		}
		if !yield(Key{Key: a + "@", Partial: true}) {
			return
		}
		if ext >= 0 {
			yield(Key{Key: bare + "@", Partial: true})
		}
	}
}

// RecipientKeys returns the keys Postfix's mail_addr_find tries for an
// address (relay_recipient_maps, virtual_alias_maps, local_recipient_maps):
//
//	user+ext@example.com   full
//	user@example.com       partial, only when there is an extension
//	user+ext               partial, only when localDomain
//	user                   partial, only when localDomain and there is an extension
//	@example.com           partial
//
// localDomain says that the domain is $myorigin, $mydestination or an
// address of this host (Postfix's resolve_local). Extensions are split as
// for AccessAddressKeys. The address is folded to lower case. An address
// without '@' yields only the first two forms.
func RecipientKeys(addr, delimiters string, localDomain bool) iter.Seq[Key] {
	return func(yield func(Key) bool) {
		if addr == "" {
			return
		}
		a := Fold(addr)
		local, domain, at, ext := splitAddr(a, delimiters)
		if !yield(Key{Key: a}) {
			return
		}
		var bare string
		if ext >= 0 {
			if at >= 0 {
				bare = local[:ext] + a[at:]
			} else {
				bare = local[:ext]
			}
			if !yield(Key{Key: bare, Partial: true}) {
				return
			}
		}
		if at < 0 {
			return
		}
		if localDomain && local != "" {
			if !yield(Key{Key: local, Partial: true}) {
				return
			}
			if ext >= 0 && !yield(Key{Key: local[:ext], Partial: true}) {
				return
			}
		}
		if local != "" && domain != "" {
			yield(Key{Key: a[at:], Partial: true})
		}
	}
}

// Find searches maps with keys, as Postfix's maps_find does: each key goes
// to every map, in order, before the next key is tried, and partial keys
// skip maps that are not fixed (IsFixed). The first hit wins; it returns
// the value, the key and the map that answered.
//
// A lookup error stops the search. It is returned as a *LookupError (the
// table's own if it returned one; otherwise one wrapping the error, of kind
// ErrConfig when the error is a configuration error and ErrTemporary
// otherwise).
func Find(ctx context.Context, maps []Map, keys iter.Seq[Key]) (value, key string, m Map, found bool, err error) {
	for k := range keys {
		for _, mm := range maps {
			if k.Partial && !IsFixed(mm) {
				continue
			}
			v, ok, err := mm.Lookup(ctx, k.Key)
			if err != nil {
				return "", k.Key, mm, false, wrapLookupError(mm, k.Key, err)
			}
			if ok {
				return v, k.Key, mm, true, nil
			}
		}
	}
	return "", "", nil, false, nil
}

// wrapLookupError returns err as a *LookupError for table m and key.
func wrapLookupError(m Map, key string, err error) error {
	var le *LookupError
	if asLookupError(err, &le) {
		return err
	}
	return &LookupError{Table: NameOf(m), Key: key, Kind: kindOf(err), Err: err}
}
