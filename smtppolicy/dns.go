package smtppolicy

import (
	"context"
	"net/netip"
	"strings"

	"github.com/mxkit/mxkit/dnsres"
)

// Resolver answers the DNS questions of the DNS-based checks.
// *dnsres.Resolver, mxkit's DNS layer, implements it; smtppolicytest has a
// fake. Names are given without a trailing dot. The slices returned may be
// shared with a cache: callers must not modify them.
//
// Errors follow dnsres: errors.Is(err, dnsres.ErrNotFound) for a name that
// does not exist or has no records of the type, dnsres.ErrTemporary for a
// failure (SERVFAIL, a timeout, a network error, a DNSSEC validation
// failure), dnsres.ErrNullMX for a null MX (RFC 7505) and
// dnsres.ErrMalformed for an MX target that is not a host name. An error
// of any other kind is taken as temporary.
type Resolver interface {
	// LookupIP returns the A records ("ip4"), the AAAA records ("ip6") or
	// both ("ip") of host.
	LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupMX returns the MX records of domain in preference order.
	LookupMX(ctx context.Context, domain string) (dnsres.MXResult, error)
	// LookupPTR returns the PTR names of addr, without trailing dots.
	LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error)
	// LookupTXT returns the TXT records of name, each record's strings
	// concatenated.
	LookupTXT(ctx context.Context, name string) ([]string, error)
	// LookupNS returns the NS host names of domain.
	LookupNS(ctx context.Context, domain string) ([]string, error)
}

var _ Resolver = (*dnsres.Resolver)(nil)

// isRetry reports a lookup error that is a temporary failure.
func isRetry(err error) bool { return dnsres.StatusOf(err) == dnsres.StatusRetry }

// LookupClient implements Postfix's client name verification (smtpd_peer):
// the first PTR name of addr is the reverse name; it becomes the client
// name only if it is a valid host name whose A or AAAA records include addr
// (forward-confirmed reverse DNS). Either name is "unknown" otherwise;
// nameTemp and reverseTemp report that a temporary DNS failure is why, so
// that reject_unknown_client_hostname and
// reject_unknown_reverse_client_hostname answer 450 instead of their
// configured code. A nil Resolver gives "unknown" for both, not temporary.
// The front end calls it at connect and fills in State.ClientName,
// ReverseName, ClientNameTemporary and ReverseNameTemporary.
func LookupClient(ctx context.Context, r Resolver, addr netip.Addr) (name, reverse string, nameTemp, reverseTemp bool) {
	const unknown = "unknown"
	if r == nil || !addr.IsValid() {
		return unknown, unknown, false, false
	}
	addr = addr.Unmap()
	ptrs, err := r.LookupPTR(ctx, addr)
	if err != nil || len(ptrs) == 0 {
		temp := err != nil && isRetry(err)
		return unknown, unknown, temp, temp
	}
	reverse = strings.TrimSuffix(ptrs[0], ".")
	if !ValidHostname(reverse) {
		// Postfix: "numeric hostname" or malformed: not a name at all.
		return unknown, unknown, false, false
	}
	addrs, err := r.LookupIP(ctx, "ip", reverse)
	if err != nil {
		return unknown, reverse, isRetry(err), false
	}
	for _, a := range addrs {
		if a.Unmap() == addr {
			return reverse, reverse, false, false
		}
	}
	// The forward names do not include addr: a forged name.
	return unknown, reverse, false, false
}
