package tlspolicy

import (
	"context"
	"iter"
	"net/netip"
	"strings"

	"github.com/mxkit/mxkit/relaymaps"
)

// TableKeys returns the smtp_tls_policy_maps keys for a next hop, in
// Postfix's order (smtp_tls_policy.c tls_policy_lookup): the next hop
// itself, then its ".parent" forms ("sub.example.com", ".example.com",
// ".com"), never the bare parent ("example.com" does not match
// sub.example.com). "[host]", "[host]:port", "host:port" and IP addresses
// get one verbatim lookup. Keys are lower case.
func TableKeys(nexthop string) []string {
	n := strings.ToLower(strings.TrimSpace(nexthop))
	if n == "" {
		return nil
	}
	keys := []string{n}
	if !walkable(n) {
		return keys
	}
	for i := 1; i < len(n); i++ {
		if n[i] == '.' && i+1 < len(n) {
			keys = append(keys, n[i:])
		}
	}
	return keys
}

// walkable reports whether the parent walk applies: a host name, not an
// address, "[literal]" or "host:port".
func walkable(n string) bool {
	if strings.ContainsAny(n, "[]:/ \t") || strings.HasSuffix(n, ".") || strings.HasPrefix(n, ".") {
		return false
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return false
	}
	return true
}

func keySeq(keys []string) iter.Seq[relaymaps.Key] {
	return func(yield func(relaymaps.Key) bool) {
		for _, k := range keys {
			// Not Partial: Postfix asks every table, socketmaps included,
			// for each ".parent" key.
			if !yield(relaymaps.Key{Key: k}) {
				return
			}
		}
	}
}

// lookupTable finds the policy for nexthop in maps (each key to every
// map before the next key, first hit wins). A lookup error or a value
// that does not parse is an *Error "4.7.5 client TLS configuration
// problem" (Postfix fails closed).
func lookupTable(ctx context.Context, maps []relaymaps.Map, nexthop, host string) (*Policy, string, error) {
	if len(maps) == 0 {
		return nil, "", nil
	}
	v, key, _, found, err := relaymaps.Find(ctx, maps, keySeq(TableKeys(nexthop)))
	if err != nil {
		return nil, key, configError(host, err)
	}
	if !found {
		return nil, "", nil
	}
	tp, err := relaymaps.ParseTLSPolicy(v)
	if err != nil {
		return nil, key, configError(host, err)
	}
	p, err := FromTable(tp)
	if err != nil {
		return nil, key, configError(host, err)
	}
	p.Reason = "policy table key " + key
	return p, key, nil
}
