package dnsres

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/miekg/dns"
)

// Answer is one RRset after following CNAMEs.
type Answer struct {
	Name     string   // the name asked, lower case, without trailing dot
	CNAMEs   []string // the CNAME targets in order; the last is the expanded name
	Security Security // the weakest of the chain (RFC 7672 §2.1.3)
	RRs      []dns.RR // the records of the type asked, at the expanded name
}

// Expanded returns the fully CNAME-expanded name (Name when there is no
// CNAME).
func (a Answer) Expanded() string {
	if len(a.CNAMEs) > 0 {
		return a.CNAMEs[len(a.CNAMEs)-1]
	}
	return a.Name
}

// Query asks for name/qtype through the cache. NXDOMAIN and NODATA are
// errors (ErrNXDomain, ErrNoData) whose Answer still says, in Security,
// whether the denial was authenticated. The records are shared: do not
// modify them.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	e := r.lookup(ctx, name, qtype)
	return e.ans, e.err
}

// MX is one mail exchanger record. Host is lower case, without trailing
// dot; it is empty for a null MX target.
type MX struct {
	Host string
	Pref uint16
}

// MXResult is the MX RRset of a domain.
type MXResult struct {
	Domain   string   // the domain asked, lower case, without trailing dot
	CNAMEs   []string // its CNAME expansion
	Security Security // the weakest of the chain
	Hosts    []MX     // sorted by preference (stable)
}

func sortMX(mx []MX) {
	slices.SortStableFunc(mx, func(x, y MX) int { return int(x.Pref) - int(y.Pref) })
}

// checkMX finds a null MX and MX targets that are not host names. Like
// Postfix's dns_lookup, any record with the root as its target makes the
// answer a null MX (RFC 7505 asks for it alone; a domain that mixes it with
// other records asks not to get mail all the same).
func checkMX(name string, mx []MX, sec Security) error {
	for _, m := range mx {
		if m.Host == "" {
			return &Error{Name: name, Type: "MX", Kind: ErrNullMX, Security: sec, Rcode: -1}
		}
	}
	for _, m := range mx {
		if !ValidHostname(m.Host) {
			return &Error{Name: name, Type: "MX", Kind: ErrMalformed, Security: sec, Rcode: -1,
				Err: fmt.Errorf("MX target %q is not a host name", m.Host)}
		}
	}
	return nil
}

// LookupMX returns the MX records of domain in preference order. A null
// MX (RFC 7505) is ErrNullMX, a target that is not a host name
// ErrMalformed; the result's Security is set in every case. The slice is
// shared: do not modify it.
func (r *Resolver) LookupMX(ctx context.Context, domain string) (MXResult, error) {
	e := r.lookup(ctx, domain, dns.TypeMX)
	return MXResult{Domain: e.ans.Name, CNAMEs: e.ans.CNAMEs, Security: e.ans.Security, Hosts: e.mx}, e.err
}

// LookupIP returns the A records ("ip4"), the AAAA records ("ip6") or
// both ("ip", A and AAAA asked in parallel) of host. For "ip" one family
// is enough: the error is returned only when neither has addresses, a
// temporary failure before not-found. The slice may be shared: do not
// modify it.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	switch network {
	case "ip4":
		e := r.lookup(ctx, host, dns.TypeA)
		return e.addrs, e.err
	case "ip6":
		e := r.lookup(ctx, host, dns.TypeAAAA)
		return e.addrs, e.err
	case "ip":
		a, aaaa := r.both(ctx, host)
		switch {
		case a.err == nil && aaaa.err == nil:
			if len(aaaa.addrs) == 0 {
				return a.addrs, nil
			}
			return append(append(make([]netip.Addr, 0, len(a.addrs)+len(aaaa.addrs)), a.addrs...), aaaa.addrs...), nil
		case a.err == nil:
			return a.addrs, nil
		case aaaa.err == nil:
			return aaaa.addrs, nil
		case StatusOf(a.err) == StatusRetry:
			return nil, a.err
		}
		return nil, aaaa.err
	}
	return nil, fmt.Errorf("dnsres: LookupIP: unknown network %q", network)
}

// both asks for A and AAAA, in parallel when neither is cached.
func (r *Resolver) both(ctx context.Context, host string) (a, aaaa *entry) {
	if a = r.cached(host, dns.TypeA); a != nil {
		return a, r.lookup(ctx, host, dns.TypeAAAA)
	}
	if aaaa = r.cached(host, dns.TypeAAAA); aaaa != nil {
		return r.lookup(ctx, host, dns.TypeA), aaaa
	}
	done := make(chan *entry, 1)
	go func() { done <- r.lookup(ctx, host, dns.TypeAAAA) }()
	a = r.lookup(ctx, host, dns.TypeA)
	return a, <-done
}

