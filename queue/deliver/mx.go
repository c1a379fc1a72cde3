package deliver

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/mxkit/mxkit/dnsres"
	"github.com/mxkit/mxkit/queue"
)

// MXDNS is what MX resolution asks the DNS: dnsres's MX and address
// lookups, with their DNSSEC state. *dnsres.Resolver implements it.
type MXDNS interface {
	LookupMX(ctx context.Context, domain string) (dnsres.MXResult, error)
	LookupAddrs(ctx context.Context, host string) (dnsres.AddrResult, error)
}

var _ MXDNS = (*dnsres.Resolver)(nil)

// MXResolver turns an smtp route into the addresses to try, as Postfix's
// smtp(8) does (smtp_connect.c, smtp_addr.c): an MX lookup for a next hop
// without brackets, the addresses of every MX host in preference order,
// equal preferences shuffled, self-truncation when we are one of the MX
// hosts, at most AddressLimit addresses, then the fallback relays. Its
// Resolve method is SMTP.Resolve.
//
// Failures come back as a *Failure with Postfix's status and text:
//
//	4.4.3 Host or domain name not found. Name service error for name=D type=MX: Host not found, try again
//	5.4.4 Host or domain name not found. Name service error for name=D type=AAAA: Host not found
//	5.1.0 Domain D does not accept mail (nullMX)
//	5.4.6 mail for D loops back to myself
//	4.4.4 unable to find primary relay for D
//
// The zero value is not usable: DNS must be set.
type MXResolver struct {
	// DNS answers the lookups.
	DNS MXDNS
	// Self reports whether an address is one of ours (inet_interfaces
	// and proxy_interfaces); nil means none is. MX hosts at or after our
	// own preference are dropped when the next hop's port is SelfPort.
	Self func(netip.Addr) bool
	// SelfPort is the port at which Self's addresses are ourselves; ""
	// means 25, Postfix's fixed choice. An MX that listens elsewhere
	// (behind a port forward, or in tests) sets its own.
	SelfPort string
	// AddressLimit bounds the addresses tried per next hop
	// (smtp_mx_address_limit); 0 means 5, negative means no limit.
	AddressLimit int
	// IPv4 and IPv6 select the address families (inet_protocols); both
	// false means both.
	IPv4, IPv6 bool
	// NoRandomize keeps equal-preference addresses in DNS order
	// (smtp_randomize_addresses = no).
	NoRandomize bool
	// FallbackRelays are tried after the next hop's own addresses
	// (smtp_fallback_relay), unless we are an MX host for it.
	FallbackRelays []string
	// Rand shuffles equal preferences; nil means math/rand/v2's.
	Rand *rand.Rand

	mu sync.Mutex // guards Rand
}

// Resolve implements the SMTP.Resolve hook.
func (m *MXResolver) Resolve(ctx context.Context, r queue.Route) ([]Host, error) {
	hosts, iAmMX, err := m.resolveList(ctx, r.Nexthop)
	if iAmMX || len(m.FallbackRelays) == 0 {
		return hosts, err
	}
	// Postfix uses the fallback relays when the destination is not found
	// (5.4.4) or fails temporarily, never when we are an MX for it. Unlike
	// Postfix, a null MX is final: the domain says it takes no mail.
	var f *Failure
	if err != nil && (!errors.As(err, &f) || f.Result.Status == queue.Bounced && f.Result.DSN != "5.4.4") {
		return nil, err
	}
	for _, relay := range m.FallbackRelays {
		if fh, _, ferr := m.resolveList(ctx, relay); ferr == nil {
			hosts = append(hosts, fh...)
		}
	}
	if len(hosts) == 0 {
		return nil, err
	}
	return hosts, nil
}

// resolveList resolves a comma-separated next hop list: the addresses of
// every destination in turn; an error only when none has any.
func (m *MXResolver) resolveList(ctx context.Context, nexthop string) (hosts []Host, iAmMX bool, err error) {
	for part := range strings.SplitSeq(nexthop, ",") {
		part = strings.TrimSpace(part)
		h, mx, perr := m.resolveOne(ctx, part)
		iAmMX = iAmMX || mx
		if perr != nil {
			err = perr
			continue
		}
		hosts = append(hosts, h...)
	}
	if len(hosts) > 0 {
		err = nil
	}
	return hosts, iAmMX, err
}

