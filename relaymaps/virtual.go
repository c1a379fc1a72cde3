package relaymaps

import (
	"context"
	"fmt"
	"strings"
)

// VirtualOptions controls ExpandVirtual. The zero value is Postfix's
// default behaviour with no local domains and no recipient delimiter.
type VirtualOptions struct {
	// Delimiters is recipient_delimiter: the characters that start an
	// address extension ("+-" means '+' or '-').
	Delimiters string
	// IsLocalDomain reports whether a domain is $myorigin, $mydestination
	// or an address of this host; only then are the bare "user+ext" and
	// "user" keys looked up. Nil means no domain is local.
	IsLocalDomain func(domain string) bool
	// NoPropagateExtensions turns off propagate_unmatched_extensions for
	// virtual (by default an extension that the matching key did not
	// contain is copied into each result address, as Postfix does).
	NoPropagateExtensions bool
	// Origin, if set, qualifies result addresses that have no '@'
	// ("user" becomes "user@" + Origin), as Postfix does with $myorigin.
	// Empty leaves them as they are.
	Origin string
	// MaxNesting is virtual_alias_recursion_limit (zero means 1000);
	// MaxAddresses is virtual_alias_expansion_limit (zero means 1000).
	MaxNesting, MaxAddresses int
}

// ExpandVirtual expands addr through virtual_alias_maps the way Postfix's
// cleanup(8) does (virtual(5)):
//
//   - Each address is looked up with the keys of RecipientKeys
//     ("user+ext@d", "user@d", "user+ext" and "user" for local domains,
//     "@d"), each key going to every map before the next key.
//   - A value is a list of addresses separated by commas (or whitespace).
//     The first replaces the address, the others are added to the result
//     and expanded in turn. A value that starts with "@" ("@other.example")
//     keeps the user part: user@d becomes user@other.example.
//   - When the key that matched did not contain the address extension,
//     the extension is copied into each result address ("user+ext@d"
//     matched by "user@d x@y" gives "x+ext@y"), unless
//     NoPropagateExtensions.
//   - Expansion is recursive. An address that maps to itself (among other
//     addresses or alone) is final. An address not found is final.
//
// The result lists the final addresses in expansion order, without
// duplicates (compared case-insensitively; the first spelling is kept).
// An address not found at all comes back alone, unchanged.
//
// Errors: a lookup error (a *LookupError from Find; Postfix defers the
// message), an alias loop ("a@x -> b@x -> a@x"), nesting deeper than
// MaxNesting, or more than MaxAddresses addresses. Loop and limit errors
// wrap ErrConfig; Postfix defers the message in every case.
func ExpandVirtual(ctx context.Context, maps []Map, addr string, opts VirtualOptions) ([]string, error) {
	maxNest, maxAddrs := opts.MaxNesting, opts.MaxAddresses
	if maxNest <= 0 {
		maxNest = 1000
	}
	if maxAddrs <= 0 {
		maxAddrs = 1000
	}
	list := []string{addr}
	final := map[string]bool{} // folded addresses that map to themselves
	for i := 0; i < len(list); i++ {
		if len(list) > maxAddrs {
			return nil, &configError{msg: fmt.Sprintf("relaymaps: virtual alias expansion of %q: more than %d addresses", addr, maxAddrs)}
		}
		chain := []string{list[i]}
		for count := 0; ; count++ {
			cur := list[i]
			if final[Fold(cur)] {
				break
			}
			if count >= maxNest {
				return nil, &configError{msg: fmt.Sprintf("relaymaps: virtual alias expansion of %q: nesting deeper than %d", addr, maxNest)}
			}
			results, found, err := virtualLookup(ctx, maps, cur, opts)
			if err != nil {
				return nil, err
			}
			if !found || len(results) == 0 {
				break
			}
			for j, r := range results {
				if j == 0 {
					list[i] = r
				} else {
					list = append(list, r)
				}
				if strings.EqualFold(r, cur) {
					final[Fold(cur)] = true
				}
			}
			if final[Fold(list[i])] {
				break
			}
			for _, prev := range chain {
				if strings.EqualFold(prev, list[i]) {
					return nil, &configError{msg: fmt.Sprintf("relaymaps: virtual alias loop: %s -> %s", strings.Join(chain, " -> "), list[i])}
				}
			}
			chain = append(chain, list[i])
		}
	}
	if len(list) > maxAddrs {
		return nil, &configError{msg: fmt.Sprintf("relaymaps: virtual alias expansion of %q: more than %d addresses", addr, maxAddrs)}
	}
	out := list[:0:0]
	seen := make(map[string]bool, len(list))
	for _, a := range list {
		if k := Fold(a); !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// virtualLookup looks addr up once (Postfix's mail_addr_map) and returns
// the result addresses.
func virtualLookup(ctx context.Context, maps []Map, addr string, opts VirtualOptions) ([]string, bool, error) {
	folded := Fold(addr)
	local, domain, at, ext := splitAddr(folded, opts.Delimiters)
	isLocal := at >= 0 && opts.IsLocalDomain != nil && opts.IsLocalDomain(domain)
	value, key, _, found, err := Find(ctx, maps, RecipientKeys(addr, opts.Delimiters, isLocal))
	if err != nil || !found {
		return nil, false, err
	}
	// The extension is unmatched when the key that matched lacks it:
	// only the full address and the bare "user+ext" key contain it.
	extension := ""
	if ext >= 0 && key != folded && key != local {
		extension = addr[ext:len(local)]
	}
	value = strings.TrimFunc(value, isSpaceRune)
	if strings.HasPrefix(value, "@") {
		user := addr
		if at >= 0 {
			user = addr[:at]
		}
		if ext >= 0 {
			user = user[:ext] // the extension is propagated below, if at all
		}
		value = user + value
	}
	if opts.NoPropagateExtensions {
		extension = ""
	}
	var out []string
	for _, r := range strings.FieldsFunc(value, func(c rune) bool { return c == ',' || c < 0x80 && isSpace(byte(c)) }) {
		if opts.Origin != "" && strings.IndexByte(r, '@') < 0 {
			r += "@" + opts.Origin
		}
		if extension != "" {
			if i := strings.LastIndexByte(r, '@'); i >= 0 {
				r = r[:i] + extension + r[i:]
			} else {
				r += extension
			}
		}
		out = append(out, r)
	}
	return out, true, nil
}

// ValidRecipient reports whether addr is a valid recipient according to
// relay_recipient_maps (or virtual_mailbox_maps, local_recipient_maps): it
// is found with the keys of RecipientKeys ("user+ext@d", "user@d", "@d";
// "@d" is the whole-domain wildcard). The values do not matter. An empty
// list of maps accepts every address, as Postfix does when the parameter
// is empty. A lookup error is returned as a *LookupError (Postfix: 451
// 4.3.0); never treat it as "not found".
func ValidRecipient(ctx context.Context, maps []Map, addr, delimiters string) (bool, error) {
	if len(maps) == 0 {
		return true, nil
	}
	_, _, _, found, err := Find(ctx, maps, RecipientKeys(addr, delimiters, false))
	if err != nil {
		return false, err
	}
	return found, nil
}