// AddrResult is the A and AAAA RRsets of a host.
type AddrResult struct {
	Host   string   // the host asked, lower case, without trailing dot
	CNAMEs []string // the expansion of the A lookup (of AAAA when A has none)
	// Security is the weakest of both lookups and their chains; Security4
	// and Security6 are each family's own (Postfix keeps one per RR, so
	// that DANE may apply to one family and not the other).
	Security, Security4, Security6 Security
	Addrs                          []netip.Addr // IPv4 first
}

// Expanded returns the CNAME-expanded host name.
func (a AddrResult) Expanded() string {
	if len(a.CNAMEs) > 0 {
		return a.CNAMEs[len(a.CNAMEs)-1]
	}
	return a.Host
}

// LookupAddrs returns host's IPv4 and IPv6 addresses with their DNSSEC
// state, A and AAAA asked in parallel. A temporary failure or a bogus
// answer of either family is an error, since a DANE decision needs both;
// when neither family has addresses the error is ErrNotFound (ErrNXDomain
// or ErrNoData), with Security saying whether the denial was
// authenticated.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) (AddrResult, error) {
	a, aaaa := r.both(ctx, host)
	res := AddrResult{Host: a.ans.Name, Security4: a.ans.Security, Security6: aaaa.ans.Security}
	res.Security = res.Security4.Weakest(res.Security6)
	res.CNAMEs = a.ans.CNAMEs
	if len(res.CNAMEs) == 0 {
		res.CNAMEs = aaaa.ans.CNAMEs
	}
	for _, e := range []*entry{a, aaaa} {
		if e.err != nil && StatusOf(e.err) != StatusNotFound {
			return res, e.err
		}
	}
	if a.err != nil && aaaa.err != nil {
		return res, aaaa.err
	}
	switch {
	case len(aaaa.addrs) == 0:
		res.Addrs = a.addrs
	case len(a.addrs) == 0:
		res.Addrs = aaaa.addrs
	default:
		res.Addrs = append(append(make([]netip.Addr, 0, len(a.addrs)+len(aaaa.addrs)), a.addrs...), aaaa.addrs...)
	}
	return res, nil
}

// LookupPTR returns the PTR names of addr, without trailing dots.
func (r *Resolver) LookupPTR(ctx context.Context, addr netip.Addr) ([]string, error) {
	name, err := dns.ReverseAddr(addr.Unmap().String())
	if err != nil {
		return nil, err
	}
	e := r.lookup(ctx, name, dns.TypePTR)
	return e.names, e.err
}

// LookupTXT returns the TXT records of name, each record's strings
// concatenated (RFC 7208 §3.3, RFC 8461 §3.1).
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	e := r.lookup(ctx, name, dns.TypeTXT)
	return e.names, e.err
}

// LookupNS returns the NS host names of domain.
func (r *Resolver) LookupNS(ctx context.Context, domain string) ([]string, error) {
	e := r.lookup(ctx, domain, dns.TypeNS)
	return e.names, e.err
}

// TLSA is one TLSA record (RFC 6698 §2.1). Data is nil when the record's
// association data is not valid hex (the record is then unusable).
type TLSA struct {
	Usage, Selector, MatchingType uint8
	Data                          []byte
}

func tlsaOf(t *dns.TLSA) TLSA {
	data, err := hex.DecodeString(t.Certificate)
	if err != nil {
		data = nil
	}
	return TLSA{Usage: t.Usage, Selector: t.Selector, MatchingType: t.MatchingType, Data: data}
}

// TLSAResult is the TLSA RRset at _PORT._PROTO.HOST.
type TLSAResult struct {
	Name     string   // _25._tcp.host, without trailing dot
	CNAMEs   []string // the CNAME expansion of Name
	Security Security
	Records  []TLSA
}

// LookupTLSA returns the TLSA records at _port._proto.host (RFC 7672
// §2.2). No records is ErrNotFound; the result's Security tells an
// authenticated denial from an insecure one.
func (r *Resolver) LookupTLSA(ctx context.Context, port int, proto, host string) (TLSAResult, error) {
	name := "_" + strconv.Itoa(port) + "._" + proto + "." + normalize(host)
	e := r.lookup(ctx, name, dns.TypeTLSA)
	return TLSAResult{Name: e.ans.Name, CNAMEs: e.ans.CNAMEs, Security: e.ans.Security, Records: e.tlsa}, e.err
}