// dest is a parsed next hop.
type dest struct {
	host      string // domain, host name or address
	port      string
	bracketed bool
}

func parseMXDest(s string) (dest, error) {
	h, err := parseDest(s, false)
	switch {
	case errors.Is(err, errMX):
		host, port := s, "25"
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
		}
		return dest{host: strings.ToLower(strings.TrimSuffix(host, ".")), port: port}, nil
	case err != nil:
		return dest{}, err
	}
	_, port, _ := net.SplitHostPort(h.Addr)
	return dest{host: strings.ToLower(strings.TrimSuffix(h.Name, ".")), port: port, bracketed: true}, nil
}

// mxAddr is one address of an MX host, for sorting.
type mxAddr struct {
	pref    uint16
	name    string
	addr    netip.Addr
	addrSec dnsres.Security
}

func (m *MXResolver) resolveOne(ctx context.Context, nexthop string) (hosts []Host, iAmMX bool, err error) {
	d, err := parseMXDest(nexthop)
	if err != nil {
		return nil, false, &Failure{Result: queue.Deferf("4.3.5", "bad nexthop %q: %v", nexthop, err)}
	}
	selfPort := m.SelfPort
	if selfPort == "" {
		selfPort = "25"
	}
	port25 := d.port == selfPort || (selfPort == "25" && d.port == "smtp")
	mxSec := dnsres.Secure // [nexthop] counts as a statically secure MX
	var list []mxAddr
	bestPref := -1
	if d.bracketed {
		list, err = m.addrs(ctx, d.host, 0, nil)
		if err != nil {
			return nil, false, err
		}
		if port25 && m.anySelf(list) {
			return nil, false, loopsBack(d.host)
		}
	} else {
		mx, lerr := m.DNS.LookupMX(ctx, d.host)
		mxSec = mx.Security
		switch dnsres.StatusOf(lerr) {
		case dnsres.StatusOK:
		case dnsres.StatusNotFound:
			// RFC 5321 §5.1: no MX, the domain is its own (implicit) MX.
			list, err = m.addrs(ctx, d.host, 0, nil)
			if err != nil {
				return nil, false, err
			}
			if port25 && m.anySelf(list) {
				return nil, false, loopsBack(d.host)
			}
		case dnsres.StatusNullMX:
			return nil, false, &Failure{Result: queue.Result{Status: queue.Bounced, DSN: "5.1.0",
				Text: "Domain " + d.host + " does not accept mail (nullMX)"}}
		case dnsres.StatusInvalid:
			return nil, false, &Failure{Result: queue.Result{Status: queue.Bounced, DSN: "5.4.4",
				Text: nameError(d.host, "MX", "Malformed or unexpected name server reply")}}
		default:
			return nil, false, &Failure{Result: queue.Deferf("4.4.3", "%s", nameError(d.host, "MX", "Host not found, try again"))}
		}
		if lerr == nil {
			// Every MX host's addresses, in preference order, before any
			// connection; a soft error dominates past and future hard
			// errors when nothing is left.
			var soft, hard error
			for _, h := range mx.Hosts {
				if bestPref < 0 {
					bestPref = int(h.Pref)
				}
				list, err = m.addrs(ctx, h.Host, h.Pref, list)
				if err != nil {
					var f *Failure
					if errors.As(err, &f) && f.Result.Status == queue.Deferred {
						soft = err
					} else {
						hard = err
					}
				}
			}
			if len(list) == 0 {
				if soft != nil {
					return nil, false, soft
				}
				return nil, false, hard
			}
			if port25 && m.Self != nil {
				// smtp_truncate_self: when one of the addresses is ours,
				// drop every MX at or after our preference.
				slices.SortStableFunc(list, func(a, b mxAddr) int { return cmp.Compare(a.pref, b.pref) })
				bestFound := int(list[0].pref)
				list, iAmMX = m.truncate(list)
				if iAmMX && len(list) == 0 {
					if bestPref != bestFound {
						// Better MX hosts exist but have no address.
						return nil, true, &Failure{Result: queue.Deferf("4.4.4", "unable to find primary relay for %s", d.host)}
					}
					return nil, true, loopsBack(d.host)
				}
			}
		}
	}
	m.order(list)
	if limit := m.addressLimit(); limit > 0 && len(list) > limit {
		list = list[:limit]
	}
	for _, a := range list {
		hosts = append(hosts, Host{
			Name:         a.name,
			Network:      "tcp",
			Addr:         net.JoinHostPort(a.addr.String(), d.port),
			IP:           a.addr,
			Nexthop:      nexthop,
			MXPref:       a.pref,
			MXSecurity:   mxSec,
			AddrSecurity: a.addrSec,
			Bracketed:    d.bracketed,
		})
	}
	return hosts, iAmMX, nil
}

