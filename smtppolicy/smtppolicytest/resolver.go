package smtppolicytest

import (
	"context"
	"net/netip"
	"strings"
	"sync"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/smtppolicy"
)

// Resolver is a fake smtppolicy.Resolver answering from Go maps, for tests
// of DNS checks without a DNS server. Names are matched case-insensitively
// and without a trailing dot. A name listed in Fail gives a temporary
// failure (SERVFAIL, timeout) for every type; a name absent from every map
// is NXDOMAIN; a name present in another map but not in the one asked is
// NODATA. An MX entry with Host "." (or "") makes a null MX (RFC 7505).
// Errors are *dnsres.Error, as from the real resolver; answers are
// Insecure.
//
// The zero value answers NXDOMAIN to everything. Fields may be filled
// before use; Calls counts lookups.
type Resolver struct {
	A   map[string][]netip.Addr // A and AAAA records, by name
	MX  map[string][]dnsres.MX
	PTR map[netip.Addr][]string
	TXT map[string][]string
	NS  map[string][]string
	// Fail lists names whose lookups fail temporarily.
	Fail []string

	mu    sync.Mutex
	calls int
}

var _ smtppolicy.Resolver = (*Resolver)(nil)

// Calls returns how many lookups were made.
func (r *Resolver) Calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

func norm(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

// exists reports whether name has records of any type.
func (r *Resolver) exists(name string) bool {
	_, a := r.A[name]
	_, mx := r.MX[name]
	_, txt := r.TXT[name]
	_, ns := r.NS[name]
	return a || mx || txt || ns
}

// lookup returns the failure for name and type, or nil to answer.
func (r *Resolver) lookup(ctx context.Context, name, typ string, found bool) error {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return &dnsres.Error{Name: name, Type: typ, Kind: dnsres.ErrTemporary, Err: err, Rcode: -1}
	}
	for _, f := range r.Fail {
		if norm(f) == name {
			return &dnsres.Error{Name: name, Type: typ, Kind: dnsres.ErrTemporary, Rcode: 2}
		}
	}
	if found {
		return nil
	}
	if r.exists(name) {
		return &dnsres.Error{Name: name, Type: typ, Kind: dnsres.ErrNoData, Rcode: 0}
	}
	return &dnsres.Error{Name: name, Type: typ, Kind: dnsres.ErrNXDomain, Rcode: 3}
}

// LookupIP implements smtppolicy.Resolver.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	host = norm(host)
	var out []netip.Addr
	for _, a := range r.A[host] {
		if network == "ip" || (network == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	typ := map[string]string{"ip4": "A", "ip6": "AAAA"}[network]
	if typ == "" {
		typ = "A"
	}
	if err := r.lookup(ctx, host, typ, len(out) > 0); err != nil {
		return nil, err
	}
	return out, nil
}

// LookupMX implements smtppolicy.Resolver.
func (r *Resolver) LookupMX(ctx context.Context, domain string) (dnsres.MXResult, error) {
	domain = norm(domain)
	res := dnsres.MXResult{Domain: domain, Security: dnsres.Insecure}
	mx := r.MX[domain]
	if err := r.lookup(ctx, domain, "MX", len(mx) > 0); err != nil {
		return res, err
	}
	for _, m := range mx {
		if m.Host == "." || m.Host == "" {
			return res, &dnsres.Error{Name: domain, Type: "MX", Kind: dnsres.ErrNullMX, Security: dnsres.Insecure, Rcode: -1}
		}
	}
	res.Hosts = append([]dnsres.MX(nil), mx...)
	return res, nil
}

// LookupPTR implements smtppolicy.Resolver.
func (r *Resolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	names := r.PTR[addr.Unmap()]
	if err := r.lookup(ctx, addr.String(), "PTR", len(names) > 0); err != nil {
		return nil, err
	}
	return append([]string(nil), names...), nil
}

// LookupTXT implements smtppolicy.Resolver.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	name = norm(name)
	txt := r.TXT[name]
	if err := r.lookup(ctx, name, "TXT", len(txt) > 0); err != nil {
		return nil, err
	}
	return append([]string(nil), txt...), nil
}

// LookupNS implements smtppolicy.Resolver.
func (r *Resolver) LookupNS(ctx context.Context, domain string) ([]string, error) {
	domain = norm(domain)
	ns := r.NS[domain]
	if err := r.lookup(ctx, domain, "NS", len(ns) > 0); err != nil {
		return nil, err
	}
	return append([]string(nil), ns...), nil
}