func loopsBack(domain string) error {
	return &Failure{Result: queue.Result{Status: queue.Bounced, DSN: "5.4.6", Text: "mail for " + domain + " loops back to myself"}}
}

func nameError(name, qtype, what string) string {
	return "Host or domain name not found. Name service error for name=" + name + " type=" + qtype + ": " + what
}

// addrs appends host's addresses at pref to list. The error is a *Failure.
func (m *MXResolver) addrs(ctx context.Context, host string, pref uint16, list []mxAddr) ([]mxAddr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return append(list, mxAddr{pref: pref, name: host, addr: a.Unmap(), addrSec: dnsres.Secure}), nil
	}
	res, err := m.DNS.LookupAddrs(ctx, host)
	last := "A"
	if m.IPv6 || !m.IPv4 {
		last = "AAAA"
	}
	switch dnsres.StatusOf(err) {
	case dnsres.StatusOK:
	case dnsres.StatusNotFound:
		return list, &Failure{Result: queue.Result{Status: queue.Bounced, DSN: "5.4.4", Text: nameError(host, last, "Host not found")}}
	default:
		// LookupAddrs fails as a whole when one family fails; the
		// error names the type.
		typ := "A"
		var de *dnsres.Error
		if errors.As(err, &de) {
			typ = de.Type
		}
		return list, &Failure{Result: queue.Deferf("4.4.3", "%s", nameError(host, typ, "Host not found, try again"))}
	}
	n := len(list)
	for _, a := range res.Addrs {
		if (a.Is4() && m.IPv6 && !m.IPv4) || (a.Is6() && m.IPv4 && !m.IPv6) {
			continue
		}
		sec := res.Security4
		if a.Is6() {
			sec = res.Security6
		}
		list = append(list, mxAddr{pref: pref, name: host, addr: a, addrSec: sec})
	}
	if len(list) == n {
		return list, &Failure{Result: queue.Result{Status: queue.Bounced, DSN: "5.4.4", Text: nameError(host, last, "Host found but no data record of requested type")}}
	}
	return list, nil
}

func (m *MXResolver) anySelf(list []mxAddr) bool {
	if m.Self == nil {
		return false
	}
	for _, a := range list {
		if m.Self(a.addr) {
			return true
		}
	}
	return false
}

// truncate drops every address whose preference is at or after that of
// the first address that is ours (list is sorted by preference). iAmMX
// says whether one was ours; then no fallback relay is used either.
func (m *MXResolver) truncate(list []mxAddr) (out []mxAddr, iAmMX bool) {
	for i, a := range list {
		if m.Self(a.addr) {
			for i > 0 && list[i-1].pref == a.pref {
				i--
			}
			return list[:i], true
		}
	}
	return list, false
}

// order shuffles the list and sorts it by preference
// (smtp_randomize_addresses), so that equal preferences are random across
// and within hosts.
func (m *MXResolver) order(list []mxAddr) {
	if !m.NoRandomize {
		m.mu.Lock()
		shuffle := rand.Shuffle
		if m.Rand != nil {
			shuffle = m.Rand.Shuffle
		}
		shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
		m.mu.Unlock()
	}
	slices.SortStableFunc(list, func(a, b mxAddr) int { return cmp.Compare(a.pref, b.pref) })
}

func (m *MXResolver) addressLimit() int {
	if m.AddressLimit == 0 {
		return 5
	}
	return m.AddressLimit
}
